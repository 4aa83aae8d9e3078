"""Fixtures for model tests: the SmolLM2 tokenizer (converting the embedded GGUF once per
machine, ~20 s, cached under ``$MATHFT_CACHE`` or ~/.cache/mathft/models) and tiny examples."""

from __future__ import annotations

import pytest

from mathft.records import SolutionExample


@pytest.fixture(scope="session")
def smollm2_dir() -> str:
    """Path of the converted embedded SmolLM2 (triggers the one-time conversion)."""
    from mathft.models.loading import resolve_model_path

    return resolve_model_path("embedded:smollm2-135m")


@pytest.fixture(scope="session")
def tokenizer(smollm2_dir):
    from mathft.models.loading import load_tokenizer

    return load_tokenizer("embedded:smollm2-135m")


def make_examples(n: int = 4, reps: int = 1) -> list[SolutionExample]:
    """Small arithmetic SSFT examples of varied lengths (MATH style)."""
    out = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        sol = (f"We add {a} and {b}. " * (1 + i % 3) * reps) + f"So the answer is $\\boxed{{{a + b}}}$."
        out.append(SolutionExample(f"ex/{i}", f"What is ${a} + {b}$?", sol, str(a + b), "math", "math"))
    return out


@pytest.fixture(name="make_examples")
def make_examples_fixture():
    """The :func:`make_examples` factory (tests/ is not a package, so it is served as a fixture)."""
    return make_examples


@pytest.fixture
def examples() -> list[SolutionExample]:
    return make_examples(4)

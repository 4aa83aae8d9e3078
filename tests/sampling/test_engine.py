"""Decoding params and the batched HF engine on a tiny random Llama (docs/method.md#decoding)."""

from __future__ import annotations

import pytest

from mathft.sampling import vllm_engine
from mathft.sampling.engine import Request, SamplingParams, kept_tokens, sample_seed
from mathft.sampling.factory import make_engine, resolve_engine
from mathft.sampling.vllm_engine import to_vllm_params, vllm_available

PROMPTS = [
    "Problem:\nWhat is $1+1$?\n\nSolution:",
    "Problem:\nCompute the sum of all integers from one to one hundred, inclusive.\n\nSolution:",
    "Problem:\nx?\n\nSolution:",
]


def test_params_validation_and_mapping() -> None:
    with pytest.raises(ValueError, match="greedy"):
        SamplingParams(greedy=True, n=4)
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0.0)
    p = SamplingParams.from_mapping({"engine": "hf", "n": 4, "stop": ["\n\nProblem:"]})
    assert p.n == 4 and p.stop == ("\n\nProblem:",)
    assert "batch_size" not in p.identity() and p.to_dict()["stop"] == ["\n\nProblem:"]
    with pytest.raises(ValueError, match="unknown sampling config keys"):
        SamplingParams.from_mapping({"temprature": 0.5})
    with pytest.raises(ValueError, match="unknown sampling engine"):
        make_engine("nope", None)


def test_sample_seed_is_stable_and_distinct() -> None:
    assert sample_seed(0, "p", 1) == sample_seed(0, "p", 1)
    seeds = {sample_seed(s, p, i) for s in (0, 1) for p in ("p", "q") for i in range(8)}
    assert len(seeds) == 32 and all(0 <= s < 2**63 for s in seeds)


def test_greedy_deterministic_and_batch_invariant(engine) -> None:
    one = engine.generate(PROMPTS, SamplingParams(greedy=True, max_new_tokens=10, batch_size=1))
    batched = engine.generate(PROMPTS, SamplingParams(greedy=True, max_new_tokens=10, batch_size=3))
    assert [g[0].text for g in one] == [g[0].text for g in batched]  # left padding is right
    assert all(len(g) == 1 and g[0].n_tokens == 10 for g in one)
    assert all(g[0].finish_reason == "length" for g in one)
    assert len({g[0].text for g in one}) == 3
    assert not any(g[0].text.startswith("Problem:") for g in one)  # prompt stripped


def test_sampling_seeded_n_per_prompt(engine) -> None:
    p = SamplingParams(n=2, max_new_tokens=5, batch_size=4, seed=7)
    a = engine.generate(PROMPTS, p)
    assert [len(x) for x in a] == [2, 2, 2]
    b = engine.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=5, batch_size=6, seed=7))
    assert [[g.text for g in x] for x in a] == [[g.text for g in x] for x in b]
    texts = [g.text for x in a for g in x]
    assert len(set(texts)) == len(texts)  # different samples differ
    c = engine.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=5, batch_size=4, seed=8))
    assert [g.text for x in c for g in x] != texts
    # a request's sample depends on its own seed only, not on its batch mates
    r = Request(PROMPTS[1], sample_seed(7, "1", 1))
    alone = engine.generate_requests([r], p)[0]
    assert alone.text == a[1][1].text


def test_top_p_tiny_keeps_the_argmax(engine) -> None:
    """top_p -> 0 leaves only the most likely token: sampling equals greedy."""
    g = engine.generate(PROMPTS, SamplingParams(greedy=True, max_new_tokens=6))
    s = engine.generate(PROMPTS, SamplingParams(top_p=1e-6, max_new_tokens=6, batch_size=3))
    assert [x[0].text for x in g] == [x[0].text for x in s]


def test_stop_string_ends_one_row_while_others_continue(engine) -> None:
    free = engine.generate(
        PROMPTS[:2], SamplingParams(greedy=True, max_new_tokens=12, batch_size=2)
    )
    text0, text1 = free[0][0].text, free[1][0].text
    stop = text0[len(text0) // 2 : len(text0) // 2 + 4]
    assert stop and stop not in text1 and text0.find(stop) > 0
    p = SamplingParams(greedy=True, max_new_tokens=12, batch_size=2, stop=(stop,))
    out = engine.generate(PROMPTS[:2], p)
    assert out[0][0].text == text0[: text0.find(stop)]
    assert out[0][0].finish_reason == "stop" and out[0][0].n_tokens < 12
    assert out[1][0].text == text1 and out[1][0].finish_reason == "length"


def test_vllm_params_translation() -> None:
    g = to_vllm_params(SamplingParams(greedy=True, max_new_tokens=32), seed=5)
    assert g == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 32,
        "seed": 5,
        "stop": [],
        "skip_special_tokens": True,
    }
    s = to_vllm_params(SamplingParams(n=64, temperature=0.9, top_p=0.95, stop=("x",)), seed=9)
    assert (s["n"], s["temperature"], s["top_p"], s["stop"], s["seed"]) == (1, 0.9, 0.95, ["x"], 9)


def test_vllm_engine_missing_or_runs(tiny_dir) -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        from mathft.sampling.vllm_engine import VLLMEngine

        with pytest.raises(ImportError, match="mathft\\[vllm\\]"):
            VLLMEngine(str(tiny_dir))
        return
    if vllm_engine.vllm_build() == "cpu":  # minutes per engine start; no kernel for head_dim 16
        pytest.skip("vLLM's CPU build: tests/sampling/test_vllm_cpu.py (-m slow) runs it on "
                    "SmolLM2 (its CPU attention has no kernel for the tiny model's head_dim 16)")
    if not vllm_available():
        pytest.skip("vLLM's GPU build installed but no CUDA device")
    eng = make_engine("vllm", str(tiny_dir))
    out = eng.generate(PROMPTS, SamplingParams(greedy=True, max_new_tokens=8))
    assert [len(x) for x in out] == [1, 1, 1] and all(x[0].n_tokens <= 8 for x in out)


def test_vllm_kept_tokens_counts_to_the_closing_token() -> None:
    """vLLM decodes past the answer; n_tokens counts what the HF engine would have decoded."""
    pieces = ["The", " answer", " is", " $\\", "boxed", "{", "7", "}$", ".", " More", " text"]

    def decode(ids):
        return "".join(pieces[i] for i in ids)

    ids = list(range(len(pieces)))
    p = SamplingParams(greedy=True)
    assert kept_tokens(ids, decode, p) == 8  # through "}$": the token that closed the box
    assert kept_tokens(ids[:7], decode, p) == 7  # never closed: every token
    assert kept_tokens([], decode, p) == 0
    stop = SamplingParams(greedy=True, stop_on_answer=False, stop=(" is",))
    assert kept_tokens(ids, decode, stop) == 3
    assert kept_tokens(ids, decode, SamplingParams(greedy=True, stop_on_answer=False)) == 11


def test_vllm_builds_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit ``vllm`` runs on either build; ``auto`` takes vLLM only on a GPU (on the CPU
    the prefix engine is faster, docs/sampling.md#vllm)."""
    import torch

    from mathft.sampling import openvino_engine

    monkeypatch.setattr(openvino_engine, "openvino_available", lambda: False)  # not vLLM's test
    monkeypatch.setattr(vllm_engine, "vllm_build", lambda: "cpu")
    assert vllm_available() and not vllm_engine.vllm_on_gpu()
    assert resolve_engine("auto", model="/some/dir")["engine"] == "prefix"
    assert resolve_engine("vllm", model="/some/dir") == {"engine": "vllm", "dtype": "float32"}
    monkeypatch.setattr(vllm_engine, "vllm_build", lambda: "gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_engine("auto", model="/some/dir")["engine"] == "vllm"
    assert resolve_engine("auto", model=object())["engine"] == "prefix"  # a model in memory
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not vllm_available() and resolve_engine("auto")["engine"] == "prefix"
    monkeypatch.setattr(vllm_engine, "vllm_build", lambda: None)
    assert not vllm_available()


@pytest.mark.parametrize("name", ["n4", "n16", "n64", "vllm"])
def test_sampling_configs_compose(name: str) -> None:
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    conf = Path(__file__).resolve().parents[2] / "conf" / "sampling"
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose(config_name=name)
    p = SamplingParams.from_mapping(cfg)
    assert cfg.engine in ("hf", "vllm", "auto")
    assert p.greedy == (name == "greedy")
    if not p.greedy:
        assert (p.temperature, p.top_p) == (0.9, 0.95)  # docs/method.md#decoding
        assert p.n == {"n4": 4, "n16": 16, "n64": 64, "vllm": 64}[name]

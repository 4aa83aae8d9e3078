"""SSFT mixtures, weights, eval problem lists and the data config group (docs/data.md#mixtures)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mathft.data.errors import DataError
from mathft.data.mixtures import (
    MIXTURES,
    apply_weights,
    build_ssft_examples,
    load_eval_problems,
    ssft_examples_from_config,
)
from mathft.data.splits import math500_keys, math_split, normalize_problem_text
from mathft.records import SolutionExample

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


def _keys(examples) -> set[str]:
    return {normalize_problem_text(e.problem) for e in examples}


def test_math_mixture_follows_the_split() -> None:
    sp = math_split(seed=0)
    tr, va = build_ssft_examples("math", "train"), build_ssft_examples("math", "val")
    # 2 MATH train problems box nothing (empty \boxed{}) and cannot be SSFT targets
    assert len(tr) == 10998 and len(va) == 1000
    assert {e.uid for e in tr} <= sp.uids("train") and {e.uid for e in va} == sp.uids("val")
    assert all(e.style == "math" and "\\boxed" in e.solution for e in tr[:200])


def test_prm800k_and_union() -> None:
    sp = math_split(seed=0)
    ptr, pva = build_ssft_examples("prm800k", "train"), build_ssft_examples("prm800k", "val")
    from mathft.data.prm800k import prm800k_examples

    kept, _ = prm800k_examples("stepwise")
    assert {e.uid for e in ptr} | {e.uid for e in pva} == {e.uid for e in kept}  # none lost
    assert 0 < len(pva) < len(ptr) / 5  # ~1,000/12,000 of the problems are validation
    assert {e.uid for e in pva} <= sp.uids("val") and {e.uid for e in ptr} <= sp.uids("train")
    assert all(e.style == "prm800k" and "# Answer" in e.solution for e in ptr)
    union = build_ssft_examples("math_prm800k", "train")
    assert Counter(e.source for e in union) == {"math": 10998, "prm800k": len(ptr)}
    assert len(build_ssft_examples("math_prm800k", "val")) == 1000 + len(pva)


def test_weights_are_multipliers_and_deterministic() -> None:
    ex = {"a": [SolutionExample(f"a{i}", "p", "s", "1", "math", "math") for i in range(10)],
          "b": [SolutionExample(f"b{i}", "q", "s", "1", "prm800k", "prm800k") for i in range(4)]}
    out = apply_weights(ex, {"a": 0.5, "b": 2.5}, seed=3)
    assert Counter(e.source for e in out) == {"math": 5, "prm800k": 10}
    assert out == apply_weights(ex, {"a": 0.5, "b": 2.5}, seed=3)
    assert out != apply_weights(ex, {"a": 0.5, "b": 2.5}, seed=4)
    assert apply_weights(ex, {"a": 0.0}, seed=0) == ex["b"]
    with pytest.raises(DataError, match="weights.a"):
        apply_weights(ex, {"a": -1.0}, seed=0)
    n_prm = len(build_ssft_examples("prm800k", "train"))
    w = build_ssft_examples("math_prm800k", "train", weights={"math": 1.0, "prm800k": 0.5})
    assert Counter(e.source for e in w) == {"math": 10998, "prm800k": round(0.5 * n_prm)}
    # validation is never reweighted
    assert build_ssft_examples("math_prm800k", "val", weights={"prm800k": 0.5}) == \
        build_ssft_examples("math_prm800k", "val")
    with pytest.raises(DataError, match="weights"):
        build_ssft_examples("math", "train", weights={"prm800k": 1.0})


def test_gsm8k_mixture_and_errors() -> None:
    tr = build_ssft_examples("gsm8k", "train")
    assert len(tr) == 6973 and all("<<" not in e.solution and "####" in e.solution for e in tr)
    with pytest.raises(DataError, match="mixture"):
        build_ssft_examples("nope")
    with pytest.raises(DataError, match="split"):
        build_ssft_examples("math", "test")


def test_limit_is_seeded() -> None:
    a = build_ssft_examples("math_prm800k", "train", limit=64, seed=0)
    assert len(a) == 64 and a == build_ssft_examples("math_prm800k", "train", limit=64, seed=0)


def test_no_train_or_val_set_from_any_source_touches_math500() -> None:
    """The docs/data.md#math500-guard proof: zero normalized-text overlap with MATH500, every source and mixture."""
    keys = math500_keys()
    for mixture in MIXTURES:
        for split in ("train", "val"):
            assert not _keys(build_ssft_examples(mixture, split)) & keys, (mixture, split)
    weighted = build_ssft_examples("math_prm800k", "train", weights={"prm800k": 2.0})
    assert not _keys(weighted) & keys
    for split in ("train", "val"):
        assert not _keys(load_eval_problems("math", split)) & keys
    # the guard is not vacuous: PRM800K phase-1 test problems are all MATH500 problems
    from mathft.data.sources import read_prm800k_stepwise

    assert len({normalize_problem_text(r.instruction)
                for r in read_prm800k_stepwise("test")} & keys) == 101


def test_eval_problems() -> None:
    full = load_eval_problems("math500", "test")
    assert len(full) == 500
    easy = load_eval_problems("math500", "test", limit=50, levels=[1, 2])
    assert len(easy) == 50 and {p.level for p in easy} <= {1, 2}
    assert [p.uid for p in easy] == [p.uid for p in full if p.level in (1, 2)][:50]
    assert len(load_eval_problems("math500", "test", levels=[1])) == 43
    assert len(load_eval_problems("math", "val")) == 1000
    assert len(load_eval_problems("gsm8k", "test", limit=7)) == 7
    with pytest.raises(DataError, match="levels"):
        load_eval_problems("gsm8k", "test", levels=[1])
    with pytest.raises(DataError, match="name"):
        load_eval_problems("aime")


def test_config_group_composes_and_drives_the_builders() -> None:
    """Each data option, composed as a run composes it, drives the SSFT builders; the options
    extend conf/data/math.yaml, so they all have its keys and differ in what they state."""
    from hydra import compose, initialize_config_dir

    from mathft.data.templates import SSFT_PROMPT
    from mathft.runs.lifecycle import CONF_DIR

    files = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert files == ["gsm8k", "math", "math_prm800k", "math_prm800k_weighted", "prm800k"]
    keysets = []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for name in files:
            cfg = compose("pipeline", overrides=[f"data={name}", "data.limit_train=8",
                                                 "data.limit_val=4"]).data
            keysets.append(set(cfg))
            assert cfg.mixture == name.removesuffix("_weighted")
            assert cfg.template == SSFT_PROMPT
            assert len(ssft_examples_from_config(cfg, "train")) == 8
            assert len(ssft_examples_from_config(cfg, "val")) == 4
        weighted = compose("pipeline", overrides=["data=math_prm800k_weighted"]).data
    assert all(k == keysets[0] for k in keysets)
    assert dict(weighted.weights) == {"math": 1.0, "prm800k": 0.5}

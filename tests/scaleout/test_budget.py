"""The token budget of a cell from its composed config (paper scale with a hub model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mathft.runs.budget import Assumptions, estimate_budget, format_budget, gpu_hours, totals

CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("pipeline", overrides=list(overrides))


def test_paper_scale_with_a_hub_model_composes_and_counts() -> None:
    cfg = _cfg("scale=paper", "model=qwen2_5_1_5b", "trainer=ddp", "sampling=vllm")
    assert cfg.model.name_or_path == "Qwen/Qwen2.5-1.5B" and cfg.sampling.engine == "vllm"
    with pytest.raises(ValueError, match="devices"):
        estimate_budget(cfg)  # trainer.devices=-1: the machine decides
    a = Assumptions(prompt_tokens=100, solution_tokens=300)
    rows = {r.step: r for r in estimate_budget(cfg, a, devices=8)}
    assert list(rows) == ["generator", "sample:test_greedy", "sample:test", "sample:val",
                          "sample:evaluator_train", "evaluator", "score:test", "score:val"]
    assert rows["generator"].train_tokens == 4000 * 32 * 8 * 400
    assert rows["sample:evaluator_train"].samples == 11_000 * 64
    assert rows["sample:evaluator_train"].generate_tokens == 11_000 * 64 * 300
    assert rows["sample:test"].samples == 500 * 64 and rows["sample:test_greedy"].samples == 500
    assert rows["sample:val"].problems == 1000
    assert rows["score:test"].score_tokens == 500 * 64 * 400
    t = totals(list(rows.values()))
    assert t["generate_tokens"] == (11_000 * 64 + 500 * 65 + 1000 * 64) * 300
    h = gpu_hours(list(rows.values()), params=1.5e9)
    assert h["total"] == pytest.approx(h["train"] + h["generate"] + h["score"])
    assert 0 < h["train"] < h["generate"]  # N=64 sampling dominates at this scale
    assert "sample:evaluator_train" in format_budget(list(rows.values()))


def test_cpu_scale_and_no_evaluator() -> None:
    rows = estimate_budget(_cfg("experiment=smoke", "evaluator.enabled=false",
                                "generator.train=false"))
    assert [r.step for r in rows] == ["sample:test"]  # the demo has no greedy pass
    assert rows[0].samples == 43 * 16  # smoke: the 43 level-1 test problems x N=16
    rows = estimate_budget(_cfg("experiment=smoke", "evaluator.enabled=false",
                                "generator.train=false", "eval.greedy=true"))
    assert [r.step for r in rows] == ["sample:test_greedy", "sample:test"]
    assert rows[0].samples == 43 and rows[1].samples == 43 * 16


def test_math500_level_sizes_match_the_shipped_data() -> None:
    """The budget's per-level MATH500 counts (exact level filters) are the shipped file's."""
    from collections import Counter

    from mathft.data.sources import read_math500
    from mathft.runs.budget import MATH500_LEVELS

    assert dict(Counter(p.level for p in read_math500())) == MATH500_LEVELS

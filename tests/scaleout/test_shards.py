"""Sharded sampling and scoring: N shard stores merged equal one unsharded run, row for row.

The steps run in-process on the tiny random Llama (generator.train=false: the model as is),
with the real composed config; a second step cache holds the unsharded reference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from mathft.runs import steps
from mathft.runs.cache import step
from mathft.sampling import shards
from mathft.sampling.store import CandidateStore, ScoreStore

CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(tmp: Path, cache: Path, *extra: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pipeline", overrides=[
            "model=tiny", "logger=csv", "generator.train=false", f"run.cache_dir={cache}",
            "sampling.n=2", "sampling.max_new_tokens=8", "sampling.batch_size=4",
            "eval.test.limit=5", "eval.test.levels=null", "evaluator.score_batch_size=4",
            *extra], return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(tmp / "job")
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_parse_and_select() -> None:
    assert shards.parse(None) is None and shards.parse("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError, match="I/N"):
            shards.parse(bad)
    items = list(range(11))
    parts = [shards.select(items, (i, 3)) for i in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3] and sum(parts, []) == items


def test_two_shards_merged_equal_one_unsharded_run(tmp_path: Path, store_rows: Callable) -> None:
    from mathft.models.loading import load_model_and_tokenizer

    ref_cache, sh_cache = tmp_path / "ref", tmp_path / "sharded"
    cfg = _cfg(tmp_path, ref_cache)
    problems = steps.problem_set(cfg, "test")
    assert len(problems) == 5
    ref = steps.sample(cfg, "tiny", "base:tiny", cfg.model, problems, cfg.sampling, "test")

    parts = []
    for i in (1, 0):  # any order
        c = _cfg(tmp_path, sh_cache, f"sampling.shard={i}/2")
        parts.append(steps.sample(c, "tiny", "base:tiny", c.model, problems, c.sampling, "test"))
    assert [len(store_rows(p.dir / "candidates.jsonl")) for p in parts] == [2 * 2, 3 * 2]
    with pytest.raises(ValueError, match="shard 1/2"):  # a shard is never scored / trained on
        steps.score(cfg, parts[0], cfg.model, parts[0], problems)
    c = _cfg(tmp_path, sh_cache)
    merged = steps.sample(c, "tiny", "base:tiny", c.model, problems, c.sampling, "test")
    assert merged.hash == ref.hash and merged.summary()["shards"] == 2
    a, b = store_rows(ref.dir / "candidates.jsonl"), store_rows(merged.dir / "candidates.jsonl")
    assert len(a) == 10 and a == b  # every field, config hash included
    assert CandidateStore(merged.dir / "candidates.jsonl").config_hash == ref.hash

    # scoring: an "evaluator" step holding a tiny model; shards of its scores merged
    model, tok = load_model_and_tokenizer("tiny")
    ev = step(sh_cache, "evaluator", {"fake": 1})
    model.save_pretrained(ev.dir / "model")
    tok.save_pretrained(ev.dir / "model")
    full = steps.score(cfg, ev, cfg.model, ref, problems)
    for i in (0, 1):
        c = _cfg(tmp_path, sh_cache, f"evaluator.score_shard={i}/2")
        steps.score(c, ev, c.model, merged, problems)
    c = _cfg(tmp_path, sh_cache)
    sm = steps.score(c, ev, c.model, merged, problems)
    assert sm.summary()["shards"] == 2
    sa, sb = ScoreStore(full.dir / "scores.jsonl").load(), ScoreStore(sm.dir / "scores.jsonl").load()
    assert sa.keys() == sb.keys() and len(sa) == 10
    diff = max(abs(sa[k] - sb[k]) for k in sa)
    assert diff <= 1e-5, diff  # batch composition differs: float padding effects only

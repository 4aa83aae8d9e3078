"""Weights pins: a store resumed, or merged from shards, only with the weights that wrote its
rows (mathft.sampling.pins). The steps run in-process on the tiny random Llama saved as a
"trained" generator directory; "trained again" is the same directory with other weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_shards import _cfg

from mathft.models.export import weights_digest
from mathft.models.loading import load_model_and_tokenizer
from mathft.runs import steps
from mathft.runs.cache import DONE
from mathft.sampling.pins import PIN, WeightsMismatch, read_pin


def _save(path: Path, bump: float = 0.0) -> str:
    """The tiny model saved at ``path`` (one weight shifted by ``bump``: "trained again")."""
    model, tok = load_model_and_tokenizer("tiny")
    model = model.float()
    with torch.no_grad():
        model.lm_head.weight[0, 0] += bump
    model.save_pretrained(path)
    tok.save_pretrained(path)
    steps._MODELS.clear()
    return str(path)


def _interrupt(st: steps.Step, keep: int) -> None:
    """What a killed run leaves: no DONE record, the first ``keep`` rows."""
    (st.dir / DONE).unlink()
    store = st.dir / "candidates.jsonl"
    store.write_text("".join(store.read_text().splitlines(keepends=True)[:keep]))


def test_resume_with_other_weights_refuses_and_with_the_same_equals_a_full_run(
        tmp_path: Path, store_rows: Callable) -> None:
    gen = _save(tmp_path / "gen")
    cfg = _cfg(tmp_path, tmp_path / "cache")
    problems = steps.problem_set(cfg, "test")
    full = steps.sample(cfg, gen, "g1", cfg.model, problems, cfg.sampling, "test")
    ref = store_rows(full.dir / "candidates.jsonl")
    assert read_pin(full.dir)["sha256"] == weights_digest(gen) and len(ref) == 10

    _interrupt(full, keep=3)
    _save(tmp_path / "gen", bump=0.5)  # the generator was trained again and came out different
    with pytest.raises(WeightsMismatch, match="trained again and came out different") as e:
        steps.sample(cfg, gen, "g1", cfg.model, problems, cfg.sampling, "test")
    assert str(full.dir) in str(e.value) and weights_digest(gen)[:12] in str(e.value)
    assert len(store_rows(full.dir / "candidates.jsonl")) == 3, "rows were added anyway"

    _save(tmp_path / "gen")  # the same weights again: the resume completes the store
    again = steps.sample(cfg, gen, "g1", cfg.model, problems, cfg.sampling, "test")
    assert again.dir == full.dir and store_rows(again.dir / "candidates.jsonl") == ref


def test_shards_from_different_weights_are_not_merged(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    problems = steps.problem_set(_cfg(tmp_path, cache), "test")
    for i, bump in ((0, 0.0), (1, 0.5)):  # shard 1 on a machine whose generator differs
        gen = _save(tmp_path / f"gen{i}", bump)
        c = _cfg(tmp_path, cache, f"sampling.shard={i}/2")
        st = steps.sample(c, gen, "g1", c.model, problems, c.sampling, "test")
        assert (st.dir / PIN).is_file()
    c = _cfg(tmp_path, cache)
    with pytest.raises(WeightsMismatch, match="shards were computed by different weights"):
        steps.sample(c, str(tmp_path / "gen0"), "g1", c.model, problems, c.sampling, "test")


def test_a_cell_refuses_stores_of_two_trainings_of_one_generator(tmp_path: Path) -> None:
    """The sampled test store from one training, the greedy store from another under the same
    key (e.g. stores imported, then the generator trained again): the cell stops."""
    from mathft.runs.cell import cell_steps
    from mathft.runs.lifecycle import Loggers

    cache = tmp_path / "cache"
    cfg = _cfg(tmp_path, cache, "evaluator.enabled=false", "eval.greedy=true")
    cell_steps(cfg, Loggers(None))  # the base model ("tiny") is named, not pinned: no check
    (test,) = (cache / "samples_test").iterdir()
    (greedy,) = (cache / "samples_test_greedy").iterdir()
    (test / PIN).write_text('{"model": "a", "sha256": "aaaa"}')
    (greedy / PIN).write_text('{"model": "b", "sha256": "bbbb"}')
    with pytest.raises(WeightsMismatch, match="the stores this cell reads from it"):
        cell_steps(cfg, Loggers(None))

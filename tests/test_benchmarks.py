"""The benchmark scripts' own input handling (their figures are measured, not tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mathft.data.sources import read_math500
from mathft.records import Candidate
from mathft.sampling.store import CandidateStore

ROOT = Path(__file__).resolve().parents[1]


def _bench_sampling():
    spec = importlib.util.spec_from_file_location("bench_sampling", ROOT / "benchmarks" / "sampling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _store(path: Path, pids: list[str], n: int) -> Path:
    store = CandidateStore(path, config_hash="h", model_id="m")
    store.append([Candidate(p, j, f"solution {p} {j}", None, False, "m", config_hash="h")
                  for p in pids for j in range(n)])
    return path


def test_store_items_takes_whole_problems_spread_over_the_store(tmp_path: Path) -> None:
    probs = read_math500()[:5]
    path = _store(tmp_path / "c.jsonl", [p.uid for p in probs], 4)
    items, k = _bench_sampling().store_items(path, 12)
    assert k == 3
    # the first, middle and last problem, each with all 4 of its candidates, in store order
    want = [probs[0], probs[2], probs[4]]
    assert [a for a, _ in items] == [p.problem for p in want for _ in range(4)]
    assert [b for _, b in items] == [f"solution {p.uid} {j}" for p in want for j in range(4)]


def test_store_items_refuses_a_store_of_non_math500_problems(tmp_path: Path) -> None:
    path = _store(tmp_path / "c.jsonl", ["math/train/7"], 2)
    with pytest.raises(SystemExit, match="math/train/7.*not a MATH500 problem"):
        _bench_sampling().store_items(path, 2)

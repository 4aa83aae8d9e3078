"""sample_to_store: n graded samples per problem, resumable after a kill (docs/method.md#decoding, docs/design.md#stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from mathft.records import Problem
from mathft.sampling.engine import Generation, Request, SamplingEngine, SamplingParams
from mathft.sampling.hashing import config_hash
from mathft.sampling.runner import sample_to_store
from mathft.sampling.store import CandidateStore, StoreError

P = SamplingParams(n=2, max_new_tokens=4, batch_size=3, seed=11)
H = config_hash({"model": "tiny", "sampling": P.identity()})
WORKER = Path(__file__).parent / "_kill_worker.py"


def open_store(path: Path, h: str = H) -> CandidateStore:
    return CandidateStore(path, config_hash=h, model_id="tiny", sampling=P.to_dict())


def texts(store: CandidateStore) -> dict[tuple[str, int], str]:
    return {c.key: c.text for c in store.load()}


class ScriptedEngine(SamplingEngine):
    """Answers by prompt: sample text is chosen by the request's seed parity (test double)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def generate_requests(self, requests: Sequence[Request], params: SamplingParams):
        self.calls.append(len(requests))
        out = []
        for r in requests:
            ans = r.prompt.split("$")[1] if "$" in r.prompt else "?"
            text = f"We get $\\boxed{{{ans}}}$." if r.seed % 2 else "I am not sure."
            out.append(Generation(text, 5, "stop"))
        return out


def test_grades_and_stores_every_sample(tmp_path: Path) -> None:
    probs = [
        Problem(f"p{i}", f"Compute ${v}$.", gold)
        for i, (v, gold) in enumerate([("\\frac{1}{2}", "0.5"), ("3", "4"), ("x+1", "1+x")])
    ]
    params = SamplingParams(n=4, batch_size=5)
    store = open_store(tmp_path / "c.jsonl")
    eng = ScriptedEngine()
    stats = sample_to_store(eng, probs, store, params, model_id="tiny", progress=False)
    assert eng.calls == [5, 5, 2]  # batches of batch_size rows, one append each
    assert (stats.requested, stats.generated, stats.skipped) == (12, 12, 0)
    by = store.by_problem()
    assert sorted(by) == ["p0", "p1", "p2"] and all(len(v) == 4 for v in by.values())
    for pid, cands in by.items():
        assert [c.sample_idx for c in cands] == [0, 1, 2, 3]
        for c in cands:
            boxed = c.answer is not None
            assert c.correct == (boxed and pid != "p1")  # 1/2 == 0.5, x+1 == 1+x, 3 != 4
            assert c.model_id == "tiny" and c.config_hash == H and c.n_tokens == 5
    assert stats.correct == sum(c.correct for v in by.values() for c in v)


def test_runner_tiny_model_resume_equals_uninterrupted(engine, problems, tmp_path: Path) -> None:
    full = open_store(tmp_path / "full.jsonl")
    s = sample_to_store(engine, problems, full, P, model_id="tiny", progress=False)
    assert s.generated == 6 and s.new_tokens > 0
    assert Counter(k[0] for k in full.existing_keys()) == {p.uid: 2 for p in problems}

    part = open_store(tmp_path / "part.jsonl")
    sample_to_store(engine, problems[:2], part, P, model_id="tiny", progress=False)  # "killed"
    again = open_store(tmp_path / "part.jsonl")
    s2 = sample_to_store(engine, problems, again, P, model_id="tiny", progress=False)
    assert (s2.skipped, s2.generated) == (4, 2)
    assert texts(again) == texts(full)  # per-sample seeds: same samples as without the kill
    s3 = sample_to_store(engine, problems, again, P, model_id="tiny", progress=False)
    assert s3.generated == 0 and len(again) == 6


def test_greedy_runner_is_deterministic(engine, problems, tmp_path: Path) -> None:
    g = SamplingParams(greedy=True, max_new_tokens=4, batch_size=3)
    h = config_hash({"greedy": g.identity()})
    a = CandidateStore(tmp_path / "a.jsonl", config_hash=h)
    b = CandidateStore(tmp_path / "b.jsonl", config_hash=h)
    sample_to_store(engine, problems, a, g, progress=False)
    sample_to_store(
        engine,
        problems,
        b,
        SamplingParams(greedy=True, max_new_tokens=4, batch_size=1),
        progress=False,
    )
    assert texts(a) == texts(b) and len(texts(a)) == 3


def test_crash_partial_line_then_resume(engine, problems, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    sample_to_store(engine, problems[:1], open_store(path), P, model_id="tiny", progress=False)
    with open(path, "ab") as f:
        f.write(b'{"problem_id": "test/p/1.json", "sample_idx": 0, "te')  # torn write
    store = open_store(path)
    sample_to_store(engine, problems, store, P, model_id="tiny", progress=False)
    keys = [c.key for c in CandidateStore(path).load()]
    assert sorted(keys) == sorted({(p.uid, j) for p in problems for j in range(2)})


def test_runner_refuses_other_config(tmp_path: Path, problems) -> None:
    store = open_store(tmp_path / "c.jsonl")
    with pytest.raises(ValueError, match="does not match"):
        sample_to_store(ScriptedEngine(), problems, store, P, config_hash="deadbeef")
    with pytest.raises(StoreError, match="refusing to mix"):
        open_store(tmp_path / "c.jsonl", h="deadbeef")


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_then_rerun_gives_every_row_once(tiny_dir: Path, tmp_path: Path) -> None:
    """kill -9 a sampling process mid-run; rerunning completes the store exactly once."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_kill_worker", WORKER)
    w = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(w)

    path = tmp_path / "k.jsonl"
    cmd = [sys.executable, str(WORKER), str(tiny_dir), str(path)]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while _count_lines(path) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "worker finished or died before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    n_before = _count_lines(path)
    assert 6 <= n_before < 80
    w.main(str(tiny_dir), str(path))
    keys = [c.key for c in CandidateStore(path).load()]
    assert Counter(keys).most_common(1)[0][1] == 1
    assert set(keys) == {(p.uid, j) for p in w.PROBLEMS for j in range(w.PARAMS.n)}

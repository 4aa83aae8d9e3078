"""sampling.workers: a step's problems over W processes give the one-process store, row for row.

The steps run on the tiny random Llama with the real composed config (helpers in
``_workers_helpers.py``, which the spawned workers and the kill test's subprocess import).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _workers_helpers as h
import pytest

from mathft.records import Candidate, Problem
from mathft.runs.validate import RULES
from mathft.sampling.engine import SamplingParams
from mathft.sampling.store import CandidateStore
from mathft.sampling.workers import (
    WorkerError,
    WorkerJob,
    absorb_parts,
    balanced_groups,
    parse_workers,
    parts_dir,
    physical_cores,
    resolve_workers,
    sample_in_workers,
)

HELPERS = Path(h.__file__)


def test_parse_and_resolve() -> None:
    assert parse_workers("auto") is None and parse_workers(None) is None
    assert parse_workers(3) == 3 and parse_workers("2") == 2
    for bad in (0, -1, "two", 1.5, True):
        with pytest.raises(ValueError, match="sampling.workers"):
            parse_workers(bad)
    assert "sampling.workers" in RULES["sampling.workers"]("many")  # what validate() reports
    assert RULES["sampling.workers"]("auto") is None
    cores = physical_cores()
    assert cores >= 1
    assert resolve_workers("auto", 10) == min(cores, 10)
    assert resolve_workers("auto", 1) == 1  # one problem: nothing to split
    assert resolve_workers("auto", 10, parallel=False) == 1  # e.g. the hf engine
    assert resolve_workers(4, 10, parallel=False) == 4  # an int forces it...
    assert resolve_workers(4, 3) == 3  # ...up to one problem per worker


def test_balanced_groups_cover_every_index_once_none_empty() -> None:
    assert balanced_groups([3499, 6215, 2256, 3455], 2) == [[1, 2], [0, 3]]
    assert balanced_groups([1] * 5, 2) == [[0, 2, 4], [1, 3]]
    import random

    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 12)
        k = rng.randint(1, n)
        w = [rng.random() for _ in range(n)]
        groups = balanced_groups(w, k)
        assert len(groups) == k and all(groups) and sorted(sum(groups, [])) == list(range(n))
        sums = [sum(w[i] for i in g) for g in groups]
        assert max(sums) - min(sums) <= max(w) + 1e-12  # no worse than one item apart


def test_two_workers_store_equals_one_process(tmp_path: Path, store_rows: Callable) -> None:
    """Sampled and greedy steps with 2 workers hold the one-process rows, every field."""
    from mathft.runs import steps
    from mathft.runs.cell import greedy_sampling

    out = {}
    for w in (1, 2):
        cfg = h.compose_cfg(tmp_path, tmp_path / f"w{w}", f"sampling.workers={w}")
        problems = steps.problem_set(cfg, "test")
        out[w] = [steps.sample(cfg, "tiny", "base:tiny", cfg.model, problems, cfg.sampling,
                               "test"),
                  steps.sample(cfg, "tiny", "base:tiny", cfg.model, problems,
                               greedy_sampling(cfg), "test_greedy")]
    for one, two in zip(out[1], out[2]):
        assert one.hash == two.hash  # sampling.workers is not part of the key
        assert two.summary()["workers"] == 2 and one.summary()["workers"] == 1
        a, b = store_rows(one.dir / "candidates.jsonl"), store_rows(two.dir / "candidates.jsonl")
        assert len(a) in (8, 4) and a == b
        assert not parts_dir(two.dir / "candidates.jsonl").exists()
    order = {p.uid: i for i, p in enumerate(problems)}
    merged = [(r["problem_id"], r["sample_idx"]) for r in map(
        json.loads, (out[2][0].dir / "candidates.jsonl").read_text().splitlines())]
    assert merged == sorted(merged, key=lambda k: (order[k[0]], k[1]))  # problem order


def test_worker_error_names_worker_and_traceback(tmp_path: Path) -> None:
    job = WorkerJob(load=h.failing_load, engine="prefix", precision="float32",
                    params=SamplingParams(n=1, max_new_tokens=2), prompt=h.failing_load,
                    model_id="m", config_hash="c")
    store = CandidateStore(tmp_path / "c.jsonl", config_hash="c", model_id="m", sampling={})
    probs = [Problem(f"p{i}", "1+1?", "2") for i in range(4)]
    with pytest.raises(WorkerError) as e:
        sample_in_workers(job, probs, store, 2, progress=False)
    msg = str(e.value)
    assert "sampling worker" in msg and "OSError: no weights in /nowhere" in msg
    assert "traceback" in msg and "failing_load" in msg  # the worker's own frames
    assert len(store) == 0


def test_finished_workers_exit_cleanly_no_leaked_semaphores() -> None:
    """Workers that are done are waited for, not terminated mid-teardown: a semaphore a
    worker registered (tqdm's lock) is released, so Python reports no leak at shutdown."""
    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, str(here / "_workers_helpers.py"), "slow-exit"],
                         capture_output=True, text=True, timeout=300, cwd=here,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(here), str(here.parents[1])])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[2, 4]"
    assert "leaked semaphore" not in out.stderr, out.stderr


def test_absorb_parts_in_problem_order(tmp_path: Path) -> None:
    """A killed run's parts (any W) go into the store once, in problem order."""
    path = tmp_path / "c.jsonl"
    store = CandidateStore(path, config_hash="c", model_id="m", sampling={})
    d = parts_dir(path)
    d.mkdir()

    def cand(p: str, j: int) -> Candidate:
        return Candidate(p, j, "t", None, False, "m", {}, "c", 1)

    store.append([cand("b", 0)])
    for i, rows in enumerate([[cand("c", 1), cand("b", 0), cand("b", 1)], [cand("a", 0)]]):
        part = CandidateStore(d / f"w{i}.jsonl", config_hash="c", model_id="m", sampling={})
        part.append(rows)
    assert absorb_parts(store, ["a", "b", "c"]) == 3
    assert [c.key for c in CandidateStore(path).load()] == [("b", 0), ("a", 0), ("b", 1),
                                                             ("c", 1)]
    assert not d.exists() and absorb_parts(store, ["a", "b", "c"]) == 0


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _descendants(pid: int) -> list[int]:
    kids = _children(pid)
    return kids + [d for k in kids for d in _descendants(k)]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_parent_then_rerun_completes_the_store(tmp_path: Path, store_rows: Callable) -> None:
    """kill -9 the step's process while 2 workers write their parts: the workers die with it,
    and the rerun resumes from their rows to the one-process store."""
    extra = ("eval.test.limit=10", "sampling.batch_size=1", "sampling.workers=2")
    ref = h.sample(tmp_path, tmp_path / "ref", *extra[:2], "sampling.workers=1")
    cache = tmp_path / "killed"
    cmd = [sys.executable, str(HELPERS), str(tmp_path), str(cache), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS.parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(cache.glob("samples_test/*/candidates.jsonl.parts/w*.jsonl"))
            if sum(p.read_bytes().count(b"\n") for p in parts) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        family = _descendants(proc.pid)  # 2 workers (and a fork server, graders...)
        assert len(family) >= 2, family
        os.kill(proc.pid, signal.SIGKILL)  # the step's process only, not its workers
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    deadline = time.monotonic() + 30
    while any(map(_running, family)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_running, family)), "worker processes outlived their killed parent"
    step_dir = next(cache.glob("samples_test/*"))
    assert not (step_dir / "DONE.json").exists()
    again = h.sample(tmp_path, cache, *extra)
    assert again.dir == step_dir and again.hash == ref.hash
    a, b = store_rows(ref.dir / "candidates.jsonl"), store_rows(again.dir / "candidates.jsonl")
    assert len(a) == 20 and a == b
    assert again.summary()["stats"]["skipped"] >= 3  # the killed run's rows were kept

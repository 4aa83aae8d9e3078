"""kill -9 in the middle of training and of sampling; the rerun resumes and completes.

Slow (three tiny pipeline runs from an empty cache): ``pytest -m slow tests/pipeline``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from pipeline_cli import TINY, env, tail

pytestmark = pytest.mark.slow

MAX_STEPS = 8


def _args(cache: Path, out: Path) -> list[str]:
    return [*TINY, "evaluator.enabled=false", f"generator.max_steps={MAX_STEPS}",
            "run.ckpt_every_n_steps=1", "eval.test.limit=6", "sampling.batch_size=2",
            f"run.cache_dir={cache}", f"hydra.run.dir={out}"]


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    log = open(cwd / "proc.log", "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "mathft.pipeline", *args], cwd=cwd,
                            env=env(cwd), stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _kill_when(proc: subprocess.Popen[str], ready, timeout: float = 900) -> None:
    """SIGKILL the process group as soon as ``ready()`` holds (fail if it exits first)."""
    t0 = time.monotonic()
    while not ready():
        assert proc.poll() is None, f"run ended (rc={proc.returncode}) before the kill point"
        assert time.monotonic() - t0 < timeout, "kill point never reached"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _one(pattern: str, root: Path) -> Path | None:
    found = sorted(root.glob(pattern))
    return found[0] if found else None


def _lines(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_kill9_resumes_training_and_sampling(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # 1. killed during generator training, once last.ckpt exists (and one more step is done)
    p1 = _start(_args(cache, tmp_path / "run1"), tmp_path)

    def ckpt_ready() -> bool:
        last = _one("generator/*/ckpt/last.ckpt", cache)
        if last is None:
            return False
        time.sleep(1.0)  # let the save finish
        return True

    _kill_when(p1, ckpt_ready)
    gen_dir = _one("generator/*", cache)
    assert gen_dir is not None and not (gen_dir / "DONE.json").exists()
    step_at_kill = torch.load(gen_dir / "ckpt" / "last.ckpt", map_location="cpu",
                              weights_only=False)["global_step"]
    assert 1 <= step_at_kill < MAX_STEPS

    # 2. resumed from last.ckpt; killed again in the middle of sampling the test problems
    p2 = _start(_args(cache, tmp_path / "run2"), tmp_path)
    store = cache / "samples_test"
    _kill_when(p2, lambda: _lines(_one("*/candidates.jsonl", store)) >= 2)
    assert (gen_dir / "DONE.json").exists()
    done = json.loads((gen_dir / "DONE.json").read_text())
    assert done["global_step"] == MAX_STEPS
    run2_log = (tmp_path / "run2" / "pipeline.log").read_text()
    assert "Restoring states from the checkpoint" in run2_log + (tmp_path / "proc.log").read_text()
    cands = _one("*/candidates.jsonl", store)
    assert cands is not None and not (cands.parent / "DONE.json").exists()
    partial = _lines(cands)
    assert 2 <= partial < 6 * 2

    # 3. completes; the generator is reused, the store is finished without duplicates
    proc = subprocess.run([sys.executable, "-m", "mathft.pipeline",
                           *_args(cache, tmp_path / "run3")], cwd=tmp_path, env=env(tmp_path),
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, tail(proc)
    run3_log = (tmp_path / "run3" / "pipeline.log").read_text()
    assert "generator: reusing" in run3_log
    assert len(list((cache / "generator").iterdir())) == 1
    for name in ("samples_test", "samples_test_greedy"):
        (d,) = list((cache / name).iterdir())
        assert (d / "DONE.json").exists()
        rows = [json.loads(x) for x in (d / "candidates.jsonl").read_text().splitlines() if x]
        keys = Counter((r["problem_id"], r["sample_idx"]) for r in rows)
        assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1]
        n = 1 if name == "samples_test_greedy" else 2
        assert len({k[0] for k in keys}) == 6 and len(keys) == 6 * n
    m = json.loads((tmp_path / "run3" / "metrics.json").read_text())
    assert m["n_problems"] == 6 and m["n_samples"] == 2

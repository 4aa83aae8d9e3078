"""The real entry points under Hydra with 2 DDP processes and with the submitit launcher.

Slow (tiny pipelines from an empty cache, minutes): ``pytest -m slow tests/scaleout``.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from pipeline_cli import TINY, cli, env, step_dirs, tail  # noqa: E402

pytestmark = pytest.mark.slow
DDP = ["trainer=ddp_cpu", "generator.batch_size=2", "evaluator.batch_size=2"]


def _done(cache: Path, name: str) -> list[dict]:
    return [json.loads((d / "DONE.json").read_text()) for d in sorted((cache / name).iterdir())
            if (d / "DONE.json").exists()]


def _unique_rows(path: Path) -> int:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    keys = Counter((r["problem_id"], r["sample_idx"]) for r in rows)
    assert max(keys.values()) == 1, path
    return len(rows)


def test_pipeline_single_run_with_two_ddp_processes(tmp_path: Path) -> None:
    cache, run = tmp_path / "cache", tmp_path / "run"
    proc = cli("mathft.pipeline", [*TINY, *DDP, f"run.cache_dir={cache}", f"hydra.run.dir={run}"],
               tmp_path, timeout=1500)
    assert proc.returncode == 0, tail(proc)
    out = proc.stdout + proc.stderr
    assert out.count("Starting with 2 processes") == 2  # generator and evaluator fits
    (gen,), (ev,) = _done(cache, "generator"), _done(cache, "evaluator")
    assert gen["global_step"] == 2 and ev["global_step"] == 2
    assert (run / "metrics.json").exists()
    # one Hydra job: no per-rank output dirs, no second run dir, one store row per key
    assert [p.name for p in (tmp_path / "outputs").glob("*")] == [] or not (
        tmp_path / "outputs").exists()
    for name in ("samples_test", "samples_val", "samples_evaluator_train"):
        (h,) = step_dirs(cache)[name]
        assert _unique_rows(cache / name / h / "candidates.jsonl") > 0
    for d in (cache / "generator").iterdir():
        assert sorted(p.name for p in (d / "ckpt").iterdir()) == ["last.ckpt"]


def test_multirun_with_two_ddp_processes_per_job(tmp_path: Path) -> None:
    cache, sweep = tmp_path / "cache", tmp_path / "multirun"
    proc = cli("mathft.train", ["-m", *TINY, *DDP, "generator.lr=1e-5,2e-5",
                                f"run.cache_dir={cache}", f"hydra.sweep.dir={sweep}"],
               tmp_path, timeout=1500)
    assert proc.returncode == 0, tail(proc)
    assert (proc.stdout + proc.stderr).count("Starting with 2 processes") == 2
    assert sorted(d["global_step"] for d in _done(cache, "generator")) == [2, 2]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 2, jobs  # no extra dirs from re-launched ranks


def test_submitit_local_jobs_race_for_one_generator(tmp_path: Path) -> None:
    """Two submitit jobs (one process each, as on SLURM) need the same generator: one trains
    it, the other waits on the step lock and reuses it."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cache, sweep = tmp_path / "cache", tmp_path / "multirun"
    proc = cli("mathft.pipeline",
               ["-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=30", *TINY,
                "evaluator.enabled=false", "rerank.k=1,2", f"run.cache_dir={cache}",
                f"hydra.sweep.dir={sweep}"], tmp_path, timeout=1500)
    assert proc.returncode == 0, tail(proc)
    assert {k: len(v) for k, v in step_dirs(cache).items()} == {
        "generator": 1, "samples_test": 1, "samples_test_greedy": 1}
    (h,) = step_dirs(cache)["samples_test"]
    assert _unique_rows(cache / "samples_test" / h / "candidates.jsonl") == 3 * 2
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 2 and all((j / "metrics.json").exists() for j in jobs)
    logs = [(j / "pipeline.log").read_text() for j in jobs]
    assert sorted("generator: reusing" in x for x in logs) == [False, True], logs


def test_sigkill_two_rank_training_then_rerun_resumes(tmp_path: Path) -> None:
    cache, run = tmp_path / "cache", tmp_path / "run"
    args = [sys.executable, "-m", "mathft.train", *TINY, *DDP, "generator.max_steps=8",
            "run.ckpt_every_n_steps=2", f"run.cache_dir={cache}", f"hydra.run.dir={run}"]
    p = subprocess.Popen(args, cwd=tmp_path, env=env(tmp_path), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.monotonic()
    try:
        while not list(cache.glob("generator/*/ckpt/last.ckpt")):
            assert p.poll() is None, p.stderr.read().decode()[-3000:]
            assert time.monotonic() - t0 < 900, "no checkpoint in time"
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGKILL)  # the job and both DDP workers
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.stderr.close()
    assert not _done(cache, "generator")
    proc = subprocess.run(args, cwd=tmp_path, env=env(tmp_path), capture_output=True,
                          text=True, timeout=1500, check=False)
    assert proc.returncode == 0, tail(proc)
    assert "Restoring states from the checkpoint" in proc.stdout + proc.stderr
    (gen,) = _done(cache, "generator")
    assert gen["global_step"] == 8


def test_sequential_cell_with_two_ddp_processes(tmp_path: Path) -> None:
    """stages=sequential under DDP through the pipeline: the 3-stage fit in 2 processes, each
    rank sampling its share of the stage-2 candidates, rank 0 merging them and exporting."""
    cache, run = tmp_path / "cache", tmp_path / "run"
    proc = cli("mathft.pipeline",
               [*TINY, *DDP, "stages=sequential", "evaluator.enabled=false",
                "generator.sequential_steps=[2,2,1]", f"run.cache_dir={cache}",
                f"hydra.run.dir={run}"], tmp_path, timeout=1500)
    assert proc.returncode == 0, tail(proc)
    out = proc.stdout + proc.stderr
    assert out.count("Starting with 2 processes") == 1
    (gen,) = _done(cache, "generator")
    assert gen["global_step"] == 5
    for stage in ("generator1", "evaluator", "generator2"):
        assert f"train/{stage}/loss" in gen["metrics"], stage
    (d,) = (cache / "generator").iterdir()
    assert (d / "model" / "config.json").is_file()
    (store,) = d.rglob("stage1.jsonl")
    assert _unique_rows(store) > 0 and not list(d.rglob("*.parts"))
    assert (run / "metrics.json").exists()

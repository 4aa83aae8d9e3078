"""Run the real ``python -m mathft.*`` entry points as subprocesses and SIGKILL them mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline",
       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def cli(module: str, tmp: Path, run_name: str, *overrides: str) -> list[str]:
    """The command line of ``python -m <module>`` with a private step cache and run dir."""
    return [sys.executable, "-m", module, "logger=csv", f"run.cache_dir={tmp / 'cache'}",
            f"hydra.run.dir={tmp / 'runs' / run_name}", *overrides]


def run(cmd: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run to completion (output captured)."""
    return subprocess.run(list(cmd), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def run_and_kill(cmd: Sequence[str], ready: Callable[[], bool], timeout: float = 600,
                 poll: float = 0.05) -> tuple[int, float]:
    """Start ``cmd`` in its own process group; SIGKILL the group once ``ready()`` holds.

    Returns (return code, seconds until the kill). Fails if the command ends first.
    """
    t0 = time.monotonic()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(list(cmd), cwd=ROOT, env=ENV, stdout=devnull,
                                stderr=subprocess.PIPE, start_new_session=True)
    try:
        while not ready():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-3000:]
                raise AssertionError(f"ended (rc={proc.returncode}) before the kill point:\n{err}")
            if time.monotonic() - t0 > timeout:
                raise AssertionError("kill point not reached in time")
            time.sleep(poll)
        os.killpg(proc.pid, signal.SIGKILL)  # the entry point and any worker it forked
        killed_at = time.monotonic() - t0
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    return rc, killed_at


def step_dirs(tmp: Path, name: str) -> list[Path]:
    """The step directories ``cache/<name>/<hash>`` (sorted)."""
    return sorted(p for p in (tmp / "cache" / name).glob("*") if p.is_dir())


def ckpt_ready(tmp: Path, step_name: str, min_step: int) -> Callable[[], bool]:
    """For :func:`run_and_kill`: true once run ``a``'s CSV log shows ``min_step`` steps and
    the step's ``ckpt/last.ckpt`` exists."""
    def ready() -> bool:
        ck = [d / "ckpt" / "last.ckpt" for d in step_dirs(tmp, step_name)]
        return (bool(ck) and ck[0].exists()
                and max(csv_steps(tmp / "runs" / "a") or [-1]) >= min_step)
    return ready


def jsonl_rows(path: Path) -> list[dict]:
    """Whole lines of a jsonl file (a torn last line is ignored)."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")[:-1]  # the part after the last newline is unfinished
    return [json.loads(x) for x in lines if x.strip()]


def done(step_dir: Path) -> dict:
    """The DONE.json summary of a finished step."""
    return json.loads((step_dir / "DONE.json").read_text())


def csv_steps(run_dir: Path) -> list[int]:
    """The ``step`` column of the run's CSVLogger metrics (one entry per logged row)."""
    import csv

    out: list[int] = []
    for f in sorted(run_dir.glob("csv/version_*/metrics.csv")):
        with open(f, newline="") as fh:
            out += [int(r["step"]) for r in csv.DictReader(fh) if r.get("step")]
    return out

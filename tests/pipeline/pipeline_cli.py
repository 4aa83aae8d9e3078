"""Helpers of the pipeline tests: the real CLI in subprocesses, on a tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mathft.hardware import auto_precision

ROOT = Path(__file__).resolve().parents[2]

# trainer.precision defaults to bf16-mixed on CPUs with fast bf16 kernels, else 32-true
# (mathft.hardware.auto_precision): the tests that change it set the other one.
AUTO_PRECISION = auto_precision()
OTHER_PRECISION = "32-true" if AUTO_PRECISION == "bf16-mixed" else "bf16-mixed"

# The smallest cell that still runs every step (2 samples per problem, 2-3 problems).
TINY = [
    "experiment=smoke", "model=tiny", "logger=csv",
    "generator.max_steps=2", "generator.val_examples=2", "data.limit_train=16",
    "evaluator.max_steps=2", "evaluator.n_per_problem=2", "evaluator.score_batch_size=8",
    "sampling.n=2", "sampling.max_new_tokens=16", "sampling.batch_size=8",
    "eval.test.limit=3", "eval.val.limit=2", "eval.evaluator_train.limit=2", "eval.greedy=true",
    "rerank.k=2", "rerank.topn=2", "rerank.k_grid=[1,2]", "rerank.topn_grid=[1,2]",
    "rerank.n_boot=50",
]


def env(tmp: Path, **extra: str) -> dict[str, str]:
    """Subprocess environment: offline W&B under ``tmp``, full Hydra errors."""
    e = dict(os.environ)
    e.update(WANDB_MODE="offline", WANDB_DIR=str(tmp / "wandb"), WANDB_SILENT="true",
             HYDRA_FULL_ERROR="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
             TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    e.pop("MATHFT_RUNS", None)
    (tmp / "wandb").mkdir(parents=True, exist_ok=True)
    e.update(extra)
    return e


def cli(module: str, args: list[str], cwd: Path, timeout: int = 600,
        **env_extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` in ``cwd`` (Hydra writes outputs/ there)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env(cwd, **env_extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def step_dirs(cache: Path) -> dict[str, set[str]]:
    """``{step name: {hash, ...}}`` of a step cache."""
    return {d.name: {h.name for h in d.iterdir() if h.is_dir()}
            for d in sorted(cache.iterdir()) if d.is_dir()}


def results(metrics: dict) -> dict:
    """The metric part of a metrics.json (not the cell's identity, which names overrides)."""
    return {k: v for k, v in metrics.items() if k != "cell"}


@dataclass
class Sweep:
    proc: subprocess.CompletedProcess[str]
    cwd: Path
    cache: Path
    sweep_dir: Path
    jobs: list[Path]

    def metrics(self, i: int) -> dict:
        return json.loads((self.jobs[i] / "metrics.json").read_text())


def tail(proc: subprocess.CompletedProcess[str], n: int = 4000) -> str:
    return f"rc={proc.returncode}\n--- stdout\n{proc.stdout[-n:]}\n--- stderr\n{proc.stderr[-n:]}"

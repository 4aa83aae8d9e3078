"""Two jobs of a joblib-parallel multirun need the same generator and samples at once.

Without the step lock both would train into one step dir and append to one candidate
store. Slow (a tiny pipeline from an empty cache): ``pytest -m slow tests/pipeline``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pipeline_cli import TINY, cli, step_dirs, tail

pytestmark = pytest.mark.slow


def test_parallel_jobs_share_steps_without_duplicates(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    cache, sweep = tmp_path / "cache", tmp_path / "multirun"
    proc = cli("mathft.pipeline",
               ["-m", "hydra/launcher=joblib_local", *TINY, "evaluator.enabled=false",
                "rerank.k=1,2", f"run.cache_dir={cache}", f"hydra.sweep.dir={sweep}"],
               tmp_path, timeout=1200)
    assert proc.returncode == 0, tail(proc)
    assert "Joblib" in proc.stdout + proc.stderr
    dirs = step_dirs(cache)
    assert {k: len(v) for k, v in dirs.items()} == {
        "generator": 1, "samples_test": 1, "samples_test_greedy": 1}
    for name in ("samples_test", "samples_test_greedy"):
        (h,) = dirs[name]
        rows = [json.loads(x) for x in (cache / name / h / "candidates.jsonl").read_text()
                .splitlines() if x.strip()]
        keys = Counter((r["problem_id"], r["sample_idx"]) for r in rows)
        assert max(keys.values()) == 1 and len(keys) == 3 * (1 if "greedy" in name else 2)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    ms = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert len(ms) == 2
    assert ms[0]["generation"]["Pass@N"] == ms[1]["generation"]["Pass@N"]
    assert ms[0]["cell"]["generator"] == ms[1]["cell"]["generator"]
    # one job trained the generator, the other waited on its lock and reused it
    reused = ["generator: reusing" in (j / "pipeline.log").read_text() for j in jobs]
    assert sorted(reused) == [False, True], reused

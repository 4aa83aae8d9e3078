"""A Table 4 cell (stages=sequential) through the CLI: 3 stages on one model, then sampling.

Slow (~1 min on 2 cores): ``pytest -m slow tests/pipeline``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_cli import TINY, cli, tail

pytestmark = pytest.mark.slow


def test_sequential_cell_end_to_end(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "run"
    proc = cli("mathft.pipeline",
               [*TINY, "stages=sequential", "evaluator.enabled=false",
                "generator.sequential_steps=[2,2,1]", f"run.cache_dir={cache}",
                f"hydra.run.dir={out}"], tmp_path, timeout=1200)
    assert proc.returncode == 0, tail(proc)
    (gen,) = list((cache / "generator").iterdir())
    done = json.loads((gen / "DONE.json").read_text())
    assert done["global_step"] == 5
    for stage in ("generator1", "evaluator", "generator2"):
        assert f"train/{stage}/loss" in done["metrics"], stage
    key = json.loads((gen / "key.json").read_text())
    assert key["stages.mode"] == "sequential" and key["objective.name"] == "xent"
    assert key["kind"] == "sequential" and "input.evaluator_train_problems" in key
    assert (gen / "model" / "config.json").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["cell"]["stages"] == "sequential" and m["n_samples"] == 2
    assert not m["rerank"]

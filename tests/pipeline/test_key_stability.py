"""Step hashes of shipped compositions are pinned: a refactoring of conf/ or of the config
layer (schemas, interpolations, defaults lists) must not change any step's key, or every user
would recompute steps they already have.

``data/step_hashes.json`` holds, per composition, every step a dry run plans with its hash
(unchanged by the config refactoring of issue 12; regenerated since for KEYS_VERSION 3, when
``generator.overlong`` joined the generator's key and the in-run sampling engine joined the
sequential generator's key; when ``finetune.merge_on_export`` (LoRA) joined the LoRA
generator's and evaluator's keys; and when the CPU scale was resized to N=32 on all of
MATH500, which changed every `scale=cpu` composition by design; and when the scoring dtype
(``evaluator.score_precision`` resolved) joined the scores' key, which changed only the
scores and metrics hashes; and when the CPU scale's test set became MATH500 levels 1-3,
which changed the test stores of every `scale=cpu` composition). The
machine-dependent choices are pinned: fp32 where ``auto`` would pick bf16, no vLLM.
``scripts/step_keys.py`` compares every shipped composition (entries x experiments x
scales x group options) between two checkouts. When a key changes on purpose, bump
``mathft.runs.keys.KEYS_VERSION`` and regenerate the file with ``_plan_hashes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from mathft.runs import keys
from mathft.runs.cache import config_hash
from mathft.runs.cell import cell_steps
from mathft.runs.lifecycle import CONF_DIR, Loggers
from mathft.runs.reuse import planning

PINNED = json.loads((Path(__file__).parent / "data" / "step_hashes.json").read_text())


@pytest.fixture(scope="module")
def _hydra() -> Any:
    with mock.patch("mathft.hardware.fast_bf16", return_value=False), \
            mock.patch("mathft.sampling.vllm_engine.vllm_available", return_value=False), \
            mock.patch("mathft.sampling.openvino_engine.openvino_available", return_value=False), \
            initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        yield
    HydraConfig.instance().cfg = None  # type: ignore[assignment]


def _plan_hashes(overrides: list[str]) -> list[str]:
    """``name [label]:hash`` of every step a dry run of the cell plans, then its metrics."""
    cfg = compose("pipeline", overrides=[*overrides, "run.cache_dir=/nonexistent"],
                  return_hydra_config=True)
    cfg.hydra.runtime.output_dir = "/job"
    HydraConfig.instance().set_config(cfg)
    with planning() as plan:
        cs = cell_steps(cfg, Loggers(None))
    inputs = {k: (getattr(cs, k).hash if getattr(cs, k) is not None else None)
              for k in ("test", "greedy", "val", "test_scores", "val_scores")}
    out = [f"{p.name}{(' ' + p.note.split(']')[0] + ']') if p.note.startswith('[') else ''}"
           f":{p.hash}" for p in plan]
    return [*out, "metrics:" + config_hash(keys.metrics_key(cfg, **inputs), length=12)]


@pytest.mark.parametrize("overrides", sorted(PINNED), ids=lambda s: s or "default")
def test_step_hashes_are_pinned(_hydra: Any, overrides: str) -> None:
    assert _plan_hashes(overrides.split()) == PINNED[overrides]

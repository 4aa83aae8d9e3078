"""Shared test fixtures. Tests run on CPU, offline; slow tests are marked ``slow``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _auto_engine_as_on_ci(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sampling.engine=auto`` picks OpenVINO where ``make openvino`` installed it; the suite's
    expectations (pinned step keys, resumed stores equal to full ones, engine names) are
    those of the default engines, as on CI. So OpenVINO's converter is hidden from every
    test not marked ``openvino`` (an environment variable: subprocesses see it too)."""
    if request.node.get_closest_marker("openvino") is None:
        monkeypatch.setenv("MATHFT_OPENVINO_PYTHON", os.devnull + "/no-openvino-converter")


@pytest.fixture(scope="session")
def group_option() -> Callable[..., Any]:
    """``group_option("prompt", "fewshot_math", *overrides)``: that conf/ option as a run
    composes it (its defaults list and schema applied, interpolations such as
    ``${data.template}`` resolved against the whole config), as a plain mapping."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from mathft.runs.lifecycle import CONF_DIR

    def get(group: str, option: str, *overrides: str) -> Any:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("pipeline", overrides=[f"{group}={option}", *overrides])
        return OmegaConf.to_container(cfg[group.split("@")[-1]], resolve=True)

    return get


@pytest.fixture(scope="session")
def store_rows() -> Callable[[Any], dict[tuple[str, int], dict[str, Any]]]:
    """``store_rows(path)``: a candidate store's JSON rows by ``(problem_id, sample_idx)``, every
    field as written (to compare two stores field for field)."""
    import json

    def rows(path: Any) -> dict[tuple[str, int], dict[str, Any]]:
        out = {}
        for line in open(path, encoding="utf-8").read().splitlines():
            r = json.loads(line)
            out[r["problem_id"], r["sample_idx"]] = r
        return out

    return rows

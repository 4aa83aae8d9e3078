"""Job lifecycle without Hydra's runner: failure records, stale records, loggers finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mathft.runs.lifecycle import task


def _cfg(tmp_path: Path):
    return OmegaConf.create({"logger": {"_target_": "pytorch_lightning.loggers.CSVLogger",
                                        "save_dir": str(tmp_path), "name": "csv"},
                             "run": {"continue_on_failure": True}})


def test_failure_is_recorded_and_raised_outside_multirun(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="boom"), task(_cfg(tmp_path), tmp_path):
        raise ValueError("boom")
    rec = json.loads((tmp_path / "failed.json").read_text())
    assert "boom" in rec["error"] and "ValueError" in rec["traceback"]


def test_success_clears_a_stale_failure_record(tmp_path: Path) -> None:
    (tmp_path / "failed.json").write_text('{"error": "old"}')
    with task(_cfg(tmp_path), tmp_path) as loggers:
        assert loggers.get("generator") is not None
    assert not (tmp_path / "failed.json").exists()


def test_interrupt_finishes_loggers_as_failed(tmp_path: Path, monkeypatch) -> None:
    from mathft.runs import lifecycle

    seen: list[bool] = []
    monkeypatch.setattr(lifecycle.Loggers, "finish", lambda self, failed=False: seen.append(failed))
    with pytest.raises(KeyboardInterrupt), task(_cfg(tmp_path), tmp_path):
        raise KeyboardInterrupt
    assert seen == [True]

"""A training step that stops at ``max_steps`` mid-epoch still validates its final weights:
``val/*`` metrics are in its DONE.json (Lightning alone validates only at epoch ends and every
``val_check_interval``, so every CPU-scale step used to end without them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
from test_exact_resume import EVAL, _cfg, _train_evaluator

from mathft.runs import steps


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The global step of every ``trainer.validate`` call made after a fit."""
    calls: list[int] = []
    original = pl.Trainer.validate

    def validate(self: pl.Trainer, *args: Any, **kwargs: Any) -> Any:
        calls.append(int(self.global_step))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "validate", validate)
    return calls


def test_ssft_stopped_mid_epoch_records_val_loss(tmp_path: Path, validations: list[int]) -> None:
    # 16 examples / batch 4 = 4 batches per epoch; 3 steps stop mid-epoch
    cfg = _cfg(tmp_path, "generator.max_steps=3", "generator.batch_size=4",
               "data.limit_train=16", "generator.max_length=384", "generator.overlong=truncate")
    _, _, st = steps.generator(cfg, cfg.model)
    metrics = st.summary()["metrics"]
    assert validations == [3]
    assert metrics["val/loss"] > 0 and metrics["train/loss"] > 0  # the fit's metrics kept
    assert not any(k.startswith("trainer/") for k in metrics)
    assert [p["step"] for p in st.summary()["val_history"]] == [3]
    assert st.summary()["val_history"][0]["val/loss"] == metrics["val/loss"]


def test_evaluator_validated_at_its_last_step(tmp_path: Path, validations: list[int]) -> None:
    # 8 examples / batch 2 = 4 batches: Lightning validates at step 4 (epoch end); the final
    # weights of step 6 are validated once more
    st = _train_evaluator(_cfg(tmp_path, *EVAL, "trainer.val_check_interval=null",
                               "trainer.check_val_every_n_epoch=1"))
    assert st.summary()["global_step"] == 6
    assert validations == [6]
    assert {"val/auc", "val/xent", "val/rr_all", "train/loss"} <= set(st.summary()["metrics"])


def test_no_second_validation_when_the_last_step_was_validated(
        tmp_path: Path, validations: list[int]) -> None:
    # validation at every epoch's end (Lightning's default), and the fit stops at one
    cfg = _cfg(tmp_path, *EVAL[1:], "evaluator.max_steps=4", "trainer.val_check_interval=null",
               "trainer.check_val_every_n_epoch=1")
    st = _train_evaluator(cfg)
    assert st.summary()["global_step"] == 4
    assert validations == []
    assert "val/auc" in st.summary()["metrics"]

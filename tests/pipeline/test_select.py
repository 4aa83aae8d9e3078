"""``generator.select=best_val``: the exported SSFT generator is the validation with the lowest
val/loss (not the last step), its choice recorded; ``last`` keeps every older key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from test_exact_resume import SSFT, _cfg, _weights

from mathft.runs import keys, steps, training

PERIODIC = ["trainer.val_check_interval=2", "trainer.check_val_every_n_epoch=null"]


def _trainer(step: int, loss: float | None, sanity: bool = False) -> Any:
    metrics = {} if loss is None else {"val/loss": torch.tensor(loss)}
    return SimpleNamespace(global_step=step, callback_metrics=metrics, sanity_checking=sanity,
                           is_global_zero=True, strategy=SimpleNamespace(barrier=lambda: None))


def test_best_val_weights_keeps_the_lowest_loss_and_restores_it(tmp_path: Path) -> None:
    cb, net = training.BestValWeights(tmp_path), torch.nn.Linear(3, 2)
    seen: dict[int, dict[str, torch.Tensor]] = {}
    # the sanity pass, a drop, a rise, a tie with the best (the earliest wins), a new best
    for step, loss in [(0, 0.1), (2, 3.0), (4, 2.0), (6, 2.5), (8, 2.0), (10, 1.5), (12, 1.7)]:
        with torch.no_grad():
            net.weight.fill_(float(step))
        seen[step] = {k: v.clone() for k, v in net.state_dict().items()}
        cb.on_validation_end(_trainer(step, loss, sanity=step == 0), net)
        if step == 8:
            assert cb.best == {"step": 4, "value": 2.0}
    assert cb.best == {"step": 10, "value": 1.5}
    # the previous best's file stays until a later best is recorded (resume safety)
    assert sorted(p.name for p in tmp_path.glob("best_val-*.pt")) == \
        ["best_val-10.pt", "best_val-4.pt"]
    state = cb.state_dict()
    fresh = training.BestValWeights(tmp_path)
    fresh.load_state_dict(state)
    net2 = torch.nn.Linear(3, 2)
    assert fresh.restore(net2) == {"step": 10, "value": 1.5, "monitor": "val/loss"}
    for k, v in net2.state_dict().items():
        assert torch.equal(v, seen[10][k]), k


def test_best_val_without_validation_is_a_clear_error(tmp_path: Path) -> None:
    cb = training.BestValWeights(tmp_path)
    cb.on_validation_end(_trainer(3, None), torch.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="never reported val/loss"):
        cb.restore(torch.nn.Linear(2, 2))


class Snapshots(pl.Callback):
    """The generator's weights at every validation (by global step)."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, torch.Tensor]] = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.at[int(trainer.global_step)] = {k: v.detach().clone()
                                                 for k, v in pl_module.model.state_dict().items()}


def test_ssft_exports_the_best_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snaps, original = Snapshots(), training.build_trainer
    monkeypatch.setattr(training, "build_trainer", lambda *a, **kw: original(
        *a[:4], [*(a[4] if len(a) > 4 else ()), snaps], **kw))
    # 4 training examples seen 4 times at a high learning rate: the loss on the held-out
    # examples turns back up (over-fitting), so the best validation is not the last
    cfg = _cfg(tmp_path, *SSFT, *PERIODIC, "data.limit_train=4", "generator.max_steps=8",
               "generator.select=best_val", "generator.lr=0.02")
    path, _, st = steps.generator(cfg, cfg.model)
    history = st.summary()["val_history"]
    best = min(history, key=lambda p: p["val/loss"])  # the earliest on ties, as min is
    assert st.summary()["selected"] == {"step": best["step"], "value": best["val/loss"],
                                        "monitor": "val/loss"}
    assert best["step"] != history[-1]["step"], f"val/loss never rose: {history}"
    exported = _weights(Path(path))
    for name, value in exported.items():
        assert torch.equal(value, snaps.at[best["step"]][name].to(value.dtype)), name


def test_select_last_keeps_every_older_key() -> None:
    """A setting added to the keys after steps were computed stays out of a key while it has
    the value those steps ran with (keys.ADDED)."""
    last = _cfg(Path("/nonexistent"))
    assert "generator.select" not in keys.generator_key(last, last.model)
    best = _cfg(Path("/nonexistent"), "generator.select=best_val")
    assert keys.generator_key(best, best.model)["generator.select"] == "best_val"


def test_sequential_rejects_best_val(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "stages=sequential", "generator.select=best_val")
    with pytest.raises(ValueError, match="applies to SSFT generators"):
        steps.generator(cfg, cfg.model)

"""The Lightning internals behind SequentialStages still do what mathft needs.

Run on a real ``Trainer`` with a tiny model: if a Lightning upgrade moves or changes the fit
loop's limits or ``Strategy.setup_optimizers``, these tests fail here, by name, rather than a
sequential run silently training the wrong number of steps or with a stale optimizer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from mathft.callbacks import lightning_compat
from mathft.callbacks.lightning_compat import TESTED, rebuild_optimizers, set_fit_limits

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def test_installed_lightning_is_in_the_tested_and_pinned_range() -> None:
    pin = re.search(r'"pytorch-lightning([^"]+)"', PYPROJECT.read_text())
    assert pin, "pyproject.toml: pytorch-lightning dependency not found"
    assert pin.group(1).replace(" ", "") == TESTED, "pyproject pin and lightning_compat.TESTED differ"
    lo, hi = (_version(x) for x in re.fullmatch(r">=([\d.]+),<([\d.]+)", TESTED).groups())
    assert lo <= _version(pl.__version__) < hi, (
        f"pytorch-lightning {pl.__version__} is outside the tested range {TESTED}: run "
        "tests/callbacks (sequential stages) and update lightning_compat.TESTED and pyproject")


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.built = 0

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def configure_optimizers(self):
        self.built += 1
        opt = torch.optim.AdamW(self.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class Switch(pl.Callback):
    """At step ``at``: new fit limits and fresh optimizers, as SequentialStages does."""

    def __init__(self, at: int, new_max_steps: int) -> None:
        self.at, self.new_max_steps = at, new_max_steps
        self.old_opt = self.new_opt = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at and self.new_opt is None:
            self.old_opt = trainer.optimizers[0]
            set_fit_limits(trainer, self.new_max_steps, max_epochs=-1)
            rebuild_optimizers(trainer)
            self.new_opt = trainer.optimizers[0]


def _fit(tmp_path, max_steps: int, callback: pl.Callback) -> tuple[pl.Trainer, Tiny]:
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 2)), batch_size=4)  # 16 batches per epoch
    trainer = pl.Trainer(max_steps=max_steps, max_epochs=1, accelerator="cpu", devices=1,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[callback],
                         default_root_dir=str(tmp_path))
    module = Tiny()
    trainer.fit(module, train_dataloaders=data)
    return trainer, module


@pytest.mark.parametrize("new_max_steps", [5, 24])
def test_fit_limits_set_mid_fit_are_obeyed(tmp_path, new_max_steps: int) -> None:
    """Shorter (5) and longer (24, past the Trainer's max_epochs=1 of 16 batches) than given."""
    trainer, _ = _fit(tmp_path, max_steps=10, callback=Switch(at=2, new_max_steps=new_max_steps))
    assert trainer.global_step == new_max_steps
    assert trainer.fit_loop.max_epochs == -1


def test_rebuild_optimizers_mid_fit_gives_fresh_state(tmp_path) -> None:
    switch = Switch(at=3, new_max_steps=6)
    trainer, module = _fit(tmp_path, max_steps=6, callback=switch)
    assert module.built == 2  # configure_optimizers ran again
    assert switch.new_opt is not switch.old_opt
    assert trainer.optimizers[0] is switch.new_opt
    # the new optimizer is the one stepping: its state counts only the steps after the switch
    state = next(iter(switch.new_opt.state.values()))
    assert int(state["step"]) == 3
    assert trainer.lr_scheduler_configs[0].scheduler.optimizer is switch.new_opt


def test_a_moved_internal_fails_loudly() -> None:
    class NoLoop:
        fit_loop = object()

    with pytest.raises(RuntimeError, match="tested with pytorch-lightning"):
        set_fit_limits(NoLoop(), 3)  # type: ignore[arg-type]

    class NoStrategy:
        strategy = object()

    with pytest.raises(RuntimeError, match="setup_optimizers"):
        rebuild_optimizers(NoStrategy())  # type: ignore[arg-type]
    assert lightning_compat.TESTED

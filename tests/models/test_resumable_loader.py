"""ResumableLoader in a real Lightning fit: stopped after step k, resumed from ``last.ckpt``,
the run trains on the very batches of an uninterrupted one, also when step k is the last
batch of an epoch (Lightning then moves on to the next epoch but keeps the iterator it made
while restoring the loader's state). A linear model, a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from mathft.data.collate import LengthGroupedBatchSampler, ResumableLoader, trainer_progress

N, BATCH, STEPS = 4, 2, 7  # 2 batches an epoch: step 2 ends epoch 0, step 4 ends epoch 1


class Stop(Exception):
    pass


class Recorder(pl.LightningModule):
    """Records the example indices of every batch it trains on; raises :class:`Stop` when
    step ``stop + 1`` starts (after ``last.ckpt`` of step ``stop`` is written)."""

    def __init__(self, stop: int | None = None) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []
        self.stop = stop

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.global_step == self.stop:
            raise Stop

    def train_dataloader(self) -> ResumableLoader:
        sampler = LengthGroupedBatchSampler([1] * N, BATCH, group_by_length=False, seed=3)
        return ResumableLoader(list(range(N)), batch_sampler=sampler,
                               collate_fn=torch.tensor, progress=trainer_progress(self))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.append(batch.tolist())
        return (self.w * batch.float()).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(ckpt_dir: Path, stop: int | None = None, resume: bool = False) -> list[list[int]]:
    module = Recorder(stop)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0,
        callbacks=[ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=0,
                                   every_n_train_steps=1)])
    ckpt = str(ckpt_dir / "last.ckpt") if resume else None
    if stop is not None:
        with pytest.raises(Stop):
            trainer.fit(module, ckpt_path=ckpt)
    else:
        trainer.fit(module, ckpt_path=ckpt)
        assert trainer.global_step == STEPS
    return module.seen


@pytest.mark.parametrize("k", [1, 2, 3, 4], ids=["mid-0", "end-0", "mid-1", "end-1"])
def test_resumed_fit_trains_on_the_uninterrupted_batches(tmp_path: Path, k: int) -> None:
    want = _fit(tmp_path / "ref")
    first = _fit(tmp_path / "run", stop=k)
    saved = torch.load(tmp_path / "run" / "last.ckpt", map_location="cpu", weights_only=False)
    # the next batch's place: an epoch's last batch done is the next epoch's start
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": k // 2, "batches_done": k % 2}]
    rest = _fit(tmp_path / "run", resume=True)
    assert first == want[:k] and rest == want[k:]


def test_sampler_resume_position() -> None:
    s = LengthGroupedBatchSampler([1] * 6, 2, group_by_length=False, seed=1)  # 3 batches
    assert s.position(1, 3) == (2, 0) and s.position(1, 2) == (1, 2)
    passes = {}
    for epoch in (1, 2):
        s.set_epoch(epoch)
        passes[epoch] = list(s)
    assert passes[1] != passes[2]
    s.resume(1, 3)  # all of epoch 1 done: the next pass is epoch 2's, even if 1 is set
    s.set_epoch(1)
    assert list(s) == passes[2] and s.epoch == 2
    s.resume(1, 1)
    s.set_epoch(2)
    assert list(s) == passes[1][1:]

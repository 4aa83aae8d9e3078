"""SSFTModule + SSFTDataModule on a real Lightning Trainer (CPU, tiny Llama)."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from mathft.data.datamodule import SSFTDataModule
from mathft.models.optim import lr_lambda
from mathft.models.ssft import SSFTModule

TINY = {"name_or_path": "tiny", "seed": 0}


def _trainer(tmp_path, max_steps, **kw):
    return pl.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
        num_sanity_val_steps=0, **kw,
    )


def _fit(tmp_path, examples, steps, finetune=None, packing=False, lr=3e-3, **kw):
    pl.seed_everything(0, verbose=False)
    module = SSFTModule(TINY, finetune, lr=lr, warmup_steps=1)
    dm = SSFTDataModule(module.tokenizer, examples, examples, batch_size=4, max_length=128,
                        packing=packing)
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = _trainer(tmp_path, steps, callbacks=[Record()], **kw)
    trainer.fit(module, datamodule=dm)
    return module, trainer, losses


@pytest.mark.parametrize("packing", [False, True])
def test_full_ft_loss_decreases(tmp_path, examples, packing):
    module, trainer, losses = _fit(tmp_path, examples, 8, packing=packing,
                                   limit_val_batches=1, val_check_interval=8,
                                   check_val_every_n_epoch=None)
    assert all(math.isfinite(x) for x in losses) and len(losses) == 8
    assert losses[-1] < losses[0] - 0.5
    m = trainer.callback_metrics
    for key in ("train/loss", "val/loss", "lr", "train/tokens_per_s", "train/target_tokens_per_s"):
        assert key in m, key
    assert float(m["train/tokens_per_s"]) > float(m["train/target_tokens_per_s"]) > 0
    assert float(m["val/loss"]) < losses[0]


def test_lora_trains_only_adapters(tmp_path, examples):
    lora = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0,
            "target_modules": ["q_proj", "v_proj"]}
    module, _, losses = _fit(tmp_path, examples, 6, finetune=lora, lr=1e-2)
    trainable = [n for n, p in module.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert losses[-1] < losses[0]


def test_resume_from_last_ckpt_continues(tmp_path, examples):
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    pl.seed_everything(0, verbose=False)
    module = SSFTModule(TINY, lr=1e-3, warmup_steps=2)
    dm = SSFTDataModule(module.tokenizer, examples, batch_size=2, max_length=128)
    trainer = _trainer(tmp_path, 3, callbacks=[ckpt])
    trainer.fit(module, datamodule=dm)
    last = tmp_path / "ckpt" / "last.ckpt"
    assert last.exists() and trainer.global_step == 3
    lr_at_3 = module.lr_schedulers().get_last_lr()[0]

    restored = SSFTModule.load_from_checkpoint(str(last))  # rebuilt from saved hyper-parameters
    for (n, a), b in zip(module.model.state_dict().items(), restored.model.state_dict().values()):
        assert torch.equal(a, b), n

    module2 = SSFTModule(TINY, lr=1e-3, warmup_steps=2)
    dm2 = SSFTDataModule(module2.tokenizer, examples, batch_size=2, max_length=128)
    seen = []

    class Steps(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((trainer.global_step, pl_module.lr_schedulers().get_last_lr()[0]))

    trainer2 = _trainer(tmp_path, 5, callbacks=[Steps()])
    trainer2.fit(module2, datamodule=dm2, ckpt_path=str(last))
    assert [s for s, _ in seen] == [3, 4] and trainer2.global_step == 5
    assert seen[0][1] == pytest.approx(lr_at_3)


def test_lr_schedule_warmup_then_cosine():
    vals = [lr_lambda(s, 4, 20, 0.1) for s in range(21)]
    assert vals[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(vals[4:], vals[5:]))
    assert vals[20] == pytest.approx(0.1)


def test_unknown_model_key_is_rejected():
    with pytest.raises(ValueError, match="unknown model config keys"):
        SSFTModule({"name_or_path": "tiny", "lr": 1.0})

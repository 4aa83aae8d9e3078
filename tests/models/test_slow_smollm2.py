"""Slow: fine-tune the REAL embedded SmolLM2-135M for a few steps on a tiny overfit set."""

from __future__ import annotations

import time

import pytest
import pytorch_lightning as pl

from mathft.data.datamodule import SSFTDataModule
from mathft.models.export import export_generator
from mathft.models.ssft import SSFTModule


@pytest.mark.slow
def test_smollm2_ssft_overfits(tmp_path, make_examples):
    pl.seed_everything(0, verbose=False)
    examples = make_examples(4)
    module = SSFTModule({"name_or_path": "embedded:smollm2-135m"}, lr=1e-4, warmup_steps=1)
    dm = SSFTDataModule(module.tokenizer, examples, examples, batch_size=4, max_length=256,
                        packing=True)
    losses: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=6, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, gradient_clip_val=1.0, callbacks=[Record()],
                         enable_checkpointing=False,
                         default_root_dir=str(tmp_path), limit_val_batches=1)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    elapsed = time.perf_counter() - t0
    print(f"SmolLM2 SSFT: losses={[round(x, 3) for x in losses]} fit={elapsed:.1f}s "
          f"tokens/s={float(trainer.callback_metrics['train/tokens_per_s']):.0f}")
    assert losses[-1] < 0.5 * losses[0]
    out = export_generator(module, module.tokenizer, tmp_path / "gen")
    assert (out / "config.json").exists()

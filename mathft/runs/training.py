"""What every training step shares: its LightningModule (instantiated from its config node),
its Trainer (from ``trainer``, checkpointing ``last.ckpt`` into the step directory), resume,
and the metrics a fit ends with."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

from mathft.data.datamodule import SSFTDataModule
from mathft.data.mixtures import ssft_examples_from_config
from mathft.io import atomic_write_bytes
from mathft.runs.cache import to_plain
from mathft.runs.distributed import STEP_METRIC, VALIDATED_METRIC, StepCounter, trained_steps


def build_module(node: DictConfig, model: Mapping[str, Any], finetune: Any) -> pl.LightningModule:
    """The LightningModule of ``node`` (``stages.module`` or ``evaluator.module``: ``_target_``
    and hyperparameters) on ``model`` (a ``conf/model`` mapping) with ``finetune``."""
    return instantiate(node, model=dict(model), finetune=to_plain(finetune), _convert_="all")


def merge_on_export(finetune: Any) -> bool:
    """Whether a training step exports its model with the LoRA adapters merged into the
    weights (``finetune.merge_on_export``, LoRA only: full fine-tuning has none to merge)."""
    return str(finetune.method) != "lora" or bool(finetune.merge_on_export)


def ssft_setup(cfg: DictConfig, model_cfg: Any) -> tuple[pl.LightningModule, SSFTDataModule]:
    """The generator step's start (SSFT or sequential): seed, the ``stages.module``
    LightningModule, and its SSFT data (``data`` examples at ``generator`` sizes)."""
    g = cfg.generator
    pl.seed_everything(int(cfg.seed), workers=True)
    module = build_module(cfg.stages.module, to_plain(model_cfg), cfg.finetune)
    train = ssft_examples_from_config(cfg.data, "train")
    val = ssft_examples_from_config(cfg.data, "val")[: int(g.val_examples)]
    dm = SSFTDataModule(module.tokenizer, train, val, template=str(cfg.data.template),
                        max_length=int(g.max_length), overlong=str(g.overlong),
                        batch_size=int(g.batch_size), packing=bool(g.packing),
                        seed=int(cfg.seed))
    return module, dm


class ValHistory(pl.Callback):
    """The ``val/*`` metrics of every validation of a fit, with its global step: the loss curve
    a step records in its ``DONE.json``. Kept in ``last.ckpt``, so a resumed fit keeps the
    points before the stop (under ``ddp_spawn`` only the launching process's final validation
    is seen).

    Lightning writes ``last.ckpt`` at the end of a step's batch and validates after it, so a
    checkpoint of a step that also validates would lack that validation's point; when
    ``ckpt_path`` and its cadence ``every_n`` are given, ``last.ckpt`` of such a step is
    written again once the point is recorded."""

    def __init__(self, ckpt_path: Path | None = None, every_n: int = 0) -> None:
        self.points: list[dict[str, float]] = []
        self.ckpt_path, self.every_n = ckpt_path, every_n

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        vals = {k: float(v) for k, v in trainer.callback_metrics.items()
                if k.startswith("val/") and v.numel() == 1}
        if vals and not trainer.sanity_checking:
            step = int(trainer.global_step)
            self.points.append({"step": step, **vals})
            if self.ckpt_path is not None and self.every_n > 0 and step % self.every_n == 0 \
                    and self.ckpt_path.exists():
                trainer.save_checkpoint(str(self.ckpt_path))

    def state_dict(self) -> dict[str, Any]:
        return {"points": self.points}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.points = list(state_dict.get("points", []))


class BestValWeights(pl.Callback):
    """``generator.select=best_val``: the weights of the validation with the lowest
    ``monitor`` (the earliest on ties), kept in ``dir/best_val-<step>.pt``.

    The best step and value live in ``last.ckpt`` (this callback runs before
    :class:`ValHistory` re-saves it), so a resumed fit selects exactly as an uninterrupted one.
    The previous best's file stays until a later best replaces it: a fit killed between
    writing a new best and recording it in ``last.ckpt`` resumes with the old record, and
    its file is still there.
    """

    def __init__(self, dir: Path, monitor: str = "val/loss") -> None:
        self.dir, self.monitor = Path(dir), monitor
        self.best: dict[str, Any] | None = None  # {"step", "value"}

    def path(self, step: int) -> Path:
        return self.dir / f"best_val-{step}.pt"

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        value, step = float(value), int(trainer.global_step)
        if self.best is not None and (value >= self.best["value"] or step == self.best["step"]):
            return
        if trainer.is_global_zero:
            buf = io.BytesIO()
            torch.save({k: t.detach().cpu() for k, t in pl_module.state_dict().items()}, buf)
            atomic_write_bytes(self.path(step), buf.getvalue())
            keep = {self.path(step).name} | ({self.path(self.best["step"]).name}
                                             if self.best is not None else set())
            for f in self.dir.glob("best_val-*.pt"):
                if f.name not in keep and re.fullmatch(r"best_val-\d+\.pt", f.name):
                    f.unlink()
        trainer.strategy.barrier()
        self.best = {"step": step, "value": value}

    def restore(self, module: pl.LightningModule) -> dict[str, Any]:
        """Load the selected weights into ``module``; ``{"step", "value"}`` of that validation."""
        if self.best is None:
            raise RuntimeError(f"generator.select=best_val: the fit never reported "
                               f"{self.monitor} (generator.val_examples > 0 and a validation "
                               "cadence are needed)")
        path = self.path(self.best["step"])
        if not path.exists():
            raise RuntimeError(f"generator.select=best_val: {path} (the best validation, "
                               f"step {self.best['step']}) is missing")
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return dict(self.best, monitor=self.monitor)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


def build_trainer(cfg: DictConfig, max_steps: int, ckpt_dir: Path, logger: Any,
                  extra_callbacks: Sequence[pl.Callback] = (),
                  best_val: BestValWeights | None = None) -> pl.Trainer:
    """A Trainer from ``cfg.trainer`` that runs ``max_steps`` optimizer steps and writes
    ``ckpt_dir/last.ckpt`` every ``run.ckpt_every_n_steps`` steps (``best_val``: also keeps
    the best validation's weights)."""
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=0,
                        every_n_train_steps=int(cfg.run.ckpt_every_n_steps)),
        StepCounter(),  # global_step back from ddp_spawn workers
        *([best_val] if best_val is not None else []),  # before ValHistory re-saves last.ckpt
        ValHistory(ckpt_dir / "last.ckpt", int(cfg.run.ckpt_every_n_steps)),
        *extra_callbacks,
    ]
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return instantiate(cfg.trainer, max_steps=max_steps, callbacks=callbacks,
                       logger=logger if logger else False, default_root_dir=str(ckpt_dir.parent))


def resume_path(ckpt_dir: Path) -> str | None:
    """``last.ckpt`` to resume from, if any; a damaged one is named, never silently replaced."""
    last = ckpt_dir / "last.ckpt"
    if not last.exists():
        return None
    if not zipfile.is_zipfile(last):
        raise RuntimeError(
            f"checkpoint {last} is damaged (not a complete torch zip archive, "
            f"{last.stat().st_size} bytes): delete it to restart this step from scratch, "
            "or restore it from a backup")
    return str(last)


def fit(trainer: pl.Trainer, module: pl.LightningModule, ckpt_dir: Path,
        datamodule: pl.LightningDataModule) -> None:
    """``trainer.fit`` from ``ckpt_dir/last.ckpt`` if there is one, then one validation of the
    final weights unless the last training step was just validated.

    Lightning validates at epoch ends and every ``trainer.val_check_interval``; a fit that
    stops at ``max_steps`` mid-epoch (every CPU-scale step) would otherwise end with no
    ``val/*`` metric at all."""
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_path(ckpt_dir))
    done = trainer.callback_metrics.get(VALIDATED_METRIC)
    if trainer.limit_val_batches and (done is None or int(done) != trained_steps(trainer)):
        fitted = dict(trainer.callback_metrics)  # validate() starts from empty metrics
        trainer.validate(module, datamodule=datamodule, verbose=False)
        for k, v in fitted.items():
            trainer.callback_metrics.setdefault(k, v)


def fit_record(trainer: pl.Trainer) -> dict[str, Any]:
    """What a training step's DONE.json records of its fit: ``metrics``, the scalar metrics it
    ended with, and ``val_history``, every validation's ``val/*`` (:class:`ValHistory`)."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
               if v.numel() == 1 and k not in (STEP_METRIC, VALIDATED_METRIC)}
    history = next((list(cb.points) for cb in trainer.callbacks if isinstance(cb, ValHistory)),
                   [])
    return {"metrics": metrics, "val_history": history}

"""Data-parallel training inside a Hydra job: what is supported, and the helpers it needs.

Supported: ``strategy=ddp`` with ``start_method: spawn`` (``conf/trainer/ddp_cpu.yaml``, gloo on
CPU; ``conf/trainer/ddp.yaml`` on GPUs). Only ``trainer.fit`` runs in the worker processes;
the Hydra job itself (step cache and its locks, stores, export, ``DONE.json``) runs once, in
the launching process, which receives rank 0's weights and metrics when ``fit`` returns. So
a single run, ``-m`` and every Hydra launcher behave as without DDP, and only rank 0 writes
checkpoints (Lightning's ``ModelCheckpoint``; the step's exports and stores are written by
the launching process after ``fit``).

Not supported: Lightning's default ``strategy=ddp`` (``start_method: popen``) re-runs the
whole command in every extra rank, i.e. the whole pipeline (sampling included) and, under
``-m``, the whole sweep; and FSDP on CPU (Lightning refuses it). :func:`check_trainer` says
so when the job starts, before any model is loaded.

Batch semantics: ``batch_size`` is per process; with ``devices=D`` every optimizer step
consumes one global batch of ``batch_size * D`` examples, split in rank order (see
:class:`mathft.data.collate.LengthGroupedBatchSampler`), so a D-process run equals a
1-process run with ``batch_size * D`` up to float reduction order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch

STEP_METRIC = "trainer/global_step"
VALIDATED_METRIC = "trainer/validated_at_step"


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping) or hasattr(cfg, "get"):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def _strategy_name(strategy: Any) -> tuple[str, str | None]:
    """``(kind, start_method)`` of a trainer config's ``strategy`` (string or ``_target_`` node)."""
    if strategy is None:
        return "auto", None
    if isinstance(strategy, str):
        return strategy.lower(), ("spawn" if "spawn" in strategy.lower() else
                                  "fork" if "fork" in strategy.lower() else None)
    target = str(_get(strategy, "_target_", "")).lower()
    kind = "fsdp" if "fsdp" in target else "ddp" if "ddp" in target else target or "auto"
    return kind, _get(strategy, "start_method", "popen" if kind == "ddp" else None)


def check_trainer(trainer_cfg: Any) -> None:
    """Refuse, at job start, trainer configs that cannot run as configured here.

    Raises ``ValueError`` naming what is supported instead of failing minutes later inside
    ``trainer.fit`` (or, for the re-launching DDP, running the pipeline once per rank).
    """
    if trainer_cfg is None:
        return
    accel = str(_get(trainer_cfg, "accelerator", "auto")).lower()
    kind, start = _strategy_name(_get(trainer_cfg, "strategy"))
    devices = _get(trainer_cfg, "devices", 1)
    if "fsdp" in kind:
        where = ("Lightning's FSDPStrategy requires a GPU accelerator" if accel == "cpu" else
                 "Lightning's FSDPStrategy always re-runs the whole command in every rank, so "
                 "every pipeline step (sampling, export, stores) would run once per rank")
        raise ValueError(
            f"trainer=fsdp is not supported by the mathft pipeline: {where}. Supported: "
            "trainer=ddp_cpu (CPU processes, gloo) and trainer=ddp (GPUs, spawn start; LoRA "
            "for models that do not fit one device).")
    multi = devices in (-1, "auto") or (isinstance(devices, int) and devices > 1) or (
        not isinstance(devices, int | str) and devices is not None and len(devices) > 1)
    if kind.startswith("ddp") and multi and start in (None, "popen") and kind != "ddp_spawn":
        raise ValueError(
            "trainer: strategy=ddp with start_method=popen re-runs the whole Hydra command in "
            "every extra rank (the whole pipeline, and under -m the whole sweep). Use "
            "trainer=ddp_cpu or trainer=ddp (start_method: spawn: only fit runs in the workers), "
            "or strategy=ddp_spawn.")


class StepCounter(pl.Callback):
    """Carries the worker's ``global_step``, and the step its last validation ran at, back to
    the launching process (``ddp_spawn`` restores weights and ``callback_metrics`` there, not
    the loop counters)."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.callback_metrics[STEP_METRIC] = torch.tensor(float(trainer.global_step))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            trainer.callback_metrics[VALIDATED_METRIC] = torch.tensor(float(trainer.global_step))


def trained_steps(trainer: pl.Trainer) -> int:
    """Optimizer steps a ``fit`` reached, in the launching process too (see :class:`StepCounter`)."""
    if trainer.global_step:
        return int(trainer.global_step)
    v = trainer.callback_metrics.get(STEP_METRIC)
    return int(v) if v is not None else 0


def world(trainer: Any) -> tuple[int, int]:
    """``(world_size, global_rank)`` of an attached trainer, ``(1, 0)`` without one."""
    if trainer is None:
        return 1, 0
    return int(getattr(trainer, "world_size", 1)), int(getattr(trainer, "global_rank", 0))


def global_count(module: pl.LightningModule, count: torch.Tensor) -> torch.Tensor:
    """``count`` summed over ranks (itself in a single process); no gradient flows through it.

    Losses normalised by a count (target tokens) divide by this times ``1/world_size`` so that
    DDP's gradient averaging yields the global mean, as one process with the global batch.
    """
    trainer = getattr(module, "_trainer", None)
    if trainer is None or int(getattr(trainer, "world_size", 1)) <= 1:
        return count
    total = count.detach().clone().to(torch.float64)
    torch.distributed.all_reduce(total)
    return total

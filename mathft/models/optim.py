"""The optimiser shared by every training module: AdamW + linear warmup + cosine decay.

No weight decay on biases and norms; the learning rate warms up linearly to ``lr`` and decays
along a cosine to ``min_lr_ratio * lr`` over the run's optimiser steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch


def lr_lambda(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def stepping_total(module: Any) -> int:
    """Optimiser steps of the module's current fit (1 when unknown or unbounded)."""
    trainer = getattr(module, "_trainer", None)
    total = float(trainer.estimated_stepping_batches) if trainer is not None else 1.0
    return max(1, int(total)) if math.isfinite(total) else 1


def adamw_warmup_cosine(
    named_params: Iterable[tuple[str, torch.nn.Parameter]],
    *,
    lr: float,
    weight_decay: float,
    betas: Sequence[float],
    eps: float,
    warmup_steps: int,
    warmup_ratio: float,
    min_lr_ratio: float,
    total_steps: int,
) -> dict[str, Any]:
    """AdamW (no decay on biases/norms) + per-step linear warmup then cosine decay.

    Returns Lightning's ``configure_optimizers`` dict. Only parameters with ``requires_grad``
    are optimised; ``warmup_steps`` wins over ``warmup_ratio`` when non-zero.
    """
    decay, no_decay = [], []
    for name, p in named_params:
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)
    total = max(1, int(total_steps))
    warmup = int(warmup_steps) or int(round(warmup_ratio * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_lambda(s, warmup, total, min_lr_ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

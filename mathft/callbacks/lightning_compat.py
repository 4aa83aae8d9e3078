"""The few Lightning internals mathft relies on, in one place.

:class:`~mathft.callbacks.sequential.SequentialStages` changes a running fit: it sets the
fit loop's step and epoch limits once the stage plan is known, and rebuilds the optimizers
and LR schedulers at a stage boundary. Lightning has no public API for either, so both go
through this module, and ``tests/callbacks/test_lightning_compat.py`` runs them on a real
``Trainer``: a Lightning upgrade that moves them fails there, loudly, not as a silently
mis-scheduled run. ``pyproject.toml`` pins the Lightning range this was tested with
(:data:`TESTED`).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

TESTED = ">=2.6,<2.7"
"""pytorch-lightning versions these calls were tested with (kept equal to pyproject's pin)."""


def _fail(what: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f"pytorch-lightning {pl.__version__}: {what} is not where mathft expects it ({err}). "
        f"mathft.callbacks.lightning_compat was tested with pytorch-lightning{TESTED}: install "
        "a version in that range, or update this module (and its test) to the new internals."
    )


def set_fit_limits(trainer: pl.Trainer, max_steps: int, max_epochs: int = -1) -> None:
    """Set the running fit's ``max_steps`` and ``max_epochs`` (also mid-fit).

    ``Trainer(max_steps=...)`` is read once; the fit loop checks
    ``fit_loop.epoch_loop.max_steps`` and ``fit_loop.max_epochs`` at every step and epoch.
    """
    try:
        loop = trainer.fit_loop
        epoch_loop = loop.epoch_loop
        if not hasattr(epoch_loop, "max_steps") or not hasattr(loop, "max_epochs"):
            raise AttributeError("fit_loop.epoch_loop.max_steps / fit_loop.max_epochs missing")
        epoch_loop.max_steps = int(max_steps)
        loop.max_epochs = int(max_epochs)
    except AttributeError as err:
        raise _fail("the fit loop's max_steps / max_epochs", err) from err


def rebuild_optimizers(trainer: pl.Trainer) -> None:
    """Re-run ``LightningModule.configure_optimizers`` mid-fit: fresh optimizers and LR schedulers.

    Uses ``trainer.strategy.setup_optimizers(trainer)``, the call Lightning itself makes when a
    fit starts (single-device and DDP strategies).
    """
    try:
        setup: Any = trainer.strategy.setup_optimizers
    except AttributeError as err:
        raise _fail("Strategy.setup_optimizers", err) from err
    setup(trainer)

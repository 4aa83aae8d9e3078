"""Validation curves of a cell's training steps: the ``val_history`` each step records in its
``DONE.json`` (:class:`mathft.runs.training.ValHistory`), drawn as one PNG and logged to W&B.

The generator's ``val/loss`` against optimizer steps shows whether SSFT ran long enough (the
curve has flattened); the evaluator's ``val/auc`` and re-ranking accuracy ``val/rr_all`` show
what it learned, whatever its objective.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathft.reporting.plots import _save_png_atomic

Points = Sequence[Mapping[str, float]]

#: the metrics drawn per step (a step draws those its history has), in panel order
PANELS: dict[str, tuple[str, ...]] = {
    "generator": ("val/loss",),
    "evaluator": ("val/auc", "val/rr_all"),
}


def curve_series(histories: Mapping[str, Points]) -> list[tuple[str, str, list[int], list[float]]]:
    """``(step name, metric, steps, values)`` per panel of :data:`PANELS` that has points."""
    out = []
    for name, points in histories.items():
        for metric in PANELS.get(name, ()):
            pts = sorted((int(p["step"]), float(p[metric])) for p in points if metric in p)
            if pts:
                out.append((name, metric, [s for s, _ in pts], [v for _, v in pts]))
    return out


def plot_curves(histories: Mapping[str, Points], path: str | os.PathLike[str],
                title: str | None = None) -> Path | None:
    """Draw every series of :func:`curve_series` side by side to ``path`` (PNG, atomic).
    Nothing is written (``None``) when no step recorded a validation."""
    series = curve_series(histories)
    if not series:
        return None
    fig = Figure(figsize=(max(6.0, 4.2 * len(series)), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    for i, (name, metric, steps, values) in enumerate(series):
        ax = fig.add_subplot(1, len(series), i + 1)
        ax.plot(steps, values, marker="o")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(metric)
        ax.set_title(f"{name}: {metric}")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save_png_atomic(fig, Path(path))


def log_curves(run: Any, histories: Mapping[str, Points], png: Path | None) -> None:
    """Log the curves to a W&B run: a line plot per series and the PNG."""
    import wandb  # local: only with a W&B run

    for name, metric, steps, values in curve_series(histories):
        key = f"curves/{name}/{metric.replace('/', '_')}"
        table = wandb.Table(columns=["step", metric], data=[list(r) for r in zip(steps, values)])
        run.log({key: wandb.plot.line(table, "step", metric, title=f"{name}: {metric}")})
    if png is not None:
        run.log({"curves/png": wandb.Image(str(png))})

"""Figure 1 of the paper: RR.Top-K accuracy and evaluator cost ratio against K.

Accuracy (left axis, with bootstrap CI bars) and cost ratio = solutions scored / N
(right axis) for each K, with Maj1 and RR.All accuracy as horizontal reference lines.
The plotted data are also returned as flat rows so a caller can log a W&B table/plot
or a CSV from exactly what was drawn (:func:`figure1_wandb` builds the native W&B line
plots from them). Uses matplotlib's Agg canvas directly (no pyplot global state, no display
needed) and writes the PNG atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathft.io import atomic_write_bytes
from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.metrics import evaluate_many
from mathft.rerank.strategies import make_strategy


def figure1_rows(
    problems: Sequence[ProblemCandidates],
    ks: Sequence[int],
    strategy: str = "rr_topk",
    n_sub: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
    n_boot: int = 1000,
) -> list[dict[str, Any]]:
    """Rows ``{series, k, accuracy, accuracy_lo, accuracy_hi, cost_ratio, n_problems}``.

    One row per K for ``strategy`` (series = its paper label without K, e.g. ``RR.Top-K``),
    plus one reference row each for ``Maj1`` and ``RR.All`` (``k = None``).
    """
    ks = sorted(set(ks))
    specs = [make_strategy(strategy, k=k) for k in ks] + [make_strategy("maj1"), make_strategy("rr_all")]
    results = evaluate_many(problems, specs, n_sub=n_sub, n_subsets=n_subsets, seed=seed)
    keys: list[tuple[str, int | None]] = [("topk", k) for k in ks] + [("Maj1", None), ("RR.All", None)]
    rows = [
        _row(res.to_row(n_boot=n_boot, seed=seed), series=series, k=k)
        for (series, k), res in zip(keys, results)
    ]
    label = {"rr_topk": "RR.Top-K", "wrr_topk": "W.RR.Top-K", "majk": "MajK"}.get(strategy, strategy)
    for r in rows:
        if r["series"] == "topk":
            r["series"] = label
    return rows


def _row(full: dict[str, Any], series: str, k: int | None) -> dict[str, Any]:
    keys = ("accuracy", "accuracy_lo", "accuracy_hi", "cost_ratio", "n_problems")
    return {"series": series, "k": k, **{key: full[key] for key in keys}}


def plot_figure1(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Draw rows from :func:`figure1_rows` to a PNG at ``path`` (atomic write)."""
    curve = sorted((r for r in rows if r["k"] is not None), key=lambda r: r["k"])
    refs = {r["series"]: r for r in rows if r["k"] is None}
    if not curve:
        raise ValueError("plot_figure1: no rows with a K value to plot")
    ks = [r["k"] for r in curve]
    acc = [100 * r["accuracy"] for r in curve]
    err = [
        [100 * (r["accuracy"] - r["accuracy_lo"]) for r in curve],
        [100 * (r["accuracy_hi"] - r["accuracy"]) for r in curve],
    ]
    fig = Figure(figsize=(6.4, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.errorbar(ks, acc, yerr=err, marker="o", capsize=3, color="C0", label=curve[0]["series"])
    for (name, ref), color in zip(sorted(refs.items()), ("C2", "C3", "C4")):
        ax.axhline(100 * ref["accuracy"], linestyle="--", color=color, label=name)
    ax.set_xlabel("K (number of largest clusters kept)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax2 = ax.twinx()
    ax2.plot(ks, [r["cost_ratio"] for r in curve], marker="s", color="C1", label="cost ratio")
    ax2.set_ylabel("evaluator cost ratio (scored / N)")
    ax2.set_ylim(0.0, 1.05)
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="lower right", fontsize=8)
    n = curve[0].get("n_problems")
    ax.set_title(title or f"Accuracy and evaluator cost vs K ({n} problems)")
    fig.tight_layout()
    return _save_png_atomic(fig, Path(path))


def _save_png_atomic(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def figure1(
    problems: Sequence[ProblemCandidates],
    ks: Sequence[int],
    path: str | os.PathLike[str],
    strategy: str = "rr_topk",
    title: str | None = None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Compute :func:`figure1_rows`, draw them to ``path`` and return the rows."""
    rows = figure1_rows(problems, ks, strategy=strategy, **kw)
    plot_figure1(rows, path, title=title)
    return rows


def figure1_wandb(rows: Sequence[dict[str, Any]], title: str | None = None) -> dict[str, Any]:
    """Figure 1 as native W&B objects, from the rows of :func:`figure1_rows`.

    ``figures/figure1_data``: the rows as a ``wandb.Table`` (numbers as numbers, percent);
    ``figures/figure1_accuracy``: a line plot of accuracy against K with its CI bounds and the
    Maj1 / RR.All references as flat lines; ``figures/figure1_cost``: the evaluator cost ratio
    against K. Log the returned dict with ``run.log``.
    """
    import wandb

    curve = sorted((r for r in rows if r["k"] is not None), key=lambda r: r["k"])
    if not curve:
        raise ValueError("figure1_wandb: no rows with a K value to plot")
    refs = {r["series"]: r for r in rows if r["k"] is None}
    ks = [int(r["k"]) for r in curve]
    name = str(curve[0]["series"])
    keys = [name, f"{name} CI low", f"{name} CI high"]
    ys = [[100 * float(r[key]) for r in curve] for key in ("accuracy", "accuracy_lo", "accuracy_hi")]
    for ref_name, ref in sorted(refs.items()):
        keys.append(str(ref_name))
        ys.append([100 * float(ref["accuracy"])] * len(ks))
    columns = ["series", "k", "accuracy", "accuracy_lo", "accuracy_hi", "cost_ratio", "n_problems"]
    data = [[str(r["series"]), None if r["k"] is None else int(r["k"]),
             100 * float(r["accuracy"]), 100 * float(r["accuracy_lo"]),
             100 * float(r["accuracy_hi"]), float(r["cost_ratio"]), int(r["n_problems"])]
            for r in rows]
    cost = wandb.Table(columns=["K", "cost ratio"],
                       data=[[k, float(r["cost_ratio"])] for k, r in zip(ks, curve)])
    head = title or "Figure 1"
    return {
        "figures/figure1_data": wandb.Table(columns=columns, data=data),
        "figures/figure1_accuracy": wandb.plot.line_series(
            xs=ks, ys=ys, keys=keys, title=f"{head}: accuracy (%) vs K", xname="K"),
        "figures/figure1_cost": wandb.plot.line(
            cost, "K", "cost ratio", title=f"{head}: evaluator cost ratio vs K"),
    }


def log_figure1(run: Any, rows: Sequence[dict[str, Any]], png: str | os.PathLike[str] | None = None,
                title: str | None = None) -> None:
    """Log Figure 1 to a W&B run: the native line plots and data table, and the PNG if given."""
    import wandb

    logged = figure1_wandb(rows, title=title)
    if png is not None and Path(png).exists():
        logged["figures/figure1"] = wandb.Image(str(png))
    run.log(logged)

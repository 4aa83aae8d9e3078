"""Evaluator-quality sweep figure and table: accuracy of each strategy against evaluator AUC.

Input is the flat rows of :meth:`mathft.rerank.quality.QualitySweep.rows` (what is drawn is
what is tabulated and logged). The PNG shows each strategy's accuracy with its 95% bootstrap
band against the target AUC, Maj1 as a horizontal band, Pass@N as the dashed ceiling, SCR's
evaluator cost ratio on the right axis, and vertical lines at the measured AUCs of trained
evaluators (``marks``). Uses matplotlib's Agg canvas (no pyplot state), written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathft.reporting.plots import _save_png_atomic
from mathft.reporting.tables import Estimate, Table

COST_SERIES = "RR.Top-K"  # SCR with K chosen on validation; else the first fixed-K "RR.Top-k"


def _scr(names: Sequence[str]) -> str | None:
    if COST_SERIES in names:
        return COST_SERIES
    return next((n for n in names if n.startswith("RR.Top-")), None)


def _curves(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("target_auc") is not None:
            out.setdefault(str(r["strategy"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["target_auc"]) for k, v in out.items()}


def _refs(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r["strategy"]): r for r in rows if r.get("target_auc") is None}


def plot_quality(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    marks: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Path:
    """Draw the sweep rows to a PNG at ``path``; ``marks`` = {name: measured AUC}."""
    curves, refs = _curves(rows), _refs(rows)
    if not curves:
        raise ValueError("plot_quality: no rows with a target AUC")
    fig = Figure(figsize=(7.2, 4.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for j, (name, rs) in enumerate(curves.items()):
        x = [r["target_auc"] for r in rs]
        color = f"C{j}"
        ax.plot(x, [100 * r["accuracy"] for r in rs], marker="o", ms=3, color=color, label=name)
        ax.fill_between(x, [100 * r["accuracy_lo"] for r in rs],
                        [100 * r["accuracy_hi"] for r in rs], color=color, alpha=0.15, lw=0)
    if "Maj1" in refs:
        m = refs["Maj1"]
        ax.axhspan(100 * m["accuracy_lo"], 100 * m["accuracy_hi"], color="0.5", alpha=0.2, lw=0)
        ax.axhline(100 * m["accuracy"], color="0.3", lw=1.2, label="Maj1 (95% CI band)")
    if "Pass@N" in refs:
        ax.axhline(100 * refs["Pass@N"]["accuracy"], color="0.3", ls="--", lw=1, label="Pass@N")
    for j, (name, auc) in enumerate(sorted((marks or {}).items(), key=lambda kv: kv[1])):
        ax.axvline(float(auc), color="k", ls=":", lw=1)
        ax.text(float(auc), 0.98 - 0.07 * (j % 4), f" {name}: {float(auc):.2f}", rotation=0,
                fontsize=7, va="top", transform=ax.get_xaxis_transform())
    ax.set_xlabel("evaluator AUC (synthetic, binormal; target)")
    ax.set_ylabel("accuracy (%)")
    scr = _scr(list(curves))
    if scr:
        ax2 = ax.twinx()
        rs = curves[scr]
        ax2.plot([r["target_auc"] for r in rs], [r["cost_ratio"] for r in rs], color="C7",
                 ls="-.", marker="s", ms=3, label="SCR cost ratio")
        ax2.set_ylabel("SCR evaluator cost ratio (scored / N)")
        ax2.set_ylim(0.0, 1.05)
        h2, l2 = ax2.get_legend_handles_labels()
    else:
        h2, l2 = [], []
    h, lab = ax.get_legend_handles_labels()
    ax.legend(h + h2, lab + l2, loc="lower right", fontsize=7)
    n = next(iter(curves.values()))[0].get("n_problems")
    ax.set_title(title or f"Accuracy vs evaluator quality ({n} problems)", fontsize=10)
    fig.tight_layout()
    return _save_png_atomic(fig, Path(path))


def _diff(r: Mapping[str, Any]) -> str:
    return (f"{100 * r['vs_maj1']:+.1f} [{100 * r['vs_maj1_lo']:+.1f}, "
            f"{100 * r['vs_maj1_hi']:+.1f}]")


def quality_table(
    rows: Sequence[Mapping[str, Any]],
    name: str = "evaluator_quality",
    title: str = "Accuracy vs evaluator quality",
    notes: Sequence[str] = (),
) -> Table:
    """One row per target AUC: realised AUC, Maj1 and each strategy's accuracy (CI), paired
    difference of SCR (RR.Top-K) to Maj1, SCR's cost ratio and its chosen K per seed."""
    curves, refs = _curves(rows), _refs(rows)
    names = list(curves)
    cols = ["target AUC", "realised AUC", *(["Maj1"] if "Maj1" in refs else []), *names]
    scr = _scr(names)
    if scr:
        cols += [f"{scr} − Maj1", f"{scr} cost", "K chosen (per seed)"]
    table = Table(name, title, cols)
    by_auc: dict[float, dict[str, Mapping[str, Any]]] = {}
    for nm, rs in curves.items():
        for r in rs:
            by_auc.setdefault(float(r["target_auc"]), {})[nm] = r
    for a in sorted(by_auc):
        cells = by_auc[a]
        first = next(iter(cells.values()))
        row: list[Any] = [a, f"{first['realised_auc']:.3f} "
                             f"[{first['realised_auc_min']:.3f}, {first['realised_auc_max']:.3f}]"]
        if "Maj1" in refs:
            m = refs["Maj1"]
            row.append(Estimate(m["accuracy"], m["accuracy_lo"], m["accuracy_hi"], m["n_problems"]))
        row += [Estimate(c["accuracy"], c["accuracy_lo"], c["accuracy_hi"], c["n_problems"])
                if (c := cells.get(nm)) else None for nm in names]
        if scr:
            c = cells[scr]
            row += [_diff(c), f"{c['cost_ratio']:.2f}",
                    ",".join(str(k) for k in (c.get("k_chosen") or []))]
        table.add_row(*row)
    for nm, r in refs.items():
        table.notes.append(f"{nm}: {Estimate(r['accuracy'], r['accuracy_lo'], r['accuracy_hi']).fmt()}"
                           " (independent of the evaluator)")
    table.notes += list(notes)
    return table


def wandb_quality(rows: Sequence[Mapping[str, Any]], run: Any, key: str = "evaluator_quality"
                  ) -> None:
    """Log the rows as a numeric ``wandb.Table`` (accuracies as fractions) and a line plot
    (accuracy in % against the target AUC, Maj1 and Pass@N as flat lines)."""
    import wandb

    cols = ["target_auc", "strategy", "accuracy", "accuracy_lo", "accuracy_hi", "vs_maj1",
            "vs_maj1_lo", "vs_maj1_hi", "cost_ratio", "realised_auc", "seed_sd", "n_problems"]
    data = [[_num(r.get(c)) if c != "strategy" else str(r[c]) for c in cols]
            for r in rows]  # references (Maj1, Pass@N, random pick) have target_auc None
    run.log({f"tables/{key}": wandb.Table(columns=cols, data=data)})
    curves, refs = _curves(rows), _refs(rows)
    xs = [float(r["target_auc"]) for r in next(iter(curves.values()))]
    ys, keys = [], []
    for nm, rs in curves.items():
        ys.append([100 * float(r["accuracy"]) for r in rs])
        keys.append(nm)
    for nm in ("Maj1", "Pass@N"):
        if nm in refs:
            ys.append([100 * float(refs[nm]["accuracy"])] * len(xs))
            keys.append(nm)
    run.log({f"plots/{key}": wandb.plot.line_series(
        xs=xs, ys=ys, keys=keys, title="accuracy (%) vs evaluator AUC", xname="target AUC")})


def _num(v: Any) -> float | None:
    return None if v is None else float(v)

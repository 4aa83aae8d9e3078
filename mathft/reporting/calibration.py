"""How good a trained evaluator is on a cell's scored candidates: discrimination (AUC, pooled
and within problem, with bootstrap CIs over problems) and calibration (a reliability diagram
of S_cls, paper Eq. 7, against the fraction of candidates that are correct; ECE and Brier).

Re-ranking only compares candidates of the same problem, so the within-problem AUC is what
RR.All and SCR depend on; the pooled AUC (what ``val/auc`` measures during training) also
rewards scoring easy problems above hard ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathft.reporting.plots import _save_png_atomic
from mathft.reporting.tables import Number, Table
from mathft.rerank.bootstrap import bootstrap_ci
from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.quality import auc_score, within_problem_aucs


def _pooled_auc_ci(problems: Sequence[ProblemCandidates], n_boot: int, seed: int
                   ) -> tuple[float, float, float]:
    """Pooled AUC and its percentile CI, resampling problems (their candidates stay together)."""
    scores = [np.asarray(pc.scores, dtype=np.float64) for pc in problems]
    labels = [np.asarray(pc.correct, dtype=bool) for pc in problems]
    point = auc_score(np.concatenate(scores), np.concatenate(labels))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(problems), size=len(problems))
        y = np.concatenate([labels[i] for i in idx])
        if 0 < y.sum() < y.size:
            boots.append(auc_score(np.concatenate([scores[i] for i in idx]), y))
    if not boots:
        return point, float("nan"), float("nan")
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return point, float(lo), float(hi)


def evaluator_diagnostics(problems: Sequence[ProblemCandidates], n_bins: int = 10,
                          n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Counts, AUCs with 95% CIs, reliability bins, ECE and Brier score of the scores of
    ``problems`` (every problem scored). AUCs are NaN when a class is missing."""
    if not problems or any(pc.scores is None for pc in problems):
        raise ValueError("evaluator_diagnostics: every problem needs evaluator scores")
    s = np.concatenate([np.asarray(pc.scores, dtype=np.float64) for pc in problems])
    y = np.concatenate([np.asarray(pc.correct, dtype=np.float64) for pc in problems])
    within = within_problem_aucs(problems)
    auc, auc_lo, auc_hi = _pooled_auc_ci(problems, n_boot, seed) if 0 < y.sum() < y.size \
        else (float("nan"),) * 3
    w = bootstrap_ci(within, n_boot=n_boot, seed=seed)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                         "mean_score": float(s[m].mean()), "frac_correct": float(y[m].mean())})
    ece = float(sum(b["n"] * abs(b["frac_correct"] - b["mean_score"]) for b in bins) / s.size)
    return {
        "n_problems": len(problems), "n_candidates": int(s.size), "n_correct": int(y.sum()),
        "n_problems_both_classes": len(within),
        "auc": auc, "auc_lo": auc_lo, "auc_hi": auc_hi,
        "within_auc": w.mean, "within_auc_lo": w.lo, "within_auc_hi": w.hi,
        "mean_score": float(s.mean()), "ece": ece, "brier": float(np.mean((s - y) ** 2)),
        "bins": bins,
    }


def plot_reliability(diag: Mapping[str, Any], path: str | os.PathLike[str],
                     title: str | None = None) -> Path:
    """Reliability diagram (fraction correct against mean S_cls per bin, the diagonal is a
    calibrated evaluator) above the histogram of scores; written atomically as a PNG."""
    fig = Figure(figsize=(5.0, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    bins = diag["bins"]
    top.plot([0, 1], [0, 1], ls="--", color="grey", label="calibrated")
    top.plot([b["mean_score"] for b in bins], [b["frac_correct"] for b in bins], marker="o",
             label=f"evaluator (ECE {diag['ece']:.3f})")
    top.axhline(diag["n_correct"] / max(1, diag["n_candidates"]), color="C2", ls=":",
                label="fraction correct overall")
    top.set_ylabel("fraction of candidates correct")
    top.set_ylim(-0.02, 1.02)
    top.legend(loc="upper left", fontsize=8)
    aucs = f"AUC {diag['auc']:.3f} (within problem {diag['within_auc']:.3f})"
    top.set_title(f"{title}\n{aucs}" if title else aucs, fontsize=9)
    centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
    bottom.bar(centres, [b["n"] for b in bins], width=[b["hi"] - b["lo"] for b in bins],
               edgecolor="white")
    bottom.set_yscale("log")
    bottom.set_xlabel("evaluator score S_cls")
    bottom.set_ylabel("candidates")
    bottom.set_xlim(0, 1)
    return _save_png_atomic(fig, Path(path))


def _ci(lo: float, hi: float) -> str:
    return "–" if np.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"


def verdict(diag: Mapping[str, Any]) -> str:
    """One line: can this evaluator rank a problem's candidates better than chance?"""
    lo, hi = diag["within_auc_lo"], diag["within_auc_hi"]
    if np.isnan(lo):
        return ("verdict: no test problem has both correct and incorrect candidates, so the "
                "evaluator's ranking cannot be measured; re-ranking cannot change accuracy.")
    if lo > 0.5:
        return (f"verdict: the evaluator ranks correct candidates above incorrect ones within a "
                f"problem better than chance (within-problem AUC CI [{lo:.3f}, {hi:.3f}] "
                "excludes 0.5).")
    return (f"verdict: the evaluator does not rank better than chance within a problem "
            f"(within-problem AUC CI [{lo:.3f}, {hi:.3f}] includes 0.5 or lies below it): where "
            "a re-ranking row differs from Maj1 here, the difference is not the evaluator's "
            "merit.")


def evaluator_table(diag: Mapping[str, Any], train: Mapping[str, Any], title: str) -> Table:
    """The cell's evaluator: what it was trained on (``train``: its step's ``counts`` and final
    ``val/auc``) and how it scores the test candidates."""
    t = Table("evaluator", f"{title}: the evaluator on the test candidates", ["measure", "value",
                                                                               "95% CI"])
    counts = train.get("counts") or {}
    if counts.get("correct") or counts.get("incorrect"):  # pointwise objectives (xent)
        t.add_row("training examples: correct / incorrect",
                  f"{counts.get('correct', 0)} / {counts.get('incorrect', 0)}", "–")
    if counts.get("pairs"):  # pairwise objectives (margin, bt): one correct, one incorrect
        t.add_row("training pairs (correct, incorrect of one problem) / problems",
                  f"{counts['pairs']} / {counts.get('problems_used', '?')}", "–")
    if train.get("val_auc") is not None:
        t.add_row("validation AUC (end of training)", Number(float(train["val_auc"]), ".3f"), "–")
    t.add_row("test candidates: correct / all",
              f"{diag['n_correct']} / {diag['n_candidates']}", "–")
    t.add_row("test AUC, pooled", Number(diag["auc"], ".3f"), _ci(diag["auc_lo"], diag["auc_hi"]))
    t.add_row(f"test AUC within problem ({diag['n_problems_both_classes']} problems with both "
              "classes)", Number(diag["within_auc"], ".3f"),
              _ci(diag["within_auc_lo"], diag["within_auc_hi"]))
    t.add_row("expected calibration error (10 bins)", Number(diag["ece"], ".3f"), "–")
    t.add_row("Brier score", Number(diag["brier"], ".3f"), "–")
    t.notes.append(verdict(diag))
    t.notes.append("pooled AUC: all test candidates ranked together (CI: problems resampled); "
                   "within problem: mean AUC over problems with both classes, what re-ranking "
                   "uses; calibration: calibration.png (fraction correct against S_cls).")
    return t


def log_reliability(run: Any, diag: Mapping[str, Any], png: Path) -> None:
    """Log the reliability diagram and the evaluator's test AUCs / ECE to a W&B run."""
    import wandb  # local: only with a W&B run

    run.log({"figures/calibration": wandb.Image(str(png))})
    run.summary.update({f"evaluator/{k}": diag[k] for k in
                        ("auc", "auc_lo", "auc_hi", "within_auc", "ece", "brier")})

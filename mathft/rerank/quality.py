"""Evaluator-quality sweep: how good must a verifier be before re-ranking beats majority vote?

On real candidate stores (answers, clusters and ``correct`` labels of sampled solutions), the
trained evaluator's S_cls is replaced by a *synthetic evaluator of controlled quality*: for a
target AUC ``a`` the scores follow the binormal model

    z = correct * d + eps,   eps ~ N(0, 1),   d = sqrt(2) * Phi^-1(a),   score = sigmoid(z)

so that P(score of a correct candidate > score of an incorrect one) = Phi(d / sqrt(2)) = a in
expectation. ``a = 0.5`` is an evaluator that ignores correctness (random pick), ``a = 1`` a
perfect one (correct candidates in (0.5, 1), incorrect ones in (0, 0.5), random order within a
class). The sigmoid is monotone, so it changes no ranking; it only maps z into [0, 1].

Noise is seeded per (seed, problem, sample): candidate i of a problem gets the i-th draw of a
generator seeded by ``(seed, crc32(problem_id))`` (candidates in ``sample_idx`` order, as
:func:`~mathft.rerank.candidates.build_problem_candidates` gives them). The same noise is used
for every ``a`` (common random numbers), so the curves against ``a`` are paired and smooth.

For each ``a`` and each of ``n_seeds`` seeds, every strategy is evaluated on the test store;
the K of the Top-K strategies is chosen on the validation store, with the synthetic scores of
the same ``a`` and seed, by :func:`~mathft.rerank.selection.select_on_validation` -- never on
test. Per problem, the strategy's correctness (and cost) is then averaged over the seeds, and
the bootstrap over problems (:mod:`mathft.rerank.bootstrap`) of these seed-averaged values
gives the CI: it is the CI of the *expected* accuracy of an evaluator of quality ``a`` on these
problems (evaluator noise integrated out by the seed average, problem sampling resampled).
The spread between seeds is reported separately (``seed_sd``). Paired differences to Maj1 are
paired bootstraps of the per-problem seed-averaged difference.

Quick use::

    from mathft.rerank.quality import quality_sweep
    sweep = quality_sweep(test_problems, val_problems, aucs=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    sweep.rows()          # one row per (a, strategy): accuracy, CI, vs Maj1, cost, realised AUC
    sweep.breakeven()     # smallest a where each strategy beats Maj1 (point and significant)
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.metrics import MetricResult, evaluate_many, pass_at_k_metric
from mathft.rerank.selection import DEFAULT_PARAM, select_on_validation
from mathft.rerank.strategies import Strategy, make_strategy

DEFAULT_AUCS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
DEFAULT_STRATEGIES = ("rr_all", "rr_topk", "wrr", "wrr_topk")
SCR = "rr_topk"


def binormal_d(auc: float) -> float:
    """Separation ``d = sqrt(2) * Phi^-1(auc)`` of the binormal model (``inf`` at ``auc = 1``)."""
    auc = float(auc)
    if not 0.0 < auc <= 1.0:
        raise ValueError(f"target AUC must be in (0, 1], got {auc}")
    if auc == 1.0:
        return math.inf
    return math.sqrt(2.0) * NormalDist().inv_cdf(auc)


def _noise(pc: ProblemCandidates, seed: int) -> np.ndarray:
    """N(0, 1) per candidate: draw i of a generator seeded by (seed, crc32(problem_id))."""
    rng = np.random.default_rng([int(seed), zlib.crc32(pc.problem_id.encode("utf-8"))])
    return rng.standard_normal(pc.n)


def synthetic_scores(pc: ProblemCandidates, auc: float, seed: int = 0) -> tuple[float, ...]:
    """Scores in [0, 1] of a binormal evaluator with expected AUC ``auc`` on ``pc``'s candidates."""
    d = binormal_d(auc)
    y = np.asarray(pc.correct, dtype=np.float64)
    eps = _noise(pc, seed)
    if math.isinf(d):
        s = (y + 1.0 / (1.0 + np.exp(-eps))) / 2.0  # correct in (0.5, 1), incorrect in (0, 0.5)
    else:
        s = 1.0 / (1.0 + np.exp(-(y * d + eps)))
    return tuple(float(v) for v in s)


def with_synthetic_scores(
    problems: Sequence[ProblemCandidates], auc: float, seed: int = 0
) -> list[ProblemCandidates]:
    """The same problems (answers, clusters, labels) with synthetic evaluator scores."""
    return [dataclasses.replace(pc, scores=synthetic_scores(pc, auc, seed)) for pc in problems]


def auc_score(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """ROC AUC by ranks (Mann-Whitney U, ties count one half); NaN if a class is absent."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    avg_rank = first + (counts + 1) / 2.0  # 1-based average rank of each distinct value
    ranks = avg_rank[inv]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pooled_auc(problems: Sequence[ProblemCandidates]) -> float:
    """AUC of the problems' scores over all their candidates pooled (as ``val/auc`` measures)."""
    if any(pc.scores is None for pc in problems):
        raise ValueError("pooled_auc: every problem needs scores")
    scores = [s for pc in problems for s in pc.scores]  # type: ignore[union-attr]
    labels = [c for pc in problems for c in pc.correct]
    return auc_score(scores, labels)


def within_problem_aucs(problems: Sequence[ProblemCandidates]) -> list[float]:
    """The AUC within each scored problem that has both correct and incorrect candidates."""
    return [auc_score(pc.scores, pc.correct) for pc in problems  # type: ignore[arg-type]
            if pc.scores is not None and 0 < sum(pc.correct) < pc.n]


def within_problem_auc(problems: Sequence[ProblemCandidates]) -> float:
    """Mean AUC within a problem, over problems with both correct and incorrect candidates.

    What re-ranking needs (it only compares candidates of the same problem); the pooled AUC
    also rewards scoring easy problems above hard ones. NaN when no problem has both classes.
    """
    vals = within_problem_aucs(problems)
    return float(np.mean(vals)) if vals else float("nan")


@dataclass(frozen=True, eq=False)
class QualityPoint:
    """All strategies at one target AUC, seed-averaged per problem.

    ``results[label]``: per-problem correctness and cost averaged over the seeds.
    ``seed_accuracy[label]``: the accuracy of each seed. ``chosen[label]``: the K chosen on
    validation for each seed (tuned strategies only). ``realised_auc``/``realised_val_auc``:
    the pooled AUC of the synthetic scores on test/validation, one per seed.
    """

    target_auc: float
    results: dict[str, MetricResult]
    seed_accuracy: dict[str, list[float]]
    chosen: dict[str, list[int]]
    realised_auc: list[float]
    realised_val_auc: list[float]


@dataclass(frozen=True, eq=False)
class QualitySweep:
    """Outcome of :func:`quality_sweep`: references (Maj1, Pass@N, random pick) and points."""

    references: dict[str, MetricResult]
    points: list[QualityPoint]
    labels: list[str]
    n_seeds: int
    n_boot: int = 1000
    boot_seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def maj1(self) -> MetricResult:
        return self.references["Maj1"]

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per (target AUC, strategy), plus the references once (a = None)."""
        kw = {"n_boot": self.n_boot, "seed": self.boot_seed}
        out: list[dict[str, Any]] = []
        for name, ref in self.references.items():
            ci = ref.ci(**kw)
            out.append({"target_auc": None, "strategy": name, "accuracy": ref.accuracy,
                        "accuracy_lo": ci.lo, "accuracy_hi": ci.hi, "cost_ratio": ref.cost_ratio,
                        "n_problems": len(ref.problem_ids)})
        for pt in self.points:
            auc = np.asarray(pt.realised_auc, dtype=np.float64)
            for label in self.labels:
                res = pt.results[label]
                ci = res.ci(**kw)
                d = res.compare(self.maj1, **kw)
                accs = pt.seed_accuracy[label]
                out.append({
                    "target_auc": pt.target_auc, "strategy": label,
                    "accuracy": res.accuracy, "accuracy_lo": ci.lo, "accuracy_hi": ci.hi,
                    "vs_maj1": d.diff, "vs_maj1_lo": d.lo, "vs_maj1_hi": d.hi,
                    "vs_maj1_p": d.p_value, "cost_ratio": res.cost_ratio,
                    "seed_sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                    "k_chosen": list(pt.chosen.get(label, [])) or None,
                    "realised_auc": _nan(np.nanmean, auc),
                    "realised_auc_min": _nan(np.nanmin, auc),
                    "realised_auc_max": _nan(np.nanmax, auc),
                    "realised_val_auc": _nan(np.nanmean, pt.realised_val_auc),
                    "n_problems": len(res.problem_ids), "n_seeds": self.n_seeds,
                })
        return out

    def breakeven(self) -> dict[str, dict[str, Any]]:
        """Per strategy: the smallest target AUC from which it beats Maj1 at every larger a.

        ``point``: where the paired difference to Maj1 turns positive for good (linearly
        interpolated between grid points; the grid's first a if positive throughout);
        ``significant``: the first grid a from which the difference's CI excludes 0 for every
        larger a; ``cost``: the strategy's evaluator cost ratio at the first grid a >= ``point``
        (for RR.Top-K: SCR's saving over RR.All is 1 - cost). None where it never happens.
        """
        rows = [r for r in self.rows() if r["target_auc"] is not None]
        out: dict[str, dict[str, Any]] = {}
        for label in self.labels:
            cost = {r["target_auc"]: r["cost_ratio"] for r in rows if r["strategy"] == label}
            rs = sorted((r for r in rows if r["strategy"] == label), key=lambda r: r["target_auc"])
            a = [r["target_auc"] for r in rs]
            diff = [r["vs_maj1"] for r in rs]
            lo = [r["vs_maj1_lo"] for r in rs]
            point = _first_for_good(a, diff)
            sig = _first_for_good(a, lo, interpolate=False)
            grid_point = None if point is None else min(x for x in a if x >= point - 1e-12)
            out[label] = {"point": point, "significant": sig,
                          "cost": cost.get(grid_point) if grid_point is not None else None}
        return out


def _nan(fn: Any, values: Sequence[float] | np.ndarray) -> float:
    """``fn`` over the non-NaN values; NaN when there are none (a store with one class)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(fn(arr)) if np.isfinite(arr).any() else float("nan")


def _first_for_good(a: list[float], v: list[float], interpolate: bool = True) -> float | None:
    """Smallest x with v > 0 at every grid point >= x (interpolated crossing), else None."""
    if not a or v[-1] <= 0:
        return None
    j = len(v) - 1
    while j > 0 and v[j - 1] > 0:
        j -= 1
    if j == 0 or not interpolate:
        return float(a[j])
    x0, x1, y0, y1 = a[j - 1], a[j], v[j - 1], v[j]
    return float(x0 + (x1 - x0) * (0.0 - y0) / (y1 - y0))


def _spec(s: str | Mapping[str, Any] | Strategy, k_grid: Sequence[int]) -> tuple[Strategy, bool]:
    """(strategy, tuned): a bare name of a Top-K strategy is tuned on validation."""
    strat = make_strategy(s)
    tuned = strat.name in ("rr_topk", "wrr_topk") and DEFAULT_PARAM[strat.name] not in strat.params
    if tuned and not k_grid:
        raise ValueError(f"{strat.name}: K is chosen on validation but k_grid is empty")
    return strat, tuned


def _label(strat: Strategy, tuned: bool) -> str:
    if tuned:
        return {"rr_topk": "RR.Top-K", "wrr_topk": "W.RR.Top-K"}[strat.name]
    return strat.label


def quality_sweep(
    test: Sequence[ProblemCandidates],
    val: Sequence[ProblemCandidates] | None,
    aucs: Sequence[float] = DEFAULT_AUCS,
    n_seeds: int = 5,
    strategies: Sequence[str | Mapping[str, Any]] = DEFAULT_STRATEGIES,
    k_grid: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16),
    seed: int = 0,
    n_boot: int = 1000,
    n_sub: int | None = None,
    n_subsets: int = 100,
) -> QualitySweep:
    """Accuracy of every strategy against the target AUC of a synthetic evaluator.

    ``test`` / ``val``: problems of the test and validation candidate stores (their scores,
    if any, are ignored and replaced). Bare ``rr_topk`` / ``wrr_topk`` have K chosen on
    ``val`` (required then) for each (a, seed) over ``k_grid``; ``{"name": "rr_topk", "k": 8}``
    is a fixed-K row. Seeds ``seed .. seed + n_seeds - 1`` draw the scores; ``seed`` also
    seeds the bootstrap. ``n_sub``/``n_subsets`` evaluate at N' < N (as everywhere else).
    """
    if not test:
        raise ValueError("quality_sweep: no test problems")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    specs = [_spec(s, k_grid) for s in strategies]
    if any(t for _, t in specs) and not val:
        raise ValueError("quality_sweep: K of the Top-K strategies is chosen on validation "
                         "problems; give a validation store (or fixed-K strategies)")
    labels = [_label(s, t) for s, t in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"quality_sweep: duplicate strategies {labels}")
    ekw = {"n_sub": n_sub, "n_subsets": n_subsets, "seed": seed}
    maj1, pass_n = evaluate_many(test, ["maj1", "pass_at_n"], **ekw)
    refs = {"Maj1": maj1, "Pass@N": pass_n, "Random pick (Pass@1)": pass_at_k_metric(test, k=1)}
    ids = tuple(pc.problem_id for pc in test)
    points = []
    for a in sorted(set(float(x) for x in aucs)):
        per: dict[str, list[MetricResult]] = {lab: [] for lab in labels}
        chosen: dict[str, list[int]] = {}
        r_auc, r_val = [], []
        for s in range(seed, seed + n_seeds):
            t_s = with_synthetic_scores(test, a, s)
            v_s = with_synthetic_scores(val, a, s) if val else None
            r_auc.append(pooled_auc(t_s))
            r_val.append(pooled_auc(v_s) if v_s else float("nan"))
            fixed = [(lab, st) for lab, (st, t) in zip(labels, specs) if not t]
            for lab, res in zip([f[0] for f in fixed], evaluate_many(t_s, [f[1] for f in fixed],
                                                                      **ekw)):
                per[lab].append(res)
            for lab, (st, t) in zip(labels, specs):
                if not t:
                    continue
                # the validation rows' CIs are not used here: a small n_boot keeps it fast
                rep = select_on_validation(v_s, t_s, st, list(k_grid), n_boot=20, **ekw)
                per[lab].append(rep.test)
                chosen.setdefault(lab, []).append(rep.chosen)
        results = {}
        for lab, rs in per.items():
            results[lab] = MetricResult(
                name=lab, problem_ids=ids,
                correct=np.mean([r.correct for r in rs], axis=0),
                cost=np.mean([r.cost for r in rs], axis=0),
                params={"target_auc": a, "n_seeds": n_seeds},
            )
        points.append(QualityPoint(
            target_auc=a, results=results,
            seed_accuracy={lab: [r.accuracy for r in rs] for lab, rs in per.items()},
            chosen=chosen, realised_auc=r_auc, realised_val_auc=r_val,
        ))
    meta = {"aucs": [p.target_auc for p in points], "k_grid": list(k_grid), "seed": seed,
            "n_sub": n_sub, "model": "binormal", "n_val_problems": len(val or [])}
    return QualitySweep(refs, points, labels, n_seeds, n_boot=n_boot, boot_seed=seed, meta=meta)

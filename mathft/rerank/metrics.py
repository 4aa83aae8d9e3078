"""Metrics of docs/method.md#metrics: Pass@1, Pass@N / unbiased pass@k, Maj1@N, MajK@N, and the accuracy
and evaluator cost ratio of any re-ranking strategy, all from one candidate store.

Every metric keeps its per-problem values (:class:`MetricResult`) so that bootstrap
confidence intervals over problems (:mod:`mathft.rerank.bootstrap`) and paired
comparisons can be computed. Metrics at N' < N average over subsets of the N samples
(docs/method.md#subsets, fixed seed): all C(N, N') subsets when there are at most ``n_subsets`` of them
(exact), else ``n_subsets`` random subsets drawn from a generator seeded by
``(seed, crc32(problem_id))`` -- the same subsets for every strategy, so comparisons
are paired. On a subset, clusters are the restriction of the N-sample clusters re-ranked
by their size within the subset (:meth:`ProblemCandidates.subset`).
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mathft.rerank.bootstrap import CI, PairedCI, bootstrap_ci, paired_bootstrap
from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.strategies import Strategy, cost_ratio, is_correct, make_strategy


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): ``1 - C(n-c, k) / C(n, k)``.

    Computed in the numerically stable product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``.
    ``n`` samples of which ``c`` are correct; requires ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


@dataclass(frozen=True, eq=False)
class MetricResult:
    """Per-problem values of one metric over a problem set.

    ``correct[p]`` is in [0, 1]: 0/1 for a single selection, the fraction of subsets
    solved when averaged over subsets (or the pass@k probability). ``cost[p]`` is the
    mean evaluator cost ratio (solutions scored / N') on problem p.
    """

    name: str
    problem_ids: tuple[str, ...]
    correct: np.ndarray
    cost: np.ndarray
    params: dict[str, Any]

    @property
    def accuracy(self) -> float:
        """Mean over problems (0 for an empty set)."""
        return float(self.correct.mean()) if self.correct.size else 0.0

    @property
    def cost_ratio(self) -> float:
        """Mean evaluator cost ratio over problems."""
        return float(self.cost.mean()) if self.cost.size else 0.0

    def ci(self, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> CI:
        """Percentile bootstrap CI of the accuracy over problems."""
        return bootstrap_ci(self.correct, n_boot=n_boot, alpha=alpha, seed=seed)

    def restrict(self, keep: Collection[str]) -> MetricResult:
        """The same metric on the problems in ``keep`` only (their order kept)."""
        idx = [i for i, p in enumerate(self.problem_ids) if p in keep]
        return replace(self, problem_ids=tuple(self.problem_ids[i] for i in idx),
                       correct=self.correct[idx], cost=self.cost[idx])

    def compare(
        self, other: MetricResult, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
    ) -> PairedCI:
        """Paired bootstrap of ``self - other`` on the same problems (same order required)."""
        if self.problem_ids != other.problem_ids:
            raise ValueError(
                f"cannot pair {self.name!r} and {other.name!r}: different problem sets/order"
            )
        return paired_bootstrap(self.correct, other.correct, n_boot=n_boot, alpha=alpha, seed=seed)

    def to_row(self, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
        """A flat dict (for tables / W&B): name, accuracy with its 95% CI, cost ratio, n."""
        ci = self.ci(n_boot=n_boot, seed=seed)
        return {
            "name": self.name,
            **self.params,
            "accuracy": self.accuracy,
            "accuracy_lo": ci.lo,
            "accuracy_hi": ci.hi,
            "cost_ratio": self.cost_ratio,
            "n_problems": len(self.problem_ids),
        }


def subset_indices(
    problem_id: str, n: int, n_sub: int, n_subsets: int = 100, seed: int = 0
) -> list[tuple[int, ...]]:
    """The sample subsets of size ``n_sub`` out of ``n`` used for N' < N (sorted indices).

    All of them when C(n, n_sub) <= n_subsets, else ``n_subsets`` random ones, seeded by
    ``(seed, crc32(problem_id))`` so that the same problem gets the same subsets everywhere.
    """
    if not 1 <= n_sub <= n:
        raise ValueError(f"problem {problem_id!r}: subset size {n_sub} not in [1, {n}]")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    if math.comb(n, n_sub) <= n_subsets:
        return list(itertools.combinations(range(n), n_sub))
    rng = np.random.default_rng([seed, zlib.crc32(problem_id.encode("utf-8"))])
    return [
        tuple(sorted(int(i) for i in rng.choice(n, size=n_sub, replace=False)))
        for _ in range(n_subsets)
    ]


def evaluate_strategy(
    problems: Sequence[ProblemCandidates],
    strategy: Strategy | str | dict[str, Any],
    n_sub: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
    **params: Any,
) -> MetricResult:
    """Accuracy and cost ratio of a strategy, per problem (docs/method.md#evaluator-cost-ratio).

    ``n_sub=None`` (or N) uses all N samples once; smaller ``n_sub`` averages over subsets
    (see :func:`subset_indices`).
    """
    strat = make_strategy(strategy, **params)
    return evaluate_many(problems, [strat], n_sub=n_sub, n_subsets=n_subsets, seed=seed)[0]


def _views(
    pc: ProblemCandidates, n_sub: int | None, n_subsets: int, seed: int
) -> list[ProblemCandidates]:
    if n_sub is None or n_sub == pc.n:
        return [pc]
    return [pc.subset(s) for s in subset_indices(pc.problem_id, pc.n, n_sub, n_subsets, seed)]


def evaluate_many(
    problems: Sequence[ProblemCandidates],
    strategies: Sequence[Strategy | str | dict[str, Any]],
    n_sub: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> list[MetricResult]:
    """:func:`evaluate_strategy` for several strategies on the same subsets (built once)."""
    strats = [make_strategy(s) for s in strategies]
    correct = np.zeros((len(strats), len(problems)), dtype=np.float64)
    cost = np.zeros((len(strats), len(problems)), dtype=np.float64)
    for p, pc in enumerate(problems):
        views = _views(pc, n_sub, n_subsets, seed)
        for j, strat in enumerate(strats):
            sels = [(v, strat(v)) for v in views]
            correct[j, p] = float(np.mean([is_correct(v, s) for v, s in sels]))
            cost[j, p] = float(np.mean([cost_ratio(v, s) for v, s in sels]))
    return [
        MetricResult(
            name=strat.label if n_sub is None else f"{strat.label}@{n_sub}",
            problem_ids=tuple(pc.problem_id for pc in problems),
            correct=correct[j],
            cost=cost[j],
            params={"strategy": strat.name, **strat.params, "n_sub": n_sub},
        )
        for j, strat in enumerate(strats)
    ]


def pass_at_1(greedy: Sequence[bool], problem_ids: Sequence[str]) -> MetricResult:
    """Pass@1 (docs/method.md#metrics): the greedy solution is correct; see ``candidates.greedy_correct``."""
    if len(greedy) != len(problem_ids):
        raise ValueError(f"{len(greedy)} greedy results for {len(problem_ids)} problems")
    return MetricResult(
        name="Pass@1",
        problem_ids=tuple(problem_ids),
        correct=np.asarray(greedy, dtype=np.float64),
        cost=np.zeros(len(problem_ids)),
        params={},
    )


def pass_at_k_metric(problems: Sequence[ProblemCandidates], k: int | None = None) -> MetricResult:
    """Pass@k per problem with the unbiased estimator; ``k=None`` gives Pass@N (any correct)."""
    vals = []
    for pc in problems:
        kk = pc.n if k is None else k
        vals.append(pass_at_k(pc.n, sum(pc.correct), kk) if pc.n else 0.0)
    return MetricResult(
        name="Pass@N" if k is None else f"Pass@{k}",
        problem_ids=tuple(pc.problem_id for pc in problems),
        correct=np.asarray(vals, dtype=np.float64),
        cost=np.zeros(len(problems)),
        params={"k": k},
    )


def maj1_at_n(
    problems: Sequence[ProblemCandidates], n_sub: int | None = None, n_subsets: int = 100, seed: int = 0
) -> MetricResult:
    """Maj1@N: one solution from the largest cluster (averaged over subsets for N' < N)."""
    return evaluate_strategy(problems, "maj1", n_sub=n_sub, n_subsets=n_subsets, seed=seed)


def majk_at_n(
    problems: Sequence[ProblemCandidates],
    k: int,
    n_sub: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> MetricResult:
    """MajK@N oracle: the gold answer is among the K largest clusters."""
    return evaluate_strategy(problems, "majk", n_sub=n_sub, n_subsets=n_subsets, seed=seed, k=k)

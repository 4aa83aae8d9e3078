"""Per-problem input of every re-ranking strategy and metric (docs/method.md#metrics).

A :class:`ProblemCandidates` holds the N sampled candidates of one problem: their final
answers, their correctness (answer equivalent to the gold answer, docs/grading.md#3-equivalence-the-order-of-the-checks), optional
evaluator scores ``S_cls`` in [0, 1] (docs/method.md#evaluator-score) and the answer-cluster id of each
candidate (docs/grading.md: ids ordered by cluster size desc, then first index; ``None`` = no
answer, which forms no cluster).

Strategies are pure functions of this record, so tests can build it from hand-made
cluster ids; :func:`build_problem_candidates` builds it from candidate-store rows
(:class:`mathft.records.Candidate`) and a score dict ``{(problem_id, sample_idx): score}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from mathft.grading.cluster import cluster_answers, relabel_by_size
from mathft.records import Candidate

ClusterFn = Callable[[Sequence[str | None]], list[int | None]]


def canonical_cluster_ids(clusters: Sequence[int | None]) -> tuple[int | None, ...]:
    """Relabel a partition so ids follow docs/grading.md order: size desc, then first index.

    Any hashable labelling is accepted; the result numbers clusters 0..C-1. Restricting a
    clustering to a subset of candidates and relabelling with this function gives the
    clustering of the subset under the same equivalence classes (used for N' < N).
    """
    return tuple(relabel_by_size(clusters))


@dataclass(frozen=True)
class ProblemCandidates:
    """The N candidates of one problem, with clusters (canonical ids) and optional scores."""

    problem_id: str
    answers: tuple[str | None, ...]
    correct: tuple[bool, ...]
    clusters: tuple[int | None, ...]
    scores: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.correct)
        where = f"problem {self.problem_id!r}"
        if len(self.answers) != n or len(self.clusters) != n:
            raise ValueError(
                f"{where}: answers ({len(self.answers)}), correct ({n}) and clusters "
                f"({len(self.clusters)}) must have the same length"
            )
        if self.scores is not None:
            if len(self.scores) != n:
                raise ValueError(f"{where}: {len(self.scores)} scores for {n} candidates")
            for i, s in enumerate(self.scores):
                if not (math.isfinite(s) and 0.0 <= s <= 1.0):
                    raise ValueError(f"{where}: score of candidate {i} is {s!r}, not in [0, 1]")
        for i, (a, c) in enumerate(zip(self.answers, self.clusters)):
            if (a is None) != (c is None):
                raise ValueError(
                    f"{where}: candidate {i} has answer {a!r} but cluster {c!r}; "
                    "exactly the no-answer candidates must have cluster None"
                )
        if canonical_cluster_ids(self.clusters) != tuple(self.clusters):
            raise ValueError(
                f"{where}: cluster ids {list(self.clusters)} are not canonical (0..C-1 by size "
                "desc, then first index); pass them through canonical_cluster_ids()"
            )

    @classmethod
    def from_lists(
        cls,
        answers: Sequence[str | None],
        correct: Sequence[bool],
        clusters: Sequence[int | None] | None = None,
        scores: Sequence[float] | None = None,
        problem_id: str = "",
        cluster_fn: ClusterFn | None = None,
    ) -> ProblemCandidates:
        """Build from plain lists; clusters are relabelled canonically, or computed.

        Without ``clusters`` they come from ``cluster_fn`` (default
        :func:`mathft.grading.cluster_answers`).
        """
        if clusters is None:
            clusters = (cluster_fn or _default_cluster_fn())(list(answers))
        return cls(
            problem_id=problem_id,
            answers=tuple(answers),
            correct=tuple(bool(c) for c in correct),
            clusters=canonical_cluster_ids(clusters),
            scores=None if scores is None else tuple(float(s) for s in scores),
        )

    @property
    def n(self) -> int:
        """Number of candidates N."""
        return len(self.correct)

    @cached_property
    def members(self) -> tuple[tuple[int, ...], ...]:
        """Candidate indices of each cluster, in cluster order (largest first)."""
        out: list[list[int]] = [[] for _ in range(self.n_clusters)]
        for i, c in enumerate(self.clusters):
            if c is not None:
                out[c].append(i)
        return tuple(tuple(m) for m in out)

    @cached_property
    def n_clusters(self) -> int:
        """Number of answer clusters C (no-answer candidates excluded)."""
        return 1 + max((c for c in self.clusters if c is not None), default=-1)

    @property
    def n_answered(self) -> int:
        """Number of candidates with a final answer."""
        return sum(c is not None for c in self.clusters)

    def subset(self, indices: Sequence[int]) -> ProblemCandidates:
        """The candidates at ``indices`` (in that order), with clusters restricted and re-ranked.

        The cluster order is recomputed on the subset (size within the subset desc, then
        first index within the subset), as if the subset had been clustered afresh.
        """
        idx = list(indices)
        if len(set(idx)) != len(idx) or any(not 0 <= i < self.n for i in idx):
            raise ValueError(f"problem {self.problem_id!r}: bad subset indices {idx}")
        return ProblemCandidates(
            problem_id=self.problem_id,
            answers=tuple(self.answers[i] for i in idx),
            correct=tuple(self.correct[i] for i in idx),
            clusters=canonical_cluster_ids([self.clusters[i] for i in idx]),
            scores=None if self.scores is None else tuple(self.scores[i] for i in idx),
        )


def _default_cluster_fn() -> ClusterFn:
    return cluster_answers


def build_problem_candidates(
    candidates: Iterable[Candidate],
    scores: Mapping[tuple[str, int], float] | None = None,
    cluster_fn: ClusterFn | None = None,
) -> list[ProblemCandidates]:
    """Group candidate-store rows by problem (sorted by ``sample_idx``) and cluster answers.

    ``scores`` maps ``(problem_id, sample_idx)`` to ``S_cls``; when given it must cover every
    candidate (a missing key is an error naming it). Problems keep first-seen order.
    """
    groups: dict[str, dict[int, Candidate]] = {}
    for cand in candidates:
        group = groups.setdefault(cand.problem_id, {})
        if cand.sample_idx in group:
            raise ValueError(
                f"duplicate candidate (problem_id={cand.problem_id!r}, "
                f"sample_idx={cand.sample_idx}) in the candidate store"
            )
        group[cand.sample_idx] = cand
    fn = cluster_fn or _default_cluster_fn()
    out: list[ProblemCandidates] = []
    for pid, group in groups.items():
        rows = [group[k] for k in sorted(group)]
        row_scores: list[float] | None = None
        if scores is not None:
            row_scores = []
            for r in rows:
                if r.key not in scores:
                    raise KeyError(
                        f"no evaluator score for candidate (problem_id={r.problem_id!r}, "
                        f"sample_idx={r.sample_idx}); score every candidate first"
                    )
                row_scores.append(float(scores[r.key]))
        out.append(
            ProblemCandidates.from_lists(
                answers=[r.answer for r in rows],
                correct=[r.correct for r in rows],
                scores=row_scores,
                problem_id=pid,
                cluster_fn=fn,
            )
        )
    return out


def greedy_correct(
    greedy: Iterable[Candidate], problem_ids: Sequence[str]
) -> list[bool]:
    """Pass@1 per problem (docs/method.md#metrics): correctness of sample 0 of a greedy candidate store.

    Returned in the order of ``problem_ids``; a problem without a greedy candidate is an error.
    """
    by_pid = {c.problem_id: c.correct for c in greedy if c.sample_idx == 0}
    missing = [p for p in problem_ids if p not in by_pid]
    if missing:
        raise KeyError(
            f"{len(missing)} problem(s) have no greedy candidate (sample_idx 0), e.g. "
            f"{missing[0]!r}; run greedy sampling on the same problems"
        )
    return [bool(by_pid[p]) for p in problem_ids]

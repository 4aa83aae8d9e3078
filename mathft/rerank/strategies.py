"""Re-ranking strategies of docs/method.md#strategies / the paper's §4.2 and Table 7.

Every strategy maps a :class:`~mathft.rerank.candidates.ProblemCandidates` to a
:class:`Selection`: the index of the chosen candidate (``None`` when nothing is
selectable; counted incorrect) and ``n_scored``, the number of candidates the evaluator
had to score. The evaluator cost ratio is ``n_scored / N`` (RR.All = 1, Maj1 = 0).

Conventions (documented choices where the paper is silent):

* Clusters are the answer-equivalence classes in docs/grading.md order (size desc, then first
  index); "top-K clusters" are the first K of that order, so ties in size at the K-th
  place go to the cluster whose first member came earlier.
* Ties between candidates: higher S_cls, then larger cluster, then earlier index.
  Ties between clusters: higher cluster score, then larger cluster, then earlier first index.
* Maj1 / MajK pick the first member of a cluster; scored strategies (W.RR, Maj1.TopN)
  pick the member with the highest S_cls (ties: earlier index) -- every member carries
  the same answer, so this matters only if the grader is not transitive.
* RR.All scores all N candidates, including those without an answer (as the paper
  does; cost 1). If a no-answer candidate wins it is selected and counts as incorrect.
  ``include_unanswered=False`` scores only answered ones. Maj1.TopN likewise ranks all N.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mathft.rerank.candidates import ProblemCandidates


class Selection(NamedTuple):
    """Chosen candidate index (``None`` = nothing chosen, incorrect) and evaluator calls."""

    index: int | None
    n_scored: int


def is_correct(pc: ProblemCandidates, sel: Selection) -> bool:
    """Whether a selection picked a correct candidate (``None`` counts as incorrect)."""
    return sel.index is not None and pc.correct[sel.index]


def cost_ratio(pc: ProblemCandidates, sel: Selection) -> float:
    """Evaluator cost ratio of one selection: solutions scored / N (docs/method.md#evaluator-cost-ratio)."""
    return sel.n_scored / pc.n if pc.n else 0.0


def _need_scores(pc: ProblemCandidates, name: str) -> tuple[float, ...]:
    if pc.scores is None:
        raise ValueError(
            f"strategy {name} needs evaluator scores but problem {pc.problem_id!r} has none; "
            "score the candidates (ScoreStore) and pass them to build_problem_candidates"
        )
    return pc.scores


def _check_k(k: int, what: str = "k") -> None:
    if k < 1:
        raise ValueError(f"{what} must be >= 1, got {k}")


def _cluster_size(pc: ProblemCandidates, i: int) -> int:
    c = pc.clusters[i]
    return 0 if c is None else len(pc.members[c])


def _best_candidate(pc: ProblemCandidates, pool: list[int], scores: tuple[float, ...]) -> int | None:
    """Highest S_cls in ``pool``; ties: larger cluster, then earlier index."""
    if not pool:
        return None
    return min(pool, key=lambda i: (-scores[i], -_cluster_size(pc, i), i))


def _best_member(members: list[int] | tuple[int, ...], scores: tuple[float, ...]) -> int:
    return min(members, key=lambda i: (-scores[i], i))


def maj1(pc: ProblemCandidates) -> Selection:
    """Maj1@N: the first member of the largest cluster (majority vote; no evaluator)."""
    if pc.n_clusters == 0:
        return Selection(None, 0)
    return Selection(pc.members[0][0], 0)


def majk(pc: ProblemCandidates, k: int) -> Selection:
    """MajK@N oracle: correct iff a top-K cluster holds a correct candidate.

    Returns a correct member of the top-K clusters when there is one (earliest cluster,
    then earliest index), else the Maj1 choice; no evaluator calls.
    """
    _check_k(k)
    for members in pc.members[:k]:
        for i in members:
            if pc.correct[i]:
                return Selection(i, 0)
    return maj1(pc)


def rr_all(pc: ProblemCandidates, include_unanswered: bool = True) -> Selection:
    """RR.All: the candidate with the highest S_cls over all N (paper: every sample scored)."""
    scores = _need_scores(pc, "rr_all")
    pool = [i for i in range(pc.n) if include_unanswered or pc.clusters[i] is not None]
    return Selection(_best_candidate(pc, pool, scores), len(pool))


def rr_topk(pc: ProblemCandidates, k: int) -> Selection:
    """RR.Top-K (SCR, the paper's method, K=8): score only members of the K largest
    clusters and pick the highest S_cls among them."""
    _check_k(k)
    scores = _need_scores(pc, "rr_topk")
    pool = [i for members in pc.members[:k] for i in members]
    return Selection(_best_candidate(pc, sorted(pool), scores), len(pool))


def _weighted(pc: ProblemCandidates, k: int | None, name: str) -> Selection:
    scores = _need_scores(pc, name)
    clusters = pc.members if k is None else pc.members[:k]
    if not clusters:
        return Selection(None, 0)
    n_scored = sum(len(m) for m in clusters)
    # Cluster ids are already in (size desc, first index) order, so the id breaks ties.
    best = min(
        range(len(clusters)),
        key=lambda c: (-sum(scores[i] for i in clusters[c]), c),
    )
    return Selection(_best_member(clusters[best], scores), n_scored)


def wrr(pc: ProblemCandidates) -> Selection:
    """W.RR: each cluster scored by the sum of its members' S_cls; best cluster wins.

    Scores every answered candidate (no-answer candidates form no cluster)."""
    return _weighted(pc, None, "wrr")


def wrr_topk(pc: ProblemCandidates, k: int) -> Selection:
    """W.RR.Top-K (Table 7 "W.RR.MajK"): W.RR restricted to the K largest clusters."""
    _check_k(k)
    return _weighted(pc, k, "wrr_topk")


def maj1_topn(pc: ProblemCandidates, n: int, include_unanswered: bool = True) -> Selection:
    """Maj1.TopN: keep the ``n`` highest-scored candidates, then majority vote among them.

    Ranking needs every candidate scored (cost 1, or answered/N without unanswered ones).
    Vote ties: larger full cluster, then earlier first index (the docs/grading.md cluster order);
    the winner's highest-scored kept member is chosen. ``n >= N`` keeps all: the Maj1 cluster.
    """
    _check_k(n, "n")
    scores = _need_scores(pc, "maj1_topn")
    pool = [i for i in range(pc.n) if include_unanswered or pc.clusters[i] is not None]
    kept = sorted(sorted(pool, key=lambda i: (-scores[i], i))[:n])
    votes: dict[int, list[int]] = {}
    for i in kept:
        c = pc.clusters[i]
        if c is not None:
            votes.setdefault(c, []).append(i)
    if not votes:
        return Selection(None, len(pool))
    best = min(votes, key=lambda c: (-len(votes[c]), c))
    return Selection(_best_member(votes[best], scores), len(pool))


def pass_at_n(pc: ProblemCandidates) -> Selection:
    """Pass@N oracle: a correct candidate if any (upper bound of every strategy)."""
    for i, ok in enumerate(pc.correct):
        if ok:
            return Selection(i, 0)
    return Selection(0 if pc.n else None, 0)


StrategyFn = Callable[..., Selection]

REGISTRY: dict[str, tuple[StrategyFn, str]] = {
    "pass_at_n": (pass_at_n, "Pass@N"),
    "maj1": (maj1, "Maj1"),
    "majk": (majk, "Maj{k}"),
    "rr_all": (rr_all, "RR.All"),
    "rr_topk": (rr_topk, "RR.Top-{k}"),
    "wrr": (wrr, "W.RR"),
    "wrr_topk": (wrr_topk, "W.RR.Top-{k}"),
    "maj1_topn": (maj1_topn, "Maj1.Top{n}"),
}
ALIASES = {"scr": "rr_topk", "rr_majk": "rr_topk", "wrr_majk": "wrr_topk"}
NEEDS_SCORES = frozenset({"rr_all", "rr_topk", "wrr", "wrr_topk", "maj1_topn"})


@dataclass(frozen=True)
class Strategy:
    """A named strategy with bound parameters, callable on a ProblemCandidates."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = ALIASES.get(self.name, self.name)
        if name not in REGISTRY:
            raise ValueError(f"unknown strategy {self.name!r}; known: {sorted(REGISTRY)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", dict(self.params))

    def __call__(self, pc: ProblemCandidates) -> Selection:
        return REGISTRY[self.name][0](pc, **self.params)

    @property
    def label(self) -> str:
        """Paper-style name, e.g. ``RR.Top-8``."""
        return REGISTRY[self.name][1].format(**self.params)

    @property
    def needs_scores(self) -> bool:
        return self.name in NEEDS_SCORES

    def with_params(self, **params: Any) -> Strategy:
        return Strategy(self.name, {**self.params, **params})


def make_strategy(spec: str | Mapping[str, Any] | Strategy, **params: Any) -> Strategy:
    """Build a strategy from a name (+ params) or a Hydra-style mapping.

    ``make_strategy("rr_topk", k=8)`` == ``make_strategy({"name": "rr_topk", "k": 8})``.
    """
    if isinstance(spec, Strategy):
        return spec.with_params(**params) if params else spec
    if isinstance(spec, str):
        return Strategy(spec, params)
    cfg = dict(spec)
    if "name" not in cfg:
        raise ValueError(f"strategy config {cfg} has no 'name' key")
    name = cfg.pop("name")
    return Strategy(str(name), {**cfg, **params})

"""Helpers for the re-ranking tests: problems from plain answers with exact-string clusters."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from mathft.rerank import ProblemCandidates, canonical_cluster_ids

GOLD = "a"


def exact_clusters(answers: Sequence[str | None]) -> list[int | None]:
    """Cluster by exact string equality (stands in for mathft.grading.cluster_answers)."""
    ids: dict[str, int] = {}
    out: list[int | None] = []
    for a in answers:
        out.append(None if a is None else ids.setdefault(a, len(ids)))
    return list(canonical_cluster_ids(out))


def make_pc(
    answers: Sequence[str | None],
    scores: Sequence[float] | None = None,
    gold: str = GOLD,
    problem_id: str = "p",
) -> ProblemCandidates:
    """A problem whose candidates are correct iff their answer equals ``gold``."""
    return ProblemCandidates.from_lists(
        answers=list(answers),
        correct=[a == gold for a in answers],
        clusters=exact_clusters(answers),
        scores=scores,
        problem_id=problem_id,
    )


SCORE = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0))


@st.composite
def problems(draw: st.DrawFn, min_n: int = 1, max_n: int = 12) -> ProblemCandidates:
    """Random problem: answers over a small alphabet (many ties), random scores."""
    n = draw(st.integers(min_n, max_n))
    answers = draw(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=n, max_size=n))
    scores = draw(st.lists(SCORE, min_size=n, max_size=n))
    return make_pc(answers, scores, problem_id=draw(st.sampled_from(["p0", "p1", "p2"])))

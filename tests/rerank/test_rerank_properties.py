"""Property tests relating the strategies (docs/method.md#strategies), on random answers and scores.

Answers are correct iff they equal the gold answer, so correctness is a function of the
cluster; "same cluster" therefore implies "same correctness".
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rerank_util import make_pc, problems

from mathft.rerank import (
    ProblemCandidates,
    cost_ratio,
    is_correct,
    maj1,
    maj1_topn,
    majk,
    pass_at_n,
    rr_all,
    rr_topk,
    wrr,
    wrr_topk,
)

S = settings(max_examples=150, deadline=None)


def _cluster(pc: ProblemCandidates, idx: int | None) -> int | None:
    return None if idx is None else pc.clusters[idx]


@S
@given(pc=problems())
def test_topk_with_all_clusters_equals_rr_all(pc: ProblemCandidates) -> None:
    """K >= C: RR.Top-K is RR.All over the answered candidates (same index and cost).

    Against RR.All over all N (the paper's), the index is the same whenever RR.All's winner
    has an answer; otherwise RR.All is incorrect, so RR.Top-K is never worse."""
    k = max(pc.n_clusters, 1)
    top = rr_topk(pc, k)
    assert top == rr_topk(pc, k + 3) == rr_all(pc, include_unanswered=False)
    full = rr_all(pc)
    if full.index is not None and pc.clusters[full.index] is not None:
        assert top.index == full.index
    assert is_correct(pc, top) >= is_correct(pc, full)


@S
@given(pc=problems())
def test_k1_picks_the_majority_cluster(pc: ProblemCandidates) -> None:
    """K = 1: RR.Top-1 and W.RR.Top-1 choose a member of Maj1's cluster (cluster 0), so the
    same answer and correctness; the index may differ (best-scored member vs first)."""
    m = maj1(pc)
    for sel in (rr_topk(pc, 1), wrr_topk(pc, 1), majk(pc, 1)):
        assert _cluster(pc, sel.index) == _cluster(pc, m.index)
        assert is_correct(pc, sel) == is_correct(pc, m)
    assert rr_topk(pc, 1).n_scored == (len(pc.members[0]) if pc.n_clusters else 0)


@S
@given(pc=problems(), c=st.floats(0.0, 1.0))
def test_constant_scores_reduce_to_maj1(pc: ProblemCandidates, c: float) -> None:
    """Constant scores: W.RR and Maj1.TopN (N' >= N) pick exactly Maj1's candidate."""
    flat = make_pc(list(pc.answers), [c] * pc.n)
    assert wrr(flat).index == maj1(flat).index
    assert maj1_topn(flat, flat.n).index == maj1(flat).index


@S
@given(pc=problems(), extra=st.integers(0, 3))
def test_maj1_topn_all_is_maj1_cluster(pc: ProblemCandidates, extra: int) -> None:
    sel = maj1_topn(pc, pc.n + extra)
    assert _cluster(pc, sel.index) == _cluster(pc, maj1(pc).index)
    assert sel.n_scored == pc.n


@S
@given(pc=problems())
def test_cost_and_monotonicity(pc: ProblemCandidates) -> None:
    ks = range(1, pc.n_clusters + 3)
    for fn in (rr_topk, wrr_topk):
        costs = [cost_ratio(pc, fn(pc, k)) for k in ks]
        assert all(0.0 <= x <= 1.0 for x in costs)
        assert costs == sorted(costs)  # non-decreasing in K
    assert cost_ratio(pc, rr_all(pc)) == 1.0 and cost_ratio(pc, maj1(pc)) == 0.0
    assert 0.0 <= cost_ratio(pc, wrr(pc)) <= 1.0
    majk_ok = [is_correct(pc, majk(pc, k)) for k in ks]
    assert majk_ok == sorted(majk_ok)  # MajK@N non-decreasing in K
    assert majk_ok[0] >= is_correct(pc, maj1(pc))  # MajK >= Maj1


@S
@given(pc=problems(), k=st.integers(1, 6))
def test_pass_at_n_bounds_every_strategy(pc: ProblemCandidates, k: int) -> None:
    best = is_correct(pc, pass_at_n(pc))
    assert best == any(pc.correct)
    for sel in (maj1(pc), majk(pc, k), rr_all(pc), rr_topk(pc, k), wrr(pc), wrr_topk(pc, k),
                maj1_topn(pc, k)):
        assert is_correct(pc, sel) <= best
        assert sel.index is None or 0 <= sel.index < pc.n

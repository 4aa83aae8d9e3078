"""Hand-computed cases for every re-ranking strategy (docs/method.md#strategies) and the input record."""

from __future__ import annotations

import pytest
from rerank_util import make_pc

from mathft.records import Candidate
from mathft.rerank import (
    ProblemCandidates,
    Selection,
    build_problem_candidates,
    canonical_cluster_ids,
    cost_ratio,
    greedy_correct,
    is_correct,
    maj1,
    maj1_topn,
    majk,
    make_strategy,
    pass_at_n,
    rr_all,
    rr_topk,
    wrr,
    wrr_topk,
)

# gold "5"; clusters: "5" -> 0 (idx 0,2,6), "3" -> 1 (idx 1,4), "7" -> 2 (idx 5); idx 3 no answer
ANSWERS = ["5", "3", "5", None, "3", "7", "5"]
SCORES = [0.2, 0.9, 0.3, 0.95, 0.8, 0.85, 0.1]


@pytest.fixture
def pc() -> ProblemCandidates:
    return make_pc(ANSWERS, SCORES, gold="5")


def test_clusters_are_canonical(pc: ProblemCandidates) -> None:
    assert pc.clusters == (0, 1, 0, None, 1, 2, 0)
    assert pc.members == ((0, 2, 6), (1, 4), (5,))
    assert (pc.n, pc.n_clusters, pc.n_answered) == (7, 3, 6)
    assert canonical_cluster_ids([5, 7, 7, None, 5, 9]) == (0, 1, 1, None, 0, 2)
    assert canonical_cluster_ids(["x", "y", "y"]) == (1, 0, 0)


def test_maj1_majk(pc: ProblemCandidates) -> None:
    assert maj1(pc) == Selection(0, 0)
    assert majk(pc, 1) == Selection(0, 0)
    wrong = make_pc(ANSWERS, SCORES, gold="7")  # gold is the 3rd cluster
    assert not is_correct(wrong, maj1(wrong))
    assert not is_correct(wrong, majk(wrong, 2))
    assert majk(wrong, 3) == Selection(5, 0)
    assert is_correct(wrong, majk(wrong, 3))


def test_rr_all(pc: ProblemCandidates) -> None:
    assert rr_all(pc) == Selection(3, 7)  # the no-answer candidate wins: incorrect
    assert not is_correct(pc, rr_all(pc))
    assert cost_ratio(pc, rr_all(pc)) == 1.0
    assert rr_all(pc, include_unanswered=False) == Selection(1, 6)


def test_rr_topk(pc: ProblemCandidates) -> None:
    assert rr_topk(pc, 1) == Selection(2, 3)
    assert is_correct(pc, rr_topk(pc, 1))
    assert rr_topk(pc, 2) == Selection(1, 5)
    assert rr_topk(pc, 3) == Selection(1, 6)
    assert rr_topk(pc, 8) == Selection(1, 6)
    assert cost_ratio(pc, rr_topk(pc, 2)) == pytest.approx(5 / 7)


def test_wrr(pc: ProblemCandidates) -> None:
    # cluster sums: 0.6, 1.7, 0.85 -> cluster 1, its best member is idx 1
    assert wrr(pc) == Selection(1, 6)
    assert wrr_topk(pc, 1) == Selection(2, 3)
    assert wrr_topk(pc, 3) == wrr(pc)


def test_maj1_topn(pc: ProblemCandidates) -> None:
    # top-3: idx 3 (no answer), 1 ("3"), 5 ("7"): one vote each -> larger cluster "3"
    assert maj1_topn(pc, 3) == Selection(1, 7)
    assert maj1_topn(pc, 5) == Selection(1, 7)  # adds idx 4 ("3") and 2 ("5")
    assert maj1_topn(pc, 7) == Selection(2, 7)  # all kept: "5" wins, best member idx 2
    assert maj1_topn(pc, 1) == Selection(None, 7)  # only the no-answer candidate kept
    assert maj1_topn(pc, 1, include_unanswered=False) == Selection(1, 6)


def test_pass_at_n(pc: ProblemCandidates) -> None:
    assert pass_at_n(pc) == Selection(0, 0)
    none = make_pc(ANSWERS, SCORES, gold="9")
    assert not is_correct(none, pass_at_n(none))


def test_ties() -> None:
    # equal sizes: the cluster seen first is the majority
    assert maj1(make_pc(["b", "a", "a", "b"])) == Selection(0, 0)
    # equal scores: larger cluster, then earlier index
    pc = make_pc(["x", "y", "y"], [0.5, 0.5, 0.4])
    assert rr_all(pc) == Selection(1, 3)
    pc = make_pc(["x", "y", "z"], [0.5, 0.7, 0.7])
    assert rr_all(pc) == Selection(1, 3)
    # equal cluster sums: larger cluster
    pc = make_pc(["a", "b", "b"], [0.8, 0.4, 0.4])
    assert wrr(pc) == Selection(1, 3)
    # equal sums and sizes: earlier cluster
    pc = make_pc(["a", "b"], [0.6, 0.6])
    assert wrr(pc) == Selection(0, 2)


def test_no_answers_at_all() -> None:
    pc = make_pc([None, None], [0.3, 0.6])
    assert maj1(pc) == Selection(None, 0)
    assert majk(pc, 4) == Selection(None, 0)
    assert rr_all(pc) == Selection(1, 2)
    assert not is_correct(pc, rr_all(pc))
    assert rr_topk(pc, 8) == Selection(None, 0)
    assert wrr(pc) == Selection(None, 0)
    assert maj1_topn(pc, 2) == Selection(None, 2)


def test_registry_and_errors(pc: ProblemCandidates) -> None:
    s = make_strategy({"name": "rr_topk", "k": 8})
    assert s.label == "RR.Top-8" and s(pc) == rr_topk(pc, 8) and s.needs_scores
    assert make_strategy("scr", k=2)(pc) == rr_topk(pc, 2)
    assert make_strategy("maj1_topn", n=5).label == "Maj1.Top5"
    assert make_strategy(s, k=1)(pc) == rr_topk(pc, 1)
    from omegaconf import OmegaConf  # a Hydra `rerank` group node works as is

    assert make_strategy(OmegaConf.create({"name": "wrr_topk", "k": 2}))(pc) == wrr_topk(pc, 2)
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("rr_best")
    with pytest.raises(ValueError, match="k must be >= 1"):
        rr_topk(pc, 0)
    unscored = make_pc(ANSWERS)
    with pytest.raises(ValueError, match="needs evaluator scores"):
        rr_all(unscored)
    assert maj1(unscored) == Selection(0, 0)


def test_record_validation() -> None:
    with pytest.raises(ValueError, match="not canonical"):
        ProblemCandidates("p", ("a", "b", "b"), (True, False, False), (0, 1, 1))
    with pytest.raises(ValueError, match="cluster None"):
        ProblemCandidates("p", ("a", None), (True, False), (0, 0))
    with pytest.raises(ValueError, match=r"score of candidate 1 is 1.5"):
        make_pc(["a", "b"], [0.2, 1.5])
    with pytest.raises(ValueError, match="same length"):
        ProblemCandidates("p", ("a",), (True, False), (0,))


def test_subset_reorders_clusters(pc: ProblemCandidates) -> None:
    sub = pc.subset([1, 2, 4])  # "3", "5", "3": "3" is now the majority
    assert sub.clusters == (0, 1, 0)
    assert sub.correct == (False, True, False)
    assert sub.scores == (0.9, 0.3, 0.8)
    assert maj1(sub) == Selection(0, 0)
    with pytest.raises(ValueError, match="bad subset"):
        pc.subset([1, 1])


def _cand(pid: str, i: int, ans: str | None, ok: bool) -> Candidate:
    return Candidate(problem_id=pid, sample_idx=i, text=f"... {ans}", answer=ans, correct=ok,
                     model_id="m")


def test_build_problem_candidates() -> None:
    from rerank_util import exact_clusters

    rows = [_cand("q", 2, "5", True), _cand("p", 1, None, False), _cand("q", 0, "4", False),
            _cand("p", 0, "1", True), _cand("q", 1, "5", True)]
    scores = {r.key: 0.1 * (j + 1) for j, r in enumerate(rows)}
    out = build_problem_candidates(rows, scores, cluster_fn=exact_clusters)
    assert [p.problem_id for p in out] == ["q", "p"]
    q = out[0]
    assert q.answers == ("4", "5", "5") and q.correct == (False, True, True)
    assert q.clusters == (1, 0, 0)
    assert q.scores == pytest.approx((0.3, 0.5, 0.1))
    assert maj1(q) == Selection(1, 0)
    with pytest.raises(KeyError, match="sample_idx=1"):
        build_problem_candidates(rows, {k: v for k, v in scores.items() if k != ("q", 1)},
                                 cluster_fn=exact_clusters)
    with pytest.raises(ValueError, match="duplicate candidate"):
        build_problem_candidates(rows + [_cand("p", 0, "1", True)], cluster_fn=exact_clusters)
    assert build_problem_candidates(rows, cluster_fn=exact_clusters)[1].scores is None


def test_build_with_default_grading_clusters() -> None:
    grading = pytest.importorskip("mathft.grading")
    if not hasattr(grading, "cluster_answers"):
        pytest.skip("mathft.grading.cluster_answers not available yet")
    rows = [_cand("p", 0, "\\frac{1}{2}", True), _cand("p", 1, "0.5", True),
            _cand("p", 2, "3", False), _cand("p", 3, None, False)]
    (pc,) = build_problem_candidates(rows)
    assert pc.clusters == (0, 0, 1, None)


def test_greedy_correct() -> None:
    rows = [_cand("p", 0, "1", True), _cand("q", 0, "2", False)]
    assert greedy_correct(rows, ["q", "p"]) == [False, True]
    with pytest.raises(KeyError, match="'r'"):
        greedy_correct(rows, ["r"])

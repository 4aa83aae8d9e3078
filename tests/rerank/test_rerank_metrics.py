"""Metrics (docs/method.md#metrics): unbiased pass@k vs brute force, subset averaging vs brute force."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rerank_util import exact_clusters, make_pc, problems

from mathft.rerank import (
    ProblemCandidates,
    evaluate_many,
    evaluate_strategy,
    is_correct,
    maj1_at_n,
    majk_at_n,
    make_strategy,
    pass_at_1,
    pass_at_k,
    pass_at_k_metric,
    subset_indices,
)


def test_pass_at_k_known_values() -> None:
    assert pass_at_k(10, 1, 1) == pytest.approx(0.1)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(4, 2, 3) == 1.0
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 0)


def test_pass_at_k_matches_enumeration() -> None:
    for n in range(1, 8):
        for c in range(n + 1):
            vec = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))
                brute = sum(any(vec[i] for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)


def test_pass_at_k_numerically_stable_for_large_n() -> None:
    for n, c, k in [(1000, 1, 1), (200, 3, 100), (500, 7, 64), (64, 60, 8)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9)


def test_metric_vectors_and_pass_at_1() -> None:
    ps = [make_pc(["a", "a", "b"], problem_id="x"), make_pc(["b", "b", "a"], problem_id="y"),
          make_pc(["c", None, "b"], problem_id="z")]
    m1 = maj1_at_n(ps)
    assert m1.correct.tolist() == [1.0, 0.0, 0.0] and m1.accuracy == pytest.approx(1 / 3)
    assert m1.cost_ratio == 0.0 and m1.problem_ids == ("x", "y", "z")
    assert majk_at_n(ps, 2).correct.tolist() == [1.0, 1.0, 0.0]
    pn = pass_at_k_metric(ps)
    assert pn.name == "Pass@N" and pn.correct.tolist() == [1.0, 1.0, 0.0]
    p1 = pass_at_1([True, False, False], ["x", "y", "z"])
    assert p1.accuracy == pytest.approx(1 / 3)
    row = m1.to_row(n_boot=200)
    assert row["accuracy_lo"] <= row["accuracy"] <= row["accuracy_hi"]
    assert row["name"] == "Maj1" and row["n_problems"] == 3


def _brute_subset_mean(pc: ProblemCandidates, strat_spec: dict, n_sub: int) -> tuple[float, float]:
    """Average over all subsets, re-clustering each subset from scratch."""
    strat = make_strategy(strat_spec)
    accs, costs = [], []
    for s in itertools.combinations(range(pc.n), n_sub):
        answers = [pc.answers[i] for i in s]
        sub = ProblemCandidates.from_lists(
            answers, [pc.correct[i] for i in s], clusters=exact_clusters(answers),
            scores=None if pc.scores is None else [pc.scores[i] for i in s])
        sel = strat(sub)
        accs.append(is_correct(sub, sel))
        costs.append(sel.n_scored / n_sub)
    return float(np.mean(accs)), float(np.mean(costs))


SPECS = [{"name": "maj1"}, {"name": "majk", "k": 2}, {"name": "rr_all"},
         {"name": "rr_topk", "k": 2}, {"name": "wrr"}, {"name": "wrr_topk", "k": 1},
         {"name": "maj1_topn", "n": 2}]


@settings(max_examples=40, deadline=None)
@given(pc=problems(min_n=2, max_n=7), data=st.data())
def test_subset_average_matches_brute_force(pc: ProblemCandidates, data: st.DataObject) -> None:
    n_sub = data.draw(st.integers(1, pc.n))
    for spec in SPECS:
        res = evaluate_strategy([pc], spec, n_sub=n_sub, n_subsets=10_000)
        acc, cost = _brute_subset_mean(pc, spec, n_sub)
        assert res.correct[0] == pytest.approx(acc, abs=1e-12), spec
        assert res.cost[0] == pytest.approx(cost, abs=1e-12), spec
    # Pass@N' averaged over all subsets is exactly the unbiased pass@k estimator
    pass_sub = evaluate_strategy([pc], "pass_at_n", n_sub=n_sub, n_subsets=10_000)
    assert pass_sub.correct[0] == pytest.approx(pass_at_k(pc.n, sum(pc.correct), n_sub))


def test_random_subsets_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(3)
    answers = list(rng.choice(["a", "b", "c", "d"], size=14, p=[0.35, 0.3, 0.2, 0.15]))
    pc = make_pc([str(a) for a in answers], rng.uniform(size=14).tolist())
    s1 = subset_indices("p", 14, 4, n_subsets=300, seed=0)
    assert s1 == subset_indices("p", 14, 4, n_subsets=300, seed=0)
    assert s1 != subset_indices("p", 14, 4, n_subsets=300, seed=1)
    assert s1 != subset_indices("q", 14, 4, n_subsets=300, seed=0)
    assert all(len(set(s)) == 4 and list(s) == sorted(s) for s in s1)
    assert len(subset_indices("p", 6, 3, n_subsets=20)) == 20  # C(6,3)=20: exhaustive
    for spec in SPECS[:4]:
        approx = evaluate_strategy([pc], spec, n_sub=4, n_subsets=2000, seed=0).correct[0]
        exact, _ = _brute_subset_mean(pc, spec, 4)  # C(14,4)=1001 subsets
        assert approx == pytest.approx(exact, abs=0.04), spec
    with pytest.raises(ValueError, match="subset size 15"):
        evaluate_strategy([pc], "maj1", n_sub=15)


def test_evaluate_many_and_paired_compare() -> None:
    ps = [make_pc(["a", "b", "b", "a", "c"], [0.9, 0.1, 0.2, 0.8, 0.3], problem_id=f"p{i}")
          for i in range(4)] + [make_pc(["b", "b", "a"], [0.1, 0.2, 0.9], problem_id="q")]
    specs = ["maj1", {"name": "rr_topk", "k": 2}, "rr_all"]
    for n_sub in (None, 3):
        many = evaluate_many(ps, specs, n_sub=n_sub, n_subsets=7, seed=5)
        for spec, res in zip(specs, many):
            one = evaluate_strategy(ps, spec, n_sub=n_sub, n_subsets=7, seed=5)
            assert res.name == one.name
            assert res.correct.tolist() == one.correct.tolist()
            assert res.cost.tolist() == one.cost.tolist()
    maj, top2, _ = evaluate_many(ps, specs)
    assert maj.correct.tolist() == [1, 1, 1, 1, 0] and top2.correct.tolist() == [1] * 5
    d = top2.compare(maj, n_boot=500)
    assert d.diff == pytest.approx(0.2) and d.lo >= 0.0
    with pytest.raises(ValueError, match="cannot pair"):
        top2.compare(evaluate_strategy(ps[:2], "maj1"))

"""cluster_answers: partition, ordering, None handling, cost of canonicalization."""

from __future__ import annotations

import time

from mathft.grading import cluster_answers, is_equiv
from mathft.grading import equivalence as eq


def test_basic_partition_and_order() -> None:
    answers = ["2", "\\frac{1}{2}", None, "0.5", "\\dfrac12", "2.0", "\\sqrt{4}", "7", None]
    ids = cluster_answers(answers)
    # {1/2 x3} size 3 (first idx 1), {2 x3} size 3 (first idx 0) -> 2s first; then {7}
    assert ids == [0, 1, None, 1, 1, 0, 0, 2, None]


def test_empty_and_all_none() -> None:
    assert cluster_answers([]) == []
    assert cluster_answers([None, None]) == [None, None]


def test_ties_broken_by_first_index() -> None:
    assert cluster_answers(["b", "a", "a", "b", "c"]) == [0, 1, 1, 0, 2]


def test_symbolic_members() -> None:
    answers = [
        "(x+1)^2",
        "x^2+2x+1",
        "x^2+1",
        "\\frac{\\sqrt{2}}{2}",
        "\\frac{1}{\\sqrt2}",
        "A",
        "(A)",
        "\\text{(A)}",
    ]
    ids = cluster_answers(answers)
    assert ids[0] == ids[1] != ids[2]
    assert ids[3] == ids[4]
    assert ids[5] == ids[6] == ids[7] == 0
    assert len(set(ids)) == 4


def test_consistent_with_is_equiv() -> None:
    answers = [
        "\\frac{1}{2004!}",
        "\\frac{1}{2006!}",
        "(1,2)",
        "(2,1)",
        "[1,2)",
        "(1,2]",
        "0.5",
        "5",
        "\\{1,2\\}",
        "\\{2,1\\}",
    ]
    ids = cluster_answers(answers)
    for i, a in enumerate(answers):
        for j, b in enumerate(answers):
            assert (ids[i] == ids[j]) == is_equiv(a, b), (a, b)


def test_numeric_answers_do_not_touch_worker(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(eq._worker, "call", lambda *a, **k: calls.append(a) or False)
    answers = [str(i % 7) for i in range(64)] + ["\\frac{6}{2}", "3.0", "1,000", None]
    t = time.monotonic()
    ids = cluster_answers(answers)
    assert time.monotonic() - t < 0.5
    assert calls == []
    assert ids[64] == ids[65] == ids[3]


def test_worker_calls_scale_with_distinct_forms(monkeypatch) -> None:
    seen = []
    real = eq._worker.call

    def spy(msg, timeout, default):
        seen.append(msg)
        return real(msg, timeout, default)

    monkeypatch.setattr(eq._worker, "call", spy)
    eq._CACHE.clear()
    answers = ["x+1", "1+x", "x + 1", "2x", "x+1", "1 + x"] * 10 + ["x+1"] * 4
    ids = cluster_answers(answers)
    assert len(set(ids)) == 2
    # 64 answers, 3 distinct keys ("x+1", "1+x", "2x"): at most 3 worker comparisons
    assert len(seen) <= 3


def test_clock_times_cluster_apart() -> None:
    """On-the-hour times once parsed as H/0 (complex infinity) and all merged."""
    answers = ["12:00", "1:00", "12:00", "9:00 \\text{ p.m.}", "3:00 \\text{ p.m.}", "9:00"]
    assert cluster_answers(answers) == [0, 2, 0, 1, 3, 1]

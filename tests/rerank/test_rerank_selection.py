"""Choosing K / N on validation (docs/method.md#choosing-k-and-n-on-validation), and Figure 1 (accuracy and cost vs K)."""

from __future__ import annotations

import pytest
from rerank_util import make_pc

from mathft.reporting.plots import figure1, figure1_rows
from mathft.rerank import evaluate_strategy, select_on_validation
from mathft.rerank.selection import choose_value

# gold "a" is the 2nd cluster; a wrong 3rd-cluster answer scores best: only RR.Top-2 succeeds
K2_WINS = (["b", "b", "b", "a", "a", "c"], [0.1, 0.2, 0.1, 0.9, 0.8, 0.95])
# gold "a" is the majority; a wrong 3rd-cluster answer has the best score: K <= 2 wins
K1_WINS = (["a", "a", "a", "b", "b", "c"], [0.5, 0.4, 0.3, 0.2, 0.1, 0.99])


def _set(spec: tuple[list[str], list[float]], m: int, tag: str) -> list:
    return [make_pc(spec[0], spec[1], problem_id=f"{tag}{i}") for i in range(m)]


def test_k_chosen_on_validation_only() -> None:
    val = _set(K2_WINS, 6, "v") + _set(K1_WINS, 2, "v_")
    test = _set(K1_WINS, 10, "t")
    rep = select_on_validation(val, test, "rr_topk", grid=[4, 1, 2, 3], n_boot=200)
    assert rep.param == "k" and rep.chosen == 2
    assert [r["value"] for r in rep.validation] == [1, 2, 3, 4]
    assert [r["accuracy"] for r in rep.validation] == pytest.approx([0.25, 1.0, 0.0, 0.0])
    # test result is the chosen K on test, although K=1 would be as good there (reported only)
    assert rep.test.name == "RR.Top-2"
    assert rep.test.accuracy == evaluate_strategy(test, "rr_topk", k=2).accuracy == 1.0
    sweep = {r["value"]: r["accuracy"] for r in rep.test_sweep}
    assert sweep == {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0}
    assert rep.test_ci.lo <= rep.test.accuracy <= rep.test_ci.hi
    d = rep.to_dict()
    assert d["chosen"] == 2 and d["label"] == "RR.Top-2" and len(d["test_sweep"]) == 4


def test_ties_go_to_lower_cost_then_smaller_value() -> None:
    val = _set(K1_WINS, 4, "v")  # K = 1 and 2 both perfect; K = 1 is cheaper
    rep = select_on_validation(val, val, "wrr_topk", grid=[2, 1, 3], n_boot=100)
    assert rep.chosen == 1
    assert choose_value([{"value": 8, "accuracy": 0.5, "cost_ratio": 0.3},
                         {"value": 4, "accuracy": 0.5, "cost_ratio": 0.3},
                         {"value": 2, "accuracy": 0.4, "cost_ratio": 0.1}]) == 4
    rep_n = select_on_validation(val, val, {"name": "maj1_topn"}, grid=[1, 3, 6], n_boot=100)
    assert rep_n.param == "n" and rep_n.chosen == 3  # top-1 is the wrong "c"; 3 and 6 tie, both cost 1
    with pytest.raises(ValueError, match="validation"):
        select_on_validation([], val, "rr_topk", grid=[1])
    with pytest.raises(ValueError, match="no tunable"):
        select_on_validation(val, val, "rr_all", grid=[1])


def test_figure1_rows_and_png(tmp_path) -> None:
    probs = _set(K2_WINS, 3, "a") + _set(K1_WINS, 3, "b")
    path = tmp_path / "fig" / "figure1.png"
    rows = figure1(probs, [1, 2, 3, 4], path, n_boot=100)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["figure1.png"]  # no temp file left
    curve = [r for r in rows if r["k"] is not None]
    assert [r["series"] for r in curve] == ["RR.Top-K"] * 4
    assert [r["accuracy"] for r in curve] == pytest.approx([0.5, 1.0, 0.0, 0.0])
    assert [r["cost_ratio"] for r in curve] == pytest.approx([0.5, 5 / 6, 1.0, 1.0])
    refs = {r["series"]: r for r in rows if r["k"] is None}
    assert refs["Maj1"]["accuracy"] == 0.5 and refs["Maj1"]["cost_ratio"] == 0.0
    assert refs["RR.All"]["accuracy"] == 0.0 and refs["RR.All"]["cost_ratio"] == 1.0
    assert figure1_rows(probs, [2, 1], n_boot=100) == figure1_rows(probs, [1, 2], n_boot=100)

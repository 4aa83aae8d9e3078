"""The cell's metrics by MATH level: each row's accuracy and paired difference to Maj1 on
the problems of one level, so a reader sees where an overall difference comes from."""

from __future__ import annotations

from omegaconf import OmegaConf

from mathft.records import Candidate
from mathft.rerank.candidates import build_problem_candidates
from mathft.runs.report import cell_metrics, cell_tables


def _cand(pid: str, j: int, answer: str, correct: bool) -> Candidate:
    return Candidate(pid, j, f"so \\boxed{{{answer}}}", answer, correct, "m", {}, "h", 3)


def _stores() -> tuple[list, dict]:
    """Level 1: p1 and p2, where the majority is wrong but the evaluator finds the correct
    minority answer; level 2: p3, where the majority is right and the evaluator agrees."""
    cands, scores = [], {}
    for pid in ("p1", "p2"):
        for j, (ans, ok, s) in enumerate([("7", False, 0.1), ("7", False, 0.2),
                                          ("3", True, 0.9)]):
            cands.append(_cand(pid, j, ans, ok))
            scores[(pid, j)] = s
    for j, (ans, ok, s) in enumerate([("5", True, 0.8), ("5", True, 0.7), ("2", False, 0.1)]):
        cands.append(_cand("p3", j, ans, ok))
        scores[("p3", j)] = s
    return cands, scores


def test_rows_split_by_level_with_paired_differences() -> None:
    cands, scores = _stores()
    pcs = build_problem_candidates(cands, scores)
    rr = OmegaConf.create({"n_boot": 50, "seed": 0, "n_sub": None, "n_subsets": 10, "k": 2,
                           "topn": 2, "strategies": ["maj1", "rr_all"],
                           "select_on_validation": False})
    m = cell_metrics(rr, pcs, levels={"p1": 1, "p2": 1, "p3": 2})
    lv = m["by_level"]
    assert list(lv) == ["1", "2"] and lv["1"]["n_problems"] == 2 and lv["2"]["n_problems"] == 1
    rr_all = "RR.All"
    assert "Maj1" not in lv["1"]["rows"]  # the maj1 strategy's row is Maj1@N's
    one, two = lv["1"]["rows"], lv["2"]["rows"]
    assert one["Maj1@N"]["accuracy"] == 0.0 and one[rr_all]["accuracy"] == 1.0
    assert one[rr_all]["vs_maj1"] == 1.0 and one["Pass@N"]["accuracy"] == 1.0
    assert two["Maj1@N"]["accuracy"] == 1.0 and two[rr_all]["vs_maj1"] == 0.0
    # the overall difference (2 of 3 problems) is the level-1 difference, weighted
    assert abs(m["rerank"][rr_all]["vs_maj1"] - 2 / 3) < 1e-9
    table = cell_tables(m, "demo")[-1]
    assert table.name == "by_level"
    assert table.columns == ["row", "level 1 (2)", "level 2 (1)"]
    assert any(str(r[0]).endswith("- Maj1@3") for r in table.rows)


def test_without_levels_there_is_no_breakdown() -> None:
    cands, scores = _stores()
    rr = OmegaConf.create({"n_boot": 20, "seed": 0, "n_sub": None, "n_subsets": 10, "k": 2,
                           "topn": 2, "strategies": ["maj1"], "select_on_validation": False})
    m = cell_metrics(rr, build_problem_candidates(cands, scores))
    assert "by_level" not in m
    assert [t.name for t in cell_tables(m, "demo")] == ["generation", "rerank"]

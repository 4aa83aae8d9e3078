"""Paired differences between two cells (SSFT vs few-shot, exemplar styles, sequential vs
SSFT): each cell keeps its rows' per-problem values, and the difference is bootstrapped over
the problems both were evaluated on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mathft.records import Candidate
from mathft.rerank.candidates import build_problem_candidates
from mathft.runs.report import cell_metrics, paired_between

ROOT = Path(__file__).resolve().parents[2]
RR = OmegaConf.create({"n_boot": 200, "seed": 0, "n_sub": None, "n_subsets": 10, "k": 2,
                       "topn": 2, "strategies": ["maj1"], "select_on_validation": False})


def _metrics(solved: dict[str, int], order: list[str]) -> dict:
    """A cell whose samples of problem p are 3 votes, ``solved[p]`` of them correct (one answer
    for the correct ones, another for the rest)."""
    cands = []
    for pid in order:
        for j in range(3):
            ok = j < solved[pid]
            cands.append(Candidate(pid, j, "x", "1" if ok else "2", ok, "m", {}, "h", 3))
    return cell_metrics(RR, build_problem_candidates(cands))


def test_cells_keep_each_rows_per_problem_values() -> None:
    m = _metrics({"a": 3, "b": 1, "c": 0}, ["a", "b", "c"])
    pp = m["per_problem"]
    assert pp["problem_ids"] == ["a", "b", "c"]
    assert pp["rows"]["Maj1@N"] == [1.0, 0.0, 0.0]  # b: one correct vote against two
    assert pp["rows"]["Pass@N"] == [1.0, 1.0, 0.0]
    assert (pp["n_boot"], pp["seed"]) == (200, 0)


def test_paired_difference_is_over_the_same_problems_in_any_order() -> None:
    a = _metrics({"a": 3, "b": 3, "c": 0, "d": 3}, ["a", "b", "c", "d"])
    b = _metrics({"a": 0, "b": 3, "c": 0, "d": 1}, ["d", "c", "b", "a"])  # other store order
    d = paired_between(a, b, "Maj1@N")
    assert d is not None and d.signed and d.n == 4
    assert d.mean == pytest.approx(0.5)  # a and d solved by a's majority only
    assert 0.0 <= d.lo <= d.mean <= d.hi <= 1.0
    assert paired_between(b, a, "Maj1@N").mean == pytest.approx(-0.5)
    assert paired_between(a, a, "Pass@N").mean == 0.0
    # the pairing itself (a mean difference does not depend on it, its CI does): the same
    # results in reversed store order differ on no problem
    ids = [f"p{i}" for i in range(10)]
    same = {p: 3 * (i < 5) for i, p in enumerate(ids)}
    d = paired_between(_metrics(same, ids), _metrics(same, ids[::-1]), "Maj1@N")
    assert (d.mean, d.lo, d.hi) == (0.0, 0.0, 0.0)


def test_cells_on_different_problems_are_not_paired() -> None:
    a = _metrics({"a": 3, "b": 0}, ["a", "b"])
    b = _metrics({"a": 3, "c": 0}, ["a", "c"])
    with pytest.raises(ValueError, match="different problems"):
        paired_between(a, b, "Maj1@N")


def test_cells_without_per_problem_values_give_no_difference() -> None:
    a = _metrics({"a": 3}, ["a"])
    old = {k: v for k, v in a.items() if k != "per_problem"}
    assert paired_between(a, old, "Maj1@N") is None
    assert paired_between(a, a, "RR.All") is None  # a row the cell does not have


def _aggregate():
    spec = importlib.util.spec_from_file_location("aggregate", ROOT / "experiments" / "aggregate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table5_shows_the_prm800k_style_minus_the_math_style() -> None:
    math_ = _metrics({"a": 0, "b": 0, "c": 0}, ["a", "b", "c"])
    prm = _metrics({"a": 3, "b": 0, "c": 1}, ["a", "b", "c"])
    cells = [{**m, "cell": {"model": "m", "prompt": p}}
             for m, p in ((math_, "4-shot math"), (prm, "4-shot prm800k"))]
    t = _aggregate().table5(cells)
    rows = {r[1]: r for r in t.rows}
    assert rows["4-shot math"][5:] == [None, None]
    maj, pas = rows["4-shot prm800k"][5:]
    assert maj.mean == pytest.approx(1 / 3) and pas.mean == pytest.approx(2 / 3)


def test_table2_gives_a_best_validation_generator_its_own_row_and_pairs() -> None:
    """A cell whose generator exported its best validation's weights (generator.select=best_val)
    is a row of its own beside the last-step row of the same data, paired with it, with MATH
    and with few-shot; the selected step is named."""
    order = ["a", "b", "c"]
    few = _metrics({"a": 0, "b": 0, "c": 0}, order)
    math_ = _metrics({"a": 3, "b": 0, "c": 0}, order)
    last = _metrics({"a": 0, "b": 0, "c": 0}, order)
    best = _metrics({"a": 3, "b": 3, "c": 0}, order)
    base = {"model": "m", "recipe": "ssft"}
    cells = [{**few, "cell": {**base, "recipe": "fewshot", "data": "math"}},
             {**math_, "cell": {**base, "data": "math", "select": "last", "selected": "last"}},
             {**last, "cell": {**base, "data": "prm800k"}},  # a cell from before select existed
             {**best, "cell": {**base, "data": "prm800k", "select": "best_val",
                               "selected": {"step": 40, "value": 1.144}}}]
    t = _aggregate().table2(cells)
    rows = {r[0]: r for r in t.rows}
    assert list(rows) == ["few-shot", "MATH", "PRM800K", "PRM800K (best val)", "MATH + PRM800K"]
    assert rows["PRM800K"][2].mean == 0.0 and rows["PRM800K (best val)"][2].mean == pytest.approx(2 / 3)
    assert rows["PRM800K (best val)"][4:] == rows["PRM800K"][4:]  # the paper's numbers
    notes = "\n".join(t.notes)
    assert "SSFT on PRM800K (best val) − SSFT on PRM800K (last step)" in notes
    assert "SSFT on PRM800K (best val) − SSFT on MATH" in notes
    assert "SSFT on PRM800K (best val) − few-shot" in notes
    assert "step 40's (val/loss 1.144)" in notes
    assert "MATH + PRM800K (best val)" not in notes  # no such cell, no row, no pair

"""The evaluator's diagnostics on scored candidates: counts, AUCs with CIs, reliability bins,
ECE and Brier, the PNG and the table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mathft.reporting.calibration import (
    evaluator_diagnostics,
    evaluator_table,
    plot_reliability,
    verdict,
)
from mathft.rerank.candidates import ProblemCandidates


def _pc(pid: str, correct: list[bool], scores: list[float]) -> ProblemCandidates:
    n = len(correct)
    return ProblemCandidates(pid, (None,) * n, tuple(correct), (None,) * n, tuple(scores))


def test_perfect_ranking_and_calibration_by_hand() -> None:
    pcs = [_pc("a", [True, False], [0.95, 0.05]), _pc("b", [False, False], [0.15, 0.05])]
    d = evaluator_diagnostics(pcs, n_bins=10, n_boot=200)
    assert (d["n_candidates"], d["n_correct"], d["n_problems_both_classes"]) == (4, 1, 1)
    assert d["auc"] == 1.0 and d["within_auc"] == 1.0
    # bins: [0.0,0.1) holds 0.05, 0.05 (0 correct), [0.1,0.2) 0.15, [0.9,1.0] 0.95 (correct)
    assert [(b["lo"], b["n"], b["frac_correct"]) for b in d["bins"]] == \
        [(0.0, 2, 0.0), (pytest.approx(0.1), 1, 0.0), (pytest.approx(0.9), 1, 1.0)]
    ece = (2 * 0.05 + 1 * 0.15 + 1 * 0.05) / 4
    assert d["ece"] == pytest.approx(ece)
    assert d["brier"] == pytest.approx((0.05**2 * 3 + 0.15**2) / 4)


def test_uninformative_scores_have_auc_near_half_and_a_ci_that_covers_it() -> None:
    rng = np.random.default_rng(0)
    pcs = [_pc(f"p{i}", list(rng.random(8) < 0.3), list(rng.random(8))) for i in range(60)]
    d = evaluator_diagnostics(pcs, n_boot=300)
    assert d["auc_lo"] < 0.5 < d["auc_hi"] and d["within_auc_lo"] < 0.5 < d["within_auc_hi"]
    assert abs(d["auc"] - 0.5) < 0.1
    assert "does not rank better than chance" in verdict(d)
    good = [_pc(f"p{i}", [True, False, False], [0.9, 0.2, 0.1]) for i in range(20)]
    assert "better than chance (within-problem AUC CI [1.000" in verdict(
        evaluator_diagnostics(good, n_boot=100))
    assert sum(b["n"] for b in d["bins"]) == 480


def test_single_class_gives_nan_aucs_not_an_error(tmp_path: Path) -> None:
    d = evaluator_diagnostics([_pc("a", [False, False], [0.2, 0.3])], n_boot=50)
    assert math.isnan(d["auc"]) and math.isnan(d["within_auc"])
    png = plot_reliability(d, tmp_path / "cal.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    t = evaluator_table(d, {"counts": {"correct": 3, "incorrect": 93}, "val_auc": 0.41}, "x")
    cells = {r[0]: r[1:] for r in t.rows}
    assert cells["training examples: correct / incorrect"][0] == "3 / 93"
    assert cells["test AUC, pooled"][1] == "–"
    assert "cannot be measured" in t.notes[0]


def test_pairwise_training_counts_are_reported_as_pairs() -> None:
    """A margin evaluator trains on pairs: its table says how many, not '0 / 0' candidates."""
    d = evaluator_diagnostics([_pc("a", [True, False], [0.9, 0.1])], n_boot=20)
    counts = {"correct": 0, "incorrect": 0, "pairs": 1120, "problems_used": 112}
    cells = {r[0]: r[1:] for r in evaluator_table(d, {"counts": counts}, "x").rows}
    assert "training examples: correct / incorrect" not in cells
    assert cells["training pairs (correct, incorrect of one problem) / problems"][0] == "1120 / 112"


def test_unscored_problems_are_refused() -> None:
    with pytest.raises(ValueError, match="needs evaluator scores"):
        evaluator_diagnostics([ProblemCandidates("a", (None,), (True,), (None,))])

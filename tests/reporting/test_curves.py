"""Validation curves from the steps' recorded ``val_history``: series, PNG, cell collection."""

from __future__ import annotations

from pathlib import Path

from mathft.reporting.curves import curve_series, plot_curves
from mathft.runs.cache import step
from mathft.runs.cell import CellSteps, val_histories

GEN = [{"step": 80, "val/loss": 1.25}, {"step": 40, "val/loss": 1.27}, {"step": 120}]
EV = [{"step": 20, "val/auc": 0.6, "val/rr_all": 0.1, "val/xent": 0.4}]


def test_series_sorted_by_step_and_limited_to_known_metrics() -> None:
    got = curve_series({"generator": GEN, "evaluator": EV, "other": GEN})
    assert got == [("generator", "val/loss", [40, 80], [1.27, 1.25]),
                   ("evaluator", "val/auc", [20], [0.6]),
                   ("evaluator", "val/rr_all", [20], [0.1])]


def test_plot_writes_png_only_with_points(tmp_path: Path) -> None:
    png = plot_curves({"generator": GEN, "evaluator": EV}, tmp_path / "c.png", title="t")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves({"generator": [{"step": 3}]}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_cell_collects_histories_from_done_json(tmp_path: Path) -> None:
    gen, ev = step(tmp_path, "generator", {"a": 1}), step(tmp_path, "evaluator", {"b": 2})
    gen.mark_done({"global_step": 80, "val_history": GEN})
    cs = CellSteps("g", test=step(tmp_path, "samples_test", {"c": 3}), generator=gen,
                   evaluator=ev)
    assert val_histories(cs) == {"generator": GEN}  # the evaluator is not done: no history
    ev.mark_done({"val_history": EV})
    assert val_histories(cs) == {"generator": GEN, "evaluator": EV}
    assert val_histories(CellSteps("base:x", test=cs.test)) == {}

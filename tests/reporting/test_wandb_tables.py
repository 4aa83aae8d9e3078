"""Tables and Figure 1 in W&B hold numbers as numbers (sortable, plottable), and the file
formats keep their rendering."""

from __future__ import annotations

import json

import pytest

wandb = pytest.importorskip("wandb")

from mathft.reporting.plots import figure1_wandb, log_figure1  # noqa: E402
from mathft.reporting.tables import (  # noqa: E402
    Estimate,
    Number,
    Table,
    log_tables,
    to_csv,
    to_json,
    to_markdown,
    to_wandb,
    wandb_columns,
)


def _table() -> Table:
    t = Table("rerank", "demo", ["strategy", "accuracy", "evaluator cost", "vs Maj1", "K", "note"])
    t.add_row("Maj1", Estimate(0.40, 0.30, 0.50, 40), Number(0.0), None, None, "–")
    t.add_row("RR.Top-2", Estimate(0.45, 0.35, 0.55, 40), Number(0.6875),
              Estimate(0.05, -0.02, 0.12, 40, signed=True), 2, "k=2")
    return t


def test_wandb_columns_are_numeric() -> None:
    header, rows = wandb_columns(_table())
    assert header == ["strategy", "accuracy", "accuracy_lo", "accuracy_hi", "evaluator cost",
                      "vs Maj1", "vs Maj1_lo", "vs Maj1_hi", "K", "note"]
    maj1, rr = rows
    assert rr[1:4] == pytest.approx([45.0, 35.0, 55.0])
    assert rr[4] == pytest.approx(0.6875) and isinstance(rr[4], float)
    assert rr[5:8] == pytest.approx([5.0, -2.0, 12.0])
    assert maj1[5:8] == [None, None, None]  # no estimate in that row: empty, not text
    assert (maj1[8], rr[8]) == (None, 2)
    for row in rows:
        for v in row[1:9]:
            assert v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def test_to_wandb_column_types_are_numbers() -> None:
    wt = to_wandb(_table())
    cols = dict(zip(wt.columns, zip(*wt.data)))
    for name in ("accuracy", "accuracy_lo", "accuracy_hi", "evaluator cost", "vs Maj1_hi", "K"):
        assert all(v is None or isinstance(v, int | float) for v in cols[name]), name
    assert wt.get_column("accuracy") == pytest.approx([40.0, 45.0])
    type_map = getattr(getattr(wt, "_column_types", None), "params", {}).get("type_map")
    if type_map is not None:  # W&B's own inference (internal attribute; checked when present)
        assert "Number" in str(type_map["evaluator cost"]) and "Number" in str(type_map["K"])


def test_mixed_text_and_numbers_become_text() -> None:
    t = Table("t", "t", ["paper"])
    t.add_row("59.4 (RR.MajK)")
    t.add_row(55.2)
    _, rows = wandb_columns(t)
    assert rows == [["59.4 (RR.MajK)"], ["55.200"]]
    to_wandb(t)  # one type per column: W&B accepts it


def test_file_formats_keep_their_rendering() -> None:
    t = _table()
    md = to_markdown(t)
    assert "| RR.Top-2 | 45.0 [35.0, 55.0] | 0.69 | +5.0 [-2.0, +12.0] | 2 | k=2 |" in md
    assert "| Maj1 | 40.0 [30.0, 50.0] | 0.00 | – | – | – |" in md
    csv_lines = to_csv(t).splitlines()
    assert csv_lines[0].startswith("strategy,accuracy,accuracy_lo,accuracy_hi,evaluator cost,")
    assert ",0.69," in csv_lines[2]
    js = json.loads(json.dumps(to_json(t)))
    assert js["rows"][1][2] == pytest.approx(0.6875)  # a number, not text
    assert js["rows"][0][1] == {"mean": 0.4, "lo": 0.3, "hi": 0.5, "n": 40}
    assert js["rows"][1][3]["signed"] is True


FIG_ROWS = [
    {"series": "RR.Top-K", "k": 1, "accuracy": 0.40, "accuracy_lo": 0.3, "accuracy_hi": 0.5,
     "cost_ratio": 0.25, "n_problems": 40},
    {"series": "RR.Top-K", "k": 2, "accuracy": 0.45, "accuracy_lo": 0.35, "accuracy_hi": 0.55,
     "cost_ratio": 0.5, "n_problems": 40},
    {"series": "Maj1", "k": None, "accuracy": 0.38, "accuracy_lo": 0.28, "accuracy_hi": 0.48,
     "cost_ratio": 0.0, "n_problems": 40},
    {"series": "RR.All", "k": None, "accuracy": 0.42, "accuracy_lo": 0.32, "accuracy_hi": 0.52,
     "cost_ratio": 1.0, "n_problems": 40},
]


def test_figure1_native_line_plots() -> None:
    out = figure1_wandb(FIG_ROWS, title="demo")
    acc, cost, data = (out["figures/figure1_accuracy"], out["figures/figure1_cost"],
                       out["figures/figure1_data"])
    assert isinstance(acc, wandb.plot.CustomChart) and isinstance(cost, wandb.plot.CustomChart)
    series = {}
    for step, key, val in acc.table.data:
        series.setdefault(key, []).append((step, val))
    assert series["RR.Top-K"] == [(1, pytest.approx(40.0)), (2, pytest.approx(45.0))]
    assert [v for _, v in series["Maj1"]] == pytest.approx([38.0, 38.0])
    assert set(series) == {"RR.Top-K", "RR.Top-K CI low", "RR.Top-K CI high", "Maj1", "RR.All"}
    assert cost.table.data == [[1, 0.25], [2, 0.5]]
    assert all(isinstance(v, float) for row in data.data for v in row[2:6])


def test_offline_run_logs_tables_and_figure(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="mathft-test", dir=str(tmp_path), mode="offline")
    try:
        log_tables([_table()], tmp_path / "out", run)
        log_figure1(run, FIG_ROWS, png=None, title="demo")
    finally:
        run.finish()
    assert (tmp_path / "out" / "rerank.md").is_file()
    assert list((tmp_path / "wandb").glob("offline-run-*/*.wandb"))

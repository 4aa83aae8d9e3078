"""experiments/aggregate.py rebuilds every committed table from its committed cells, and the
experiments README shows exactly those tables (so results, tables and README cannot drift)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"
TABLES = sorted(p.name for p in RESULTS.iterdir() if (p / "cells").is_dir()) if RESULTS.is_dir() else []


def _aggregate():
    spec = importlib.util.spec_from_file_location("aggregate", ROOT / "experiments" / "aggregate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_results_exist():
    assert {"table2_ssft", "table3_rerank", "table7_strategies", "fig1_topk"} <= set(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_committed_table_rebuilds_from_its_cells(tmp_path, table):
    agg = _aggregate()
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "experiments" / "README.md").read_text())
    assert agg.main([str(RESULTS / table / "cells"), "--table", table, "--out", str(tmp_path),
                     "--readme", str(readme)]) == 0
    committed = (RESULTS / table / f"{table}.md").read_text()
    assert (tmp_path / f"{table}.md").read_text() == committed
    assert "#" + committed in (ROOT / "experiments" / "README.md").read_text()
    assert readme.read_text() == (ROOT / "experiments" / "README.md").read_text()


def test_readme_without_the_block_is_refused(tmp_path):
    agg = _aggregate()
    readme = tmp_path / "README.md"
    readme.write_text("# nothing here\n")
    with pytest.raises(SystemExit, match="table:table3_rerank"):
        agg.main([str(RESULTS / "table3_rerank" / "cells"), "--table", "table3_rerank",
                  "--out", str(tmp_path / "out"), "--readme", str(readme)])
    assert readme.read_text() == "# nothing here\n"

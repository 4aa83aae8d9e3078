"""Ablation tables written as Markdown, CSV, LaTeX and JSON, and logged as ``wandb.Table``.

A table is a title, a list of column names and rows of cells. A cell is a string, a number,
or an :class:`Estimate` (a percentage with its bootstrap confidence interval, SPEC §6).
Every format is written atomically into the run directory, so a W&B offline run that loses
its table still leaves the files (DESIGN, known pitfalls).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mathft.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Estimate:
    """A proportion in [0, 1] with a confidence interval, rendered in percent."""

    mean: float
    lo: float
    hi: float
    n: int = 0

    def fmt(self, digits: int = 1) -> str:
        return f"{100 * self.mean:.{digits}f} [{100 * self.lo:.{digits}f}, {100 * self.hi:.{digits}f}]"


Cell = str | int | float | Estimate | None


@dataclass
class Table:
    """A titled table; ``name`` is the file stem (``table2_ssft`` -> ``table2_ssft.md``)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(
                f"table {self.name!r}: row has {len(cells)} cells, expected {len(self.columns)} "
                f"({', '.join(self.columns)})"
            )
        self.rows.append(list(cells))


def _fmt(cell: Cell) -> str:
    if cell is None:
        return "–"
    if isinstance(cell, Estimate):
        return cell.fmt()
    if isinstance(cell, float):
        return f"{cell:.3f}"
    return str(cell)


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown, title as a heading, notes as a list below."""
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines.append("")
        lines += [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with Estimate cells split into ``<col>``, ``<col>_lo``, ``<col>_hi`` (percent)."""
    est_cols = {
        j for j, _ in enumerate(table.columns) if any(isinstance(r[j], Estimate) for r in table.rows)
    }
    header: list[str] = []
    for j, c in enumerate(table.columns):
        header += [c, f"{c}_lo", f"{c}_hi"] if j in est_cols else [c]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in table.rows:
        out: list[Any] = []
        for j, cell in enumerate(row):
            if j in est_cols:
                if isinstance(cell, Estimate):
                    out += [f"{100 * cell.mean:.2f}", f"{100 * cell.lo:.2f}", f"{100 * cell.hi:.2f}"]
                else:
                    out += [_fmt(cell), "", ""]
            else:
                out.append("" if cell is None else (cell if not isinstance(cell, float) else f"{cell:.4f}"))
        w.writerow(out)
    return buf.getvalue()


_TEX_ESCAPES = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$"}


def _tex(s: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)


def to_latex(table: Table) -> str:
    """A ``booktabs`` tabular; Estimates as ``mean$_{\\pm hw}$`` with the half-width of the CI."""

    def cell(c: Cell) -> str:
        if isinstance(c, Estimate):
            return f"{100 * c.mean:.1f}$_{{\\pm {50 * (c.hi - c.lo):.1f}}}$"
        return _tex(_fmt(c))

    spec = "l" + "r" * (len(table.columns) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(table.title)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_json(table: Table) -> dict[str, Any]:
    rows = [[asdict(c) if isinstance(c, Estimate) else c for c in row] for row in table.rows]
    return {"name": table.name, "title": table.title, "columns": table.columns, "rows": rows,
            "notes": table.notes}


def from_json(obj: dict[str, Any]) -> Table:
    """Inverse of :func:`to_json` (for aggregation of saved tables)."""
    rows = [[Estimate(**c) if isinstance(c, dict) else c for c in row] for row in obj["rows"]]
    return Table(obj["name"], obj["title"], list(obj["columns"]), rows, list(obj.get("notes", [])))


def write_table(table: Table, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.{md,csv,tex,json}`` atomically into ``out_dir``; return the paths."""
    out = Path(out_dir)
    return {
        "md": atomic_write_text(out / f"{table.name}.md", to_markdown(table)),
        "csv": atomic_write_text(out / f"{table.name}.csv", to_csv(table)),
        "tex": atomic_write_text(out / f"{table.name}.tex", to_latex(table)),
        "json": atomic_write_json(out / f"{table.name}.json", to_json(table)),
    }


def to_wandb(table: Table) -> Any:
    """A ``wandb.Table`` with Estimate cells split into mean/lo/hi columns (percent)."""
    import wandb

    text = to_csv(table).splitlines()
    reader = csv.reader(text)
    header = next(reader)
    return wandb.Table(columns=header, data=[list(r) for r in reader])


def log_tables(tables: Sequence[Table], out_dir: str | Path, wandb_run: Any | None = None) -> None:
    """Write every table to files and, when a W&B run is active, log it as ``tables/<name>``."""
    for t in tables:
        write_table(t, out_dir)
        if wandb_run is not None:
            wandb_run.log({f"tables/{t.name}": to_wandb(t)})

"""Ablation tables written as Markdown, CSV, LaTeX and JSON, and logged as ``wandb.Table``.

A table is a title, a list of column names and rows of cells. A cell is a string, a number,
a :class:`Number` (a number with its display format) or an :class:`Estimate` (a percentage
with its bootstrap confidence interval, docs/method.md#confidence-intervals). Every format is written atomically into the
run directory, so a W&B offline run that loses its table still leaves the files (docs/design.md,
known pitfalls).

Numbers stay numbers wherever the format allows: in the JSON and the ``wandb.Table`` a
:class:`Number` is its value and an :class:`Estimate` is split into numeric columns
``<col>``, ``<col>_lo``, ``<col>_hi`` (percent), so a W&B dashboard can sort and plot them.
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
    signed: bool = False  # a difference: rendered with an explicit sign (+1.2 [-0.5, +3.0])

    def fmt(self, digits: int = 1) -> str:
        f = f"{'+' if self.signed else ''}.{digits}f"
        return f"{100 * self.mean:{f}} [{100 * self.lo:{f}}, {100 * self.hi:{f}}]"


@dataclass(frozen=True)
class Number:
    """A number shown with a fixed format (``fmt``, e.g. ``.2f``) but stored as a number."""

    value: float
    fmt: str = ".2f"

    def __str__(self) -> str:
        return format(self.value, self.fmt)


Cell = str | int | float | Number | Estimate | None


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
    return str(cell)  # str, int, Number


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
            sign = "+" if c.signed else ""
            return f"{100 * c.mean:{sign}.1f}$_{{\\pm {50 * (c.hi - c.lo):.1f}}}$"
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


def _json_cell(cell: Cell) -> Any:
    if isinstance(cell, Estimate):
        d = asdict(cell)
        if not cell.signed:
            del d["signed"]
        return d
    if isinstance(cell, Number):
        return cell.value
    return cell


def to_json(table: Table) -> dict[str, Any]:
    """JSON-ready dict; Estimates as ``{mean, lo, hi, n}`` (fractions), Numbers as numbers."""
    rows = [[_json_cell(c) for c in row] for row in table.rows]
    return {"name": table.name, "title": table.title, "columns": table.columns, "rows": rows,
            "notes": table.notes}


def write_table(table: Table, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.{md,csv,tex,json}`` atomically into ``out_dir``; return the paths."""
    out = Path(out_dir)
    return {
        "md": atomic_write_text(out / f"{table.name}.md", to_markdown(table)),
        "csv": atomic_write_text(out / f"{table.name}.csv", to_csv(table)),
        "tex": atomic_write_text(out / f"{table.name}.tex", to_latex(table)),
        "json": atomic_write_json(out / f"{table.name}.json", to_json(table)),
    }


def wandb_columns(table: Table) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the W&B form of ``table``, numbers as numbers.

    A column holding an Estimate becomes ``<col>``, ``<col>_lo``, ``<col>_hi`` (percent,
    floats; None where a row has no estimate). Numbers (int, float, :class:`Number`) stay
    numeric; a column that mixes text and numbers is all text (W&B needs one type per column).
    """
    header: list[str] = []
    cols: list[list[Any]] = []
    for j, name in enumerate(table.columns):
        cells = [row[j] for row in table.rows]
        if any(isinstance(c, Estimate) for c in cells):
            for suffix, attr in (("", "mean"), ("_lo", "lo"), ("_hi", "hi")):
                header.append(name + suffix)
                cols.append([100 * getattr(c, attr) if isinstance(c, Estimate)
                             else _number(c) for c in cells])
            continue
        values = [_number(c) if isinstance(c, Number) else c for c in cells]
        if any(isinstance(v, str) for v in values) and any(
                isinstance(v, int | float) for v in values):
            values = [None if c is None else _fmt(c) for c in cells]
        header.append(name)
        cols.append(values)
    return header, [list(r) for r in zip(*cols)] if cols else []


def _number(cell: Cell) -> float | None:
    if isinstance(cell, Number):
        return float(cell.value)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return float(cell)
    return None


def to_wandb(table: Table) -> Any:
    """A ``wandb.Table`` whose numeric cells are numbers (see :func:`wandb_columns`)."""
    import wandb

    header, rows = wandb_columns(table)
    return wandb.Table(columns=header, data=rows)


def log_tables(tables: Sequence[Table], out_dir: str | Path, wandb_run: Any | None = None) -> None:
    """Write every table to files and, when a W&B run is active, log it as ``tables/<name>``."""
    for t in tables:
        write_table(t, out_dir)
        if wandb_run is not None:
            wandb_run.log({f"tables/{t.name}": to_wandb(t)})

"""Collect a multirun's cells (``metrics.json``) into the paper's table layouts, with CIs.

    python experiments/aggregate.py outputs/multirun/table2_ssft/<date> --table table2_ssft \
        --out experiments/results/table2_ssft

Every table is written as Markdown, CSV, LaTeX and JSON (and to W&B with ``--wandb``;
``--readme experiments/README.md`` also refreshes the table's block there); the
paper's numbers (docs/method.md#paper-reference-numbers, PaLM 2) are shown beside ours for orientation — different models,
different scale: compare trends, not values.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mathft.io import atomic_write_text
from mathft.reporting.tables import Estimate, Number, Table, log_tables, to_markdown
from mathft.runs.report import paired_between, vs_maj1

Cell = dict[str, Any]

DATA_LABEL = {"math": "MATH", "prm800k": "PRM800K", "math_prm800k": "MATH + PRM800K",
              "gsm8k": "GSM8K"}

# docs/method.md#paper-reference-numbers (MATH500, %), PaLM 2-S* / PaLM 2-L.
PAPER_T2 = {"few-shot": ("17.4 / 27.2 / 67.8", "33.4 / 47.6 / 79.4"),
            "MATH": ("19.8 / 32.4 / 74.8", "32.8 / 49.2 / 82.2"),
            "PRM800K": ("20.8 / 41.2 / 73.8", "34.8 / 54.2 / 83.4"),
            "MATH + PRM800K": ("22.6 / 38.8 / 72.6", "35.6 / 55.2 / 82.8")}
PAPER_T3 = {("xent", "RR.All"): "56.8 (L)", ("margin", "RR.All"): "57.0 (L)",
            ("xent", "RR.Top-K"): "58.8 (L) / 35.4 (S*)", ("margin", "RR.Top-K"): "58.8 (L) / 36.6 (S*)"}
PAPER_T4 = {"ssft": "35.6 / 55.2 / 82.8", "sequential margin": "37.6 / 57.2 / 82.6",
            "sequential xent": "36.2 / 56.6 / 82.2"}
PAPER_T7 = {"RR.All": "56.8", "RR.Top-K": "59.4 (RR.MajK)", "W.RR": "60.8",
            "W.RR.Top-K": "61.2 (W.RR.MajK)", "Maj1": "55.2", "Maj1.TopN": "60.0"}


def load_cells(roots: Sequence[Path]) -> list[Cell]:
    """Every ``metrics.json`` under ``roots`` (cells that failed have ``failed.json`` instead)."""
    cells = []
    for root in roots:
        for p in sorted(Path(root).glob("**/metrics.json")):
            cell = json.loads(p.read_text())
            cell["path"] = str(p.parent)
            cells.append(cell)
    if not cells:
        raise SystemExit(f"no metrics.json under {', '.join(map(str, roots))}: did the runs finish?")
    return cells


def _est(row: Mapping[str, Any] | None) -> Estimate | None:
    if not row:
        return None
    return Estimate(float(row["accuracy"]), float(row["accuracy_lo"]), float(row["accuracy_hi"]),
                    int(row.get("n_problems", 0)))


def gen(cell: Cell, metric: str) -> Estimate | None:
    """A generation metric (``Pass@1``, ``Maj1@N``, ``Pass@N``) of a cell."""
    return _est(cell["generation"].get(metric))


def rerank(cell: Cell, prefix: str) -> Estimate | None:
    """The first re-ranking row whose name starts with ``prefix`` (e.g. ``RR.Top-``)."""
    for name, row in cell.get("rerank", {}).items():
        if name == prefix or (prefix.endswith("-") and name.startswith(prefix)) or (
                prefix == "Maj1.Top" and name.startswith(prefix)):
            return _est(row)
    return None


def chosen(cell: Cell, strategy: str) -> str:
    sel = cell.get("selection", {}).get(strategy)
    if not sel:
        return "–"
    return (f"{sel['param']}={sel['chosen']}: {100 * sel['test_accuracy']:.1f} "
            f"[{100 * sel['test_accuracy_lo']:.1f}, {100 * sel['test_accuracy_hi']:.1f}]")


def _unique(cells: list[Cell], key: Callable[[Cell], Any]) -> dict[Any, Cell]:
    """One cell per key (identical cells of a sweep, e.g. few-shot x data, collapse)."""
    out: dict[Any, Cell] = {}
    for c in cells:
        out.setdefault(key(c), c)
    return out


def _n(cells: list[Cell]) -> str:
    ns = sorted({(c["n_samples"], c["n_problems"]) for c in cells})
    return ", ".join(f"N={n}, {p} problems" for n, p in ns)


BEST_VAL = " (best val)"


def data_label(cell: Cell) -> str:
    """A Table 2 row: few-shot, or the SSFT data, marked when the exported weights are those of
    the best validation (``generator.select=best_val``) rather than the last step."""
    c = cell["cell"]
    if c["recipe"] == "fewshot":
        return "few-shot"
    label = DATA_LABEL.get(c["data"], c["data"])
    return label + BEST_VAL if c.get("select", "last") == "best_val" else label


def table2(cells: list[Cell]) -> Table:
    models = sorted({c["cell"]["model"] for c in cells})
    cols = ["SSFT data"] + [f"{m}: {x}" for m in models for x in ("Pass@1", "Maj1@N", "Pass@N")]
    t = Table("table2_ssft", f"Table 2: SSFT data x model ({_n(cells)}; %, 95% CI)",
              cols + ["paper S* (P@1/Maj1/P@64)", "paper L"])
    by = _unique(cells, lambda c: (data_label(c), c["cell"]["model"]))
    data_rows = ["MATH", "PRM800K", "MATH + PRM800K"]
    # best-validation variants get a row under their data's only where such a cell exists
    data_rows = [r for d in data_rows for r in (d, d + BEST_VAL)
                 if r == d or any(k[0] == r for k in by)]
    for label in ["few-shot", *data_rows]:
        row: list[Any] = [label]
        for m in models:
            c = by.get((label, m))
            row += [gen(c, k) if c else None for k in ("Pass@1", "Maj1@N", "Pass@N")]
        t.add_row(*row, *PAPER_T2[label.removesuffix(BEST_VAL)])
    # the paper's claims: SSFT beats few-shot prompting; PRM800K-style data helps (Maj1)
    pairs = [(f"SSFT on {label}", label, "few-shot", "few-shot") for label in data_rows]
    pairs += [(f"SSFT on {label}", label, "SSFT on MATH", "MATH")
              for label in data_rows if label != "MATH"]
    pairs += [(f"SSFT on {label}", label, f"SSFT on {label.removesuffix(BEST_VAL)} (last step)",
               label.removesuffix(BEST_VAL)) for label in data_rows if label.endswith(BEST_VAL)]
    for m in models:
        for name, label, base_name, base in pairs:
            c, b = by.get((label, m)), by.get((base, m))
            d = {k: paired_between(c, b, k) for k in ("Pass@1", "Maj1@N", "Pass@N")} if c and b \
                else {}
            if any(v is not None for v in d.values()):
                t.notes.append(f"{m}, {name} − {base_name} (paired, same problems): " +
                               "; ".join(f"{k} {v.fmt()}" for k, v in d.items() if v))
        for label in data_rows:
            sel = (by.get((label, m)) or {}).get("cell", {}).get("selected")
            if label.endswith(BEST_VAL) and isinstance(sel, dict):
                t.notes.append(f"{m}, {label}: the exported weights are step {sel['step']}'s "
                               f"(val/loss {sel['value']:.3f}), the lowest validation loss")
    return t


def table3(cells: list[Cell]) -> Table:
    t = Table("table3_rerank", f"Table 3: re-ranking with xent / margin evaluators ({_n(cells)}; "
              "%, 95% CI)", ["model", "objective", "Maj1@N", "RR.All", "RR.Top-K (fixed K)",
                             "RR.Top-K (K chosen on val)", "paper"])
    for c in sorted(cells, key=lambda c: (c["cell"]["model"], c["cell"]["objective"])):
        obj = c["cell"]["objective"]
        t.add_row(c["cell"]["model"], obj, gen(c, "Maj1@N"), rerank(c, "RR.All"),
                  rerank(c, "RR.Top-"), chosen(c, "rr_topk"),
                  f"RR.All {PAPER_T3.get((obj, 'RR.All'), '–')}; Top-8 "
                  f"{PAPER_T3.get((obj, 'RR.Top-K'), '–')}")
    return t


def table4(cells: list[Cell]) -> Table:
    t = Table("table4_sequential", f"Table 4: SSFT vs sequential multi-task ({_n(cells)}; %, CI)",
              ["model", "training", "Pass@1", "Maj1@N", "Pass@N", "Maj1@N vs SSFT (paired)",
               "paper (PaLM 2-L)"])
    by = _unique(cells, lambda c: (c["cell"]["model"], "ssft" if c["cell"]["stages"] == "ssft"
                                   else f"sequential {c['cell']['objective']}"))
    for (model, label), c in sorted(by.items()):
        base = by.get((model, "ssft"))
        t.add_row(model, label, gen(c, "Pass@1"), gen(c, "Maj1@N"), gen(c, "Pass@N"),
                  paired_between(c, base, "Maj1@N") if base and label != "ssft" else None,
                  PAPER_T4.get(label, "–"))
    return t


def table5(cells: list[Cell]) -> Table:
    t = Table("table5_fewshot_style", f"Table 5: few-shot exemplar style ({_n(cells)}; %, CI)",
              ["model", "exemplars", "Pass@1", "Maj1@N", "Pass@N", "Maj1@N vs MATH-style (paired)",
               "Pass@N vs MATH-style (paired)"])
    by = _unique(cells, lambda c: (c["cell"]["model"], c["cell"]["prompt"]))
    for (model, prompt), c in sorted(by.items()):
        # the same number of MATH-style exemplars ("4-shot math"), same chat mode
        ref = prompt.replace("prm800k", "math")
        base = by.get((model, ref))
        other = base is not None and ref != prompt
        t.add_row(model, prompt, gen(c, "Pass@1"), gen(c, "Maj1@N"), gen(c, "Pass@N"),
                  *(paired_between(c, base, k) if other else None for k in ("Maj1@N", "Pass@N")))
    t.notes.append("Paper: PRM800K-style exemplars change little over MATH-style ones when "
                   "prompting; the style effect comes through fine-tuning.")
    return t


def table6(cells: list[Cell]) -> Table:
    t = Table("table6_cross_model", f"Table 6: cross-model re-ranking ({_n(cells)}; %, CI)",
              ["generator", "evaluator", "Maj1@N", "RR.All", "RR.Top-K", "K chosen on val"])
    for c in sorted(cells, key=lambda c: (c["cell"]["model"], str(c["cell"]["evaluator_model"]))):
        t.add_row(c["cell"]["model"], c["cell"]["evaluator_model"], gen(c, "Maj1@N"),
                  rerank(c, "RR.All"), rerank(c, "RR.Top-"), chosen(c, "rr_topk"))
    t.notes.append("Paper: PaLM 2-L's evaluator on PaLM 2-S*'s samples: 46.4 (RR.Top-8) vs "
                   "36.6 with the small model's own evaluator.")
    return t


def table7(cells: list[Cell]) -> Table:
    t = Table("table7_strategies", f"Table 7: re-ranking strategies ({_n(cells)}; %, CI)",
              ["model", "objective", "strategy", "accuracy", "evaluator cost",
               "vs Maj1 (paired)", "paper (PaLM 2-L, xent)"])
    for c in sorted(cells, key=lambda c: (c["cell"]["model"], c["cell"]["objective"])):
        obj = c["cell"]["objective"]
        for name, row in c.get("rerank", {}).items():
            key = next((k for k in PAPER_T7 if name == k or (k.endswith("-K") and
                        name.startswith(k[:-1])) or (k == "Maj1.TopN" and
                        name.startswith("Maj1.Top"))), None)
            paper = PAPER_T7.get(key, "–") if key and obj == "xent" else "–"
            t.add_row(c["cell"]["model"], obj, name, _est(row), Number(float(row["cost_ratio"])),
                      vs_maj1(row), paper)
    return t


def fig1(cells: list[Cell]) -> Table:
    t = Table("fig1_topk", "Figure 1: RR.Top-K accuracy and evaluator cost ratio against K",
              ["model", "objective", "series", "K", "accuracy", "cost ratio"])
    for c in cells:
        for r in c.get("figure1", []):
            acc = Estimate(r["accuracy"], r.get("accuracy_lo", r["accuracy"]),
                           r.get("accuracy_hi", r["accuracy"]))
            t.add_row(c["cell"]["model"], c["cell"]["objective"], r.get("series", "RR.Top-K"),
                      r.get("k"), acc, Number(float(r.get("cost_ratio", 0.0))))
    t.notes.append("Plots: figure1.png in each cell directory. Paper: RR.Top-8 costs ~0.69 "
                   "of RR.All at N=64.")
    return t


BUILDERS: dict[str, Callable[[list[Cell]], Table]] = {
    "table2_ssft": table2, "table3_rerank": table3, "table4_sequential": table4,
    "table5_fewshot_style": table5, "table6_cross_model": table6,
    "table7_strategies": table7, "fig1_topk": fig1,
}


def readme_block(name: str) -> re.Pattern[str]:
    """The block ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->`` of a README."""
    return re.compile(rf"(<!-- table:{re.escape(name)} -->\n)(.*?)(<!-- /table:{re.escape(name)} -->)",
                      re.S)


def update_readme(path: Path, table: Table) -> None:
    """Replace the table's block in ``path`` (heading one level down), atomically."""
    text = path.read_text()
    block = readme_block(table.name)
    if not block.search(text):
        raise SystemExit(f"{path}: no '<!-- table:{table.name} -->' ... "
                         f"'<!-- /table:{table.name} -->' block to update")
    md = "#" + to_markdown(table)
    atomic_write_text(path, block.sub(lambda m: m.group(1) + md + m.group(3), text, count=1))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", type=Path, help="multirun dirs (or parents) to collect")
    ap.add_argument("--table", required=True, choices=sorted(BUILDERS))
    ap.add_argument("--out", type=Path, required=True, help="directory for the table files")
    ap.add_argument("--wandb", action="store_true", help="also log the table to W&B (offline)")
    ap.add_argument("--readme", type=Path, help="also refresh the table's block in this README")
    args = ap.parse_args(argv)
    table = BUILDERS[args.table](load_cells(args.roots))
    run = None
    if args.wandb:
        import wandb

        run = wandb.init(project="mathft", job_type="aggregate", name=args.table,
                         mode="offline", dir=str(args.out))
    try:
        log_tables([table], args.out, run)
    finally:
        if run is not None:
            run.finish()
    if args.readme:
        update_readme(args.readme, table)
    print(to_markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

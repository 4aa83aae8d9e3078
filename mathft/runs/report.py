"""One experiment cell's metrics and tables, from its candidate and score stores.

Generation metrics (Pass@1, Pass@N, Maj1@N, MajK@N) and every re-ranking strategy are
computed from the same stores, each with a bootstrap CI. K of the Top-K strategies (and N of
Maj1.TopN) is chosen on the validation problems and then applied to test; the test sweep is
reported beside it (Figure 1), never used to choose.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.io import atomic_write_json
from mathft.reporting.tables import Estimate, Number, Table
from mathft.rerank.bootstrap import paired_bootstrap
from mathft.rerank.candidates import ProblemCandidates, build_problem_candidates, greedy_correct
from mathft.rerank.metrics import MetricResult, evaluate_many, pass_at_1
from mathft.rerank.selection import select_on_validation
from mathft.runs.cache import Step
from mathft.sampling.store import CandidateStore, ScoreStore

log = logging.getLogger(__name__)

TUNED = {"rr_topk": ("k", "k_grid"), "wrr_topk": ("k", "k_grid"), "maj1_topn": ("n", "topn_grid")}


def store_path(st: Step | Path, name: str) -> Path:
    """The store file of a step directory (``<dir>/<name>``), or an explicit file path."""
    return st.dir / name if isinstance(st, Step) else Path(st)


def load_candidates(st: Step | Path, scores_st: Step | Path | None = None
                    ) -> list[ProblemCandidates]:
    """Group a candidate store by problem, with evaluator scores when a score store is given.

    ``st`` / ``scores_st``: pipeline steps, or the store files themselves (any file name).
    """
    path = store_path(st, "candidates.jsonl")
    if not path.is_file():
        raise FileNotFoundError(f"candidate store {path} does not exist")
    # read-only: a finished store or a user's file is never repaired in place
    cands = CandidateStore(path, repair=False).load()
    scores = ScoreStore(store_path(scores_st, "scores.jsonl"), repair=False).load() \
        if scores_st else None
    return build_problem_candidates(cands, scores)


def check_complete(pcs: list[ProblemCandidates], what: str) -> int:
    """N of a set of problems' candidates; an error for no problems or unequal N (metrics
    over them would be meaningless or silently mix sample sizes)."""
    if not pcs:
        raise ValueError(f"{what}: no problems in the candidate store: refusing to report "
                         "metrics over 0 problems (was the store emptied or the wrong file "
                         "given?)")
    ns = sorted({pc.n for pc in pcs})
    if len(ns) > 1:
        few = [pc.problem_id for pc in pcs if pc.n == ns[0]][:3]
        raise ValueError(f"{what}: problems have different numbers of samples N {ns} (e.g. "
                         f"{few} have {ns[0]}): refusing to report metrics over unequal N; "
                         "finish or resample the store")
    return ns[0]


def cell_metrics(
    rr: DictConfig,
    test: list[ProblemCandidates],
    greedy_st: Step | Path | None = None,
    val: list[ProblemCandidates] | None = None,
    levels: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """All metrics of one cell as JSON-ready dicts: ``generation``, ``rerank``, ``selection``,
    ``per_problem`` (each row's value on each test problem, for paired differences between
    cells: :func:`paired_between`), and with ``levels`` (problem id -> MATH level)
    ``by_level``: every row on each level's problems, with its paired difference to Maj1@N
    there."""
    n_boot, seed = int(rr.n_boot), int(rr.seed)
    ekw = {"n_sub": rr.get("n_sub"), "n_subsets": int(rr.n_subsets), "seed": seed}
    ids = [pc.problem_id for pc in test]
    n = check_complete(test, "test")
    if val:
        check_complete(val, "val")
    gen: dict[str, MetricResult] = {}
    if greedy_st is not None:
        greedy = CandidateStore(store_path(greedy_st, "candidates.jsonl"), repair=False).load()
        gen["Pass@1"] = pass_at_1(greedy_correct(greedy, ids), ids)
    k = int(rr.k)
    for label, res in zip(
        ["Pass@N", "Maj1@N", f"Maj{k}@N"],
        evaluate_many(test, ["pass_at_n", "maj1", {"name": "majk", "k": k}], **ekw),
    ):
        gen[label] = res
    out: dict[str, Any] = {
        "n_problems": len(test), "n_samples": n,
        "generation": {name: _row(r, n_boot, seed) for name, r in gen.items()},
        "rerank": {}, "selection": {},
        "per_problem": {"problem_ids": ids, "n_boot": n_boot, "seed": seed,
                        "rows": {name: _values(r, ids) for name, r in gen.items()}},
    }
    scored = bool(test) and all(pc.scores is not None for pc in test)
    results = evaluate_many(test, [_strategy(name, rr) for name in rr.strategies], **ekw) \
        if scored else []
    maj1 = gen["Maj1@N"]
    if levels:
        rows = {**{k: v for k, v in gen.items() if k != "Pass@1"},
                **{r.name: r for r in results if r.name != "Maj1"}}  # = Maj1@N
        out["by_level"] = by_level(rows, maj1, levels, n_boot, seed)
    if not scored:
        return out
    for res in results:
        out["rerank"][res.name] = _row_vs_maj1(res, maj1, n_boot, seed)
        out["per_problem"]["rows"].setdefault(res.name, _values(res, ids))
    if val and rr.select_on_validation and all(pc.scores is not None for pc in val):
        for name in rr.strategies:
            if name not in TUNED:
                continue
            param, grid_key = TUNED[name]
            rep = select_on_validation(val, test, name, list(rr[grid_key]), param=param,
                                       n_boot=n_boot, **ekw)
            out["selection"][name] = rep.to_dict()
    return out


def _values(res: MetricResult, ids: list[str]) -> list[float]:
    """``res``'s per-problem values in the order of ``ids``."""
    at = dict(zip(res.problem_ids, res.correct.tolist()))
    return [float(at[p]) for p in ids]


def paired_between(a: Mapping[str, Any], b: Mapping[str, Any], row: str) -> Estimate | None:
    """Row ``row`` of cell ``a`` minus the same row of cell ``b`` (two cells' metrics), paired
    over their common test problems, with the cells' bootstrap settings; None where either
    cell lacks the row's per-problem values (metrics written before they were kept).

    Raises if the two cells were evaluated on different problems: such a difference is not
    paired, and a table must not print it as if it were."""
    pa, pb = a.get("per_problem"), b.get("per_problem")
    if not pa or not pb or row not in pa["rows"] or row not in pb["rows"]:
        return None
    if set(pa["problem_ids"]) != set(pb["problem_ids"]):
        raise ValueError(f"cannot pair {row} of two cells evaluated on different problems "
                         f"({len(pa['problem_ids'])} and {len(pb['problem_ids'])} problems)")
    vb = dict(zip(pb["problem_ids"], pb["rows"][row]))
    d = paired_bootstrap(pa["rows"][row], [vb[p] for p in pa["problem_ids"]],
                         n_boot=int(pa["n_boot"]), seed=int(pa["seed"]))
    return Estimate(d.diff, d.lo, d.hi, len(pa["problem_ids"]), signed=True)


def by_level(rows: Mapping[str, MetricResult], maj1: MetricResult,
             levels: Mapping[str, int | None], n_boot: int, seed: int) -> dict[str, Any]:
    """Each row's accuracy (95% CI) and paired difference to ``maj1`` on the problems of each
    level (``"?"``: no level), so a reader sees which levels a difference comes from."""
    groups: dict[str, set[str]] = {}
    for pid in maj1.problem_ids:
        lv = levels.get(pid)
        groups.setdefault("?" if lv is None else str(lv), set()).add(pid)
    out: dict[str, Any] = {}
    for lv in sorted(groups, key=lambda g: (g == "?", g)):
        base = maj1.restrict(groups[lv])
        out[lv] = {"n_problems": len(groups[lv]),
                   "rows": {name: _row_vs_maj1(res.restrict(groups[lv]), base, n_boot, seed)
                            for name, res in rows.items()}}
    return out


def _strategy(name: str, rr: DictConfig) -> dict[str, Any]:
    if name in ("rr_topk", "wrr_topk", "majk"):
        return {"name": name, "k": int(rr.k)}
    if name == "maj1_topn":
        return {"name": name, "n": int(rr.topn)}
    return {"name": name}


def _row(res: MetricResult, n_boot: int, seed: int) -> dict[str, Any]:
    row = res.to_row(n_boot=n_boot, seed=seed)
    return {k: (v if not hasattr(v, "item") else v.item()) for k, v in row.items()}


def _row_vs_maj1(res: MetricResult, maj1: MetricResult, n_boot: int, seed: int) -> dict[str, Any]:
    """:func:`_row` with the paired difference to ``maj1`` on the same problems."""
    row = _row(res, n_boot, seed)
    d = res.compare(maj1, n_boot=n_boot, seed=seed)
    row.update(vs_maj1=d.diff, vs_maj1_lo=d.lo, vs_maj1_hi=d.hi)
    return row


def est(row: Mapping[str, Any]) -> Estimate:
    """An Estimate from a metrics row (``accuracy``, ``accuracy_lo``, ``accuracy_hi``)."""
    return Estimate(float(row["accuracy"]), float(row["accuracy_lo"]), float(row["accuracy_hi"]),
                    int(row.get("n_problems", 0)))


def vs_maj1(row: Mapping[str, Any]) -> Estimate:
    """The paired difference to Maj1 of a metrics row, as a signed Estimate."""
    return Estimate(float(row["vs_maj1"]), float(row["vs_maj1_lo"]), float(row["vs_maj1_hi"]),
                    int(row.get("n_problems", 0)), signed=True)


MEANING: dict[str, str] = {
    "Pass@1": "Pass@1: the greedy solution's answer is correct",
    "Pass@N": "Pass@N: at least one of the N samples is correct (the ceiling of any selection)",
    "Maj1@N": "Maj1@N: the most voted answer cluster is correct (majority vote, no evaluator)",
    "majk": "MajK: a correct cluster is among the K most voted",
    "maj1": "Maj1: majority vote over the N samples' answer clusters",
    "rr_all": "RR.All: the evaluator's highest-scored sample of all N (cost 1.0)",
    "rr_topk": "RR.Top-K (SCR): the highest-scored sample within the K most voted clusters",
    "wrr": "W.RR: the cluster with the largest sum of evaluator scores",
    "wrr_topk": "W.RR.Top-K: W.RR restricted to the K most voted clusters",
    "maj1_topn": "Maj1.TopN: majority vote over the evaluator's N best-scored samples",
}
"""One line per metric name (generation rows) or strategy (re-ranking rows): what it means."""


def cell_tables(metrics: Mapping[str, Any], title: str) -> list[Table]:
    """The cell's generation table and, when scored, its re-ranking table."""
    n = metrics["n_samples"]
    gen = Table("generation", f"{title}: generation metrics (N={n}, {metrics['n_problems']} "
                "problems, %, 95% bootstrap CI)", ["metric", "accuracy"])
    for name, row in metrics["generation"].items():
        gen.add_row(name.replace("@N", f"@{n}"), est(row))
        meaning = MEANING.get(name)
        if meaning is None and name.startswith("Maj"):  # MajK@N with the config's K
            k = name[3:].split("@")[0]
            meaning = MEANING["majk"].replace("MajK", f"Maj{k}@N").replace(" K ", f" {k} ")
        if meaning:
            gen.notes.append(meaning.replace("@N", f"@{n}").replace("N samples", f"{n} samples"))
    tables = [gen]
    if metrics["rerank"]:
        rr = Table("rerank", f"{title}: re-ranking strategies (N={n}, %, 95% CI)",
                   ["strategy", "accuracy", "evaluator cost", "vs Maj1 (paired diff)",
                    "chosen on val"])
        for name, row in metrics["rerank"].items():
            strat = row["strategy"]
            chosen = metrics["selection"].get(strat)
            rr.add_row(name, est(row), Number(float(row["cost_ratio"])), vs_maj1(row),
                       _chosen(chosen))
            if strat in MEANING:
                rr.notes.append(MEANING[strat])
        rr.notes.append("evaluator cost: candidates scored by the evaluator, as a fraction of "
                        "all N (RR.All = 1.0); vs Maj1: paired difference on the same problems.")
        rr.notes.append("'chosen on val': K (or N) selected on the validation problems and its "
                        "test accuracy; the fixed-K row uses the config's K.")
        tables.append(rr)
    if metrics.get("by_level"):
        tables.append(_level_table(metrics["by_level"], title, n))
    return tables


def _level_table(levels: Mapping[str, Any], title: str, n: int) -> Table:
    """Accuracy by MATH level, and each row's paired difference to Maj1 on that level."""
    names = list(next(iter(levels.values()))["rows"])
    cols = [f"level {lv} ({g['n_problems']})" for lv, g in levels.items()]
    t = Table("by_level", f"{title}: by MATH level (N={n}; %, 95% CI; problems per level in "
              "the header)", ["row", *cols])
    for name in names:
        t.add_row(name.replace("@N", f"@{n}"), *(est(g["rows"][name]) for g in levels.values()))
    for name in names:
        if name != "Maj1@N":
            t.add_row(f"{name.replace('@N', f'@{n}')} - Maj1@{n}",
                      *(vs_maj1(g["rows"][name]) for g in levels.values()))
    t.notes.append("by level: each row on the problems of one MATH level; the '- Maj1' rows "
                   "are paired differences on those problems (where the overall "
                   "difference comes from).")
    return t


def _chosen(sel: Mapping[str, Any] | None) -> str:
    if not sel:
        return "–"
    return (f"{sel['param']}={sel['chosen']}: {100 * sel['test_accuracy']:.1f} "
            f"[{100 * sel['test_accuracy_lo']:.1f}, {100 * sel['test_accuracy_hi']:.1f}]")


def write_cell(out_dir: Path, cell: Mapping[str, Any], metrics: Mapping[str, Any]) -> Path:
    """``metrics.json``: the cell's identity (overrides, step hashes) and all its metrics."""
    return atomic_write_json(out_dir / "metrics.json", {"cell": dict(cell), **metrics})

"""``experiment=evaluator_quality``: the evaluator-quality sweep from real candidate stores.

    python -m mathft.evaluate experiment=evaluator_quality stores.test=T stores.val=V
    python -m mathft.evaluate 'experiment=[smoke,evaluator_quality]'   # the cell's cached stores

With ``stores.test`` (and ``stores.val``, where K is chosen) only those files are read; a
``stores.test_scores`` store (a trained evaluator's S_cls on ``stores.test``) adds its measured
AUC to the plot. Without ``stores.test`` the cell's generator and its test/validation samples
come from the step cache (computed if missing, like ``mathft.pipeline``); with
``quality.trained_evaluator=true`` the cell's evaluator is trained/scored (or reused) too and
its measured test AUC is marked. ``quality.mark_auc: {name: auc}`` marks any other evaluator.

Writes to the run directory: ``evaluator_quality.{md,csv,tex,json}`` (table),
``evaluator_quality.png`` (plot), ``metrics.json`` (every row, break-even AUCs, marks); logs a
numeric W&B table and line plot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.io import atomic_write_json
from mathft.reporting.quality_plot import plot_quality, quality_table, wandb_quality
from mathft.reporting.tables import to_markdown, write_table
from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.metrics import evaluate_many
from mathft.rerank.quality import pooled_auc, quality_sweep, within_problem_auc
from mathft.runs import report, steps
from mathft.runs.cache import to_plain
from mathft.runs.cell import evaluator_model_cfg, evaluator_steps
from mathft.runs.lifecycle import Loggers
from mathft.runs.problems import problem_set

log = logging.getLogger(__name__)

Loaded = tuple[list[ProblemCandidates], list[ProblemCandidates] | None,
               list[ProblemCandidates] | None, dict[str, Any]]


def _file(path: Any, what: str) -> Path:
    p = Path(str(path))
    if not p.is_file():
        why = "is a directory, not a store file" if p.is_dir() else "does not exist"
        raise FileNotFoundError(f"evaluator_quality: {what} {p} {why}")
    return p


def load_stores(cfg: DictConfig, loggers: Loggers) -> Loaded:
    """(test, val, test with trained scores or None, source) from ``stores.*`` or the cache."""
    st = cfg.get("stores") or {}
    if st.get("test"):
        test = report.load_candidates(_file(st.test, "stores.test"))
        val = report.load_candidates(_file(st.val, "stores.val")) if st.get("val") else None
        scored = (report.load_candidates(_file(st.test, "stores.test"),
                                         _file(st.test_scores, "stores.test_scores"))
                  if st.get("test_scores") else None)
        return test, val, scored, {"stores": to_plain(st)}
    gen_path, gen_id, _ = steps.generator(cfg, cfg.model, loggers.get("generator"), lazy=True)
    test_p = problem_set(cfg, "test")
    test_st = steps.sample(cfg, gen_path, gen_id, cfg.model, test_p, cfg.sampling, "test")
    scores_st = None
    if cfg.quality.trained_evaluator and cfg.evaluator.enabled:
        val_st, ev_st = evaluator_steps(cfg, gen_path, gen_id, loggers)
        scores_st = steps.score(cfg, ev_st, evaluator_model_cfg(cfg), test_st, test_p, "test")
    else:
        val_st = steps.sample(cfg, gen_path, gen_id, cfg.model, problem_set(cfg, "val"),
                              cfg.sampling, "val")
    source = {"generator": gen_id, "test": str(test_st.dir / "candidates.jsonl"),
              "val": str(val_st.dir / "candidates.jsonl"),
              "test_scores": str(scores_st.dir / "scores.jsonl") if scores_st else None}
    test = report.load_candidates(test_st)
    val = report.load_candidates(val_st)
    scored = report.load_candidates(test_st, scores_st) if scores_st else None
    return test, val, scored, source


def trained_summary(scored: list[ProblemCandidates], k: int) -> dict[str, Any]:
    """Measured AUC of a trained evaluator on the test store and its strategies' accuracy."""
    res = evaluate_many(scored, ["maj1", "rr_all", {"name": "rr_topk", "k": k}, "wrr"])
    return {"auc": pooled_auc(scored), "within_problem_auc": within_problem_auc(scored),
            "n_mixed_problems": sum(0 < sum(pc.correct) < pc.n for pc in scored),
            **{r.name: r.accuracy for r in res}}


def run(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """The sweep, its table, plot, metrics.json and W&B logs; returns the metrics."""
    q = cfg.quality
    test, val, scored, source = load_stores(cfg, loggers)
    marks = {str(k): float(v) for k, v in (to_plain(q.get("mark_auc")) or {}).items()}
    trained = None
    if scored is not None:
        trained = trained_summary(scored, int(cfg.rerank.k))
        if trained["auc"] == trained["auc"]:  # not NaN: both classes among the candidates
            marks.setdefault("trained (test AUC)", trained["auc"])
    sweep = quality_sweep(
        test, val, aucs=[float(a) for a in q.aucs], n_seeds=int(q.n_seeds),
        strategies=to_plain(q.strategies), k_grid=[int(k) for k in q.k_grid],
        seed=int(q.seed), n_boot=int(q.n_boot), n_sub=cfg.rerank.get("n_sub"),
        n_subsets=int(cfg.rerank.n_subsets))
    rows, breakeven = sweep.rows(), sweep.breakeven()
    n = min(pc.n for pc in test)
    title = (f"{cfg.get('experiment_name', 'evaluator_quality')}: accuracy vs evaluator AUC "
             f"(N={n}, {len(test)} test / {len(val or [])} val problems, {sweep.n_seeds} seeds)")
    notes = [
        "Synthetic evaluator: score = sigmoid(correct*d + N(0,1)), d = sqrt(2)*Phi^-1(a), "
        "seeded per (seed, problem, sample); realised AUC pooled over test candidates, "
        "mean [min, max] over seeds.",
        f"Accuracy: per-problem correctness averaged over {sweep.n_seeds} seeds, then a "
        f"bootstrap over problems ({sweep.n_boot} resamples, 95%); it is the CI of the expected "
        "accuracy of an evaluator of that AUC on these problems. Paired differences likewise.",
    ]
    tuned = [lab for lab in sweep.labels if lab.endswith("Top-K")]
    notes.append(("K of " + " / ".join(tuned) + " chosen on the validation store for each "
                  "(a, seed), never on test" if tuned else "K fixed by quality.strategies "
                  "(no validation store)") + "; SCR = RR.Top-K; cost = solutions scored / N.")
    for label, b in breakeven.items():
        notes.append(f"{label} beats Maj1 from a = {_fmt(b['point'])} (point), "
                     f"{_fmt(b['significant'])} (paired CI excludes 0); its evaluator cost "
                     f"ratio there: {_fmt(b['cost'], 2)}.")
    table = quality_table(rows, title=title, notes=notes)
    write_table(table, out_dir)
    png = plot_quality(rows, out_dir / "evaluator_quality.png", marks=marks, title=title)
    metrics = {"source": source, "n_problems": len(test), "n_val_problems": len(val or []),
               "n_samples": n, "rows": rows, "breakeven": breakeven, "marks": marks,
               "trained": trained, "meta": sweep.meta}
    atomic_write_json(out_dir / "metrics.json", metrics)
    wb = loggers.wandb_run()
    if wb is not None:
        import wandb

        wandb_quality(rows, wb)
        wb.log({"figures/evaluator_quality": wandb.Image(str(png))})
        wb.summary.update({f"quality/breakeven/{lab}": b["point"]
                           for lab, b in breakeven.items() if b["point"] is not None})
    print(to_markdown(table))
    print(f"plot: {png}")
    return metrics


def _fmt(v: float | None, digits: int = 3) -> str:
    return "never on the grid" if v is None else f"{v:.{digits}f}"

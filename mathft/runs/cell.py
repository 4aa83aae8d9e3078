"""One experiment cell end to end: generator -> samples -> evaluator -> scores -> tables.

Each arrow is a hash-keyed step directory (:mod:`mathft.runs.cache`), so cells of a sweep
share what they have in common (one SSFT generator for every re-ranking cell) and an
interrupted cell resumes where it stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.reporting.calibration import (
    evaluator_diagnostics,
    evaluator_table,
    log_reliability,
    plot_reliability,
)
from mathft.reporting.curves import log_curves, plot_curves
from mathft.reporting.plots import figure1, log_figure1
from mathft.reporting.tables import Table, log_tables, to_markdown
from mathft.rerank.candidates import ProblemCandidates
from mathft.runs import report, steps
from mathft.runs.budget import estimate_budget
from mathft.runs.cache import Step, config_hash
from mathft.runs.keys import metrics_key
from mathft.runs.lifecycle import Loggers
from mathft.runs.reuse import PlannedStep, format_plan, is_planning, planning
from mathft.runs.validate import validate
from mathft.sampling.pins import same_weights

log = logging.getLogger(__name__)


def greedy_sampling(cfg: DictConfig) -> dict[str, Any]:
    """Greedy decoding for Pass@1 with the sampling config's length, stop and batch limits."""
    s = cfg.sampling
    return {"n": 1, "greedy": True, "temperature": 1.0, "top_p": 1.0, "seed": 0,
            "max_new_tokens": int(s.max_new_tokens), "batch_size": int(s.batch_size),
            "stop_on_answer": bool(s.stop_on_answer), "stop": list(s.get("stop") or []),
            "engine": s.get("engine", "auto"), "precision": s.get("precision", "auto"),
            "shard": s.get("shard"), "workers": s.get("workers", "auto")}


def evaluator_model_cfg(cfg: DictConfig) -> Any:
    """The evaluator's model: the generator's unless ``evaluator.same_model=false`` (Table 6)."""
    return cfg.model if cfg.evaluator.same_model else cfg.evaluator_model


@dataclass
class CellSteps:
    """The steps of one cell (hashes of what the tables are computed from)."""

    gen_id: str
    test: Step
    generator: Step | None = None  # None: the base model samples (generator.train=false)
    greedy: Step | None = None
    val: Step | None = None
    evaluator: Step | None = None
    test_scores: Step | None = None
    val_scores: Step | None = None


def cell_steps(cfg: DictConfig, loggers: Loggers) -> CellSteps:
    """Run (or, under :func:`~mathft.runs.reuse.planning`, only plan) every step of a cell."""
    # lazy: trained only if a step that samples from it must compute
    gen_path, gen_id, gen_st = steps.generator(cfg, cfg.model, loggers.get("generator"),
                                               lazy=True)
    test = steps.problem_set(cfg, "test")
    greedy = steps.sample(cfg, gen_path, gen_id, cfg.model, test, greedy_sampling(cfg),
                          "test_greedy") if cfg.eval.greedy else None
    out = CellSteps(gen_id, test=steps.sample(cfg, gen_path, gen_id, cfg.model, test,
                                              cfg.sampling, "test"),
                   generator=gen_st, greedy=greedy)
    if cfg.evaluator.enabled:
        ev_model = evaluator_model_cfg(cfg)
        out.val, out.evaluator = evaluator_steps(cfg, gen_path, gen_id, loggers)
        out.test_scores = steps.score(cfg, out.evaluator, ev_model, out.test, test, "test")
        out.val_scores = steps.score(cfg, out.evaluator, ev_model, out.val,
                                     steps.problem_set(cfg, "val"), "val")
    if not is_planning():  # stores of one generator key: one training's weights
        same_weights([s.dir for s in (out.test, out.greedy, out.val) if s is not None],
                     f"generator {gen_id}", "the stores this cell reads from it")
    return out


def evaluator_steps(cfg: DictConfig, gen_path: steps.ModelRef, gen_id: str, loggers: Loggers
                    ) -> tuple[Step, Step]:
    """Samples of the validation problems and the evaluator trained on its own generator's
    samples (the cell's generator, or with ``evaluator.same_model=false`` the SSFT generator
    of ``evaluator_model``): ``(val samples of the cell's generator, evaluator)``."""
    val = steps.problem_set(cfg, "val")
    train_p = steps.problem_set(cfg, "evaluator_train")
    ev_model = evaluator_model_cfg(cfg)
    if cfg.evaluator.same_model:
        ev_gen_path, ev_gen_id = gen_path, gen_id
    else:
        ev_gen_path, ev_gen_id, _ = steps.generator(cfg, ev_model, loggers.get("ev_generator"),
                                                    lazy=True)
    val_st = steps.sample(cfg, gen_path, gen_id, cfg.model, val, cfg.sampling, "val")
    ev_train_st = steps.sample(cfg, ev_gen_path, ev_gen_id, ev_model, train_p, cfg.sampling,
                               "evaluator_train")
    ev_val_st = val_st if ev_gen_id == gen_id else steps.sample(
        cfg, ev_gen_path, ev_gen_id, ev_model, val, cfg.sampling, "val")
    if not is_planning():
        same_weights([ev_train_st.dir, ev_val_st.dir], f"generator {ev_gen_id}",
                     "the evaluator's training and validation stores")
    ev_st = steps.train_evaluator(cfg, ev_model, ev_gen_path, ev_gen_id, ev_train_st, ev_val_st,
                                  [*train_p, *val], loggers.get("evaluator"))
    return val_st, ev_st


def dry_run(cfg: DictConfig) -> list[PlannedStep]:
    """Print the cell's plan: one line per step (name, hash, reuse/resume/compute, and for
    compute what differs from the nearest existing step); nothing is trained or sampled."""
    with planning() as plan:
        cs = cell_steps(cfg, Loggers(None))
    skip_unneeded_generators(plan, from_generator=str(cfg.evaluator.init) == "generator")
    key = metrics_key(cfg, **_hashes(cs))
    plan.append(PlannedStep("metrics", config_hash(key, length=12), "compute",
                            "tables of this cell (not cached)"))
    add_work_estimates(cfg, plan)
    print(f"plan of {cfg.get('experiment_name', 'adhoc')} {' '.join(_overrides())}".rstrip())
    print(format_plan(plan))
    return plan


def skip_unneeded_generators(plan: list[PlannedStep], from_generator: bool) -> None:
    """Mark a generator ``skip`` when no step that reads its weights computes: the samples
    (and an evaluator started from it) are all reused, e.g. imported with ``mathft-cache``;
    the pipeline then never trains it (:class:`~mathft.runs.steps.PendingModel`)."""
    readers = [p for p in plan if p.name.startswith("samples_") or
               (from_generator and p.name == "evaluator")]
    if readers and all(p.action == "reuse" for p in readers):
        for p in plan:
            if p.name == "generator" and p.action != "reuse":
                p.action, p.note = "skip", "not needed: every step that reads it is done"


def add_work_estimates(cfg: DictConfig, plan: list[PlannedStep]) -> None:
    """Tokens each planned step trains / generates / scores (:mod:`mathft.runs.budget`), as
    extra columns of the plan, so a user can budget before submitting."""
    try:
        rows = {b.step: b for b in estimate_budget(cfg)}
    except ValueError as e:  # e.g. trainer.devices=-1: the count depends on the machine
        log.info("dry run: no work estimates (%s)", e)
        return
    for p in plan:
        name = p.name.replace("samples_", "sample:", 1)
        if p.name == "scores":
            name = "score:" + ("val" if p.note.startswith("[val]") else "test")
        b = rows.get(name)
        if b is None:
            continue
        for col, v in (("train_tok", b.train_tokens), ("gen_tok", b.generate_tokens),
                       ("score_tok", b.score_tokens)):
            if v:
                p.extra[col] = _human(v)


def _human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(int(n))


def _hashes(cs: CellSteps) -> dict[str, str | None]:
    return {k: (getattr(cs, k).hash if getattr(cs, k) is not None else None)
            for k in ("test", "greedy", "val", "test_scores", "val_scores")}


def run_cell(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Run (or resume) every step of one cell and write its metrics and tables to ``out_dir``.

    The config is validated first; ``run.dry_run=true`` prints the plan instead.
    """
    validate(cfg)
    if cfg.sampling.get("shard"):
        raise ValueError("sampling.shard is for mathft.sample / mathft.train stages=evaluator "
                         "job arrays; run the cell without it once every shard is done")
    if cfg.run.get("dry_run", False):
        return {"plan": [p.__dict__ for p in dry_run(cfg)]}
    cs = cell_steps(cfg, loggers)
    if cfg.evaluator.get("score_shard") and cs.test_scores is not None:
        # a job of a scoring array: stop at its scores
        print(f"score shard {cfg.evaluator.score_shard}: {cs.test_scores.dir} "
              f"{cs.val_scores.dir}")
        return {"test_scores": str(cs.test_scores.dir), "val_scores": str(cs.val_scores.dir)}
    cell: dict[str, Any] = {
        "experiment": cfg.get("experiment_name", "adhoc"), "overrides": _overrides(),
        "generator": cs.gen_id, "model": cfg.model.get("name"), "data": cfg.data.mixture,
        "recipe": cfg.get("recipe_name", "ssft"), "stages": str(cfg.stages.mode),
        "objective": str(cfg.objective.name), "prompt": _prompt_label(cfg.prompt),
        "evaluator_model": evaluator_model_cfg(cfg).get("name") if cfg.evaluator.enabled
        else None,
    }
    if cs.evaluator is not None:
        cell["evaluator"] = cs.evaluator.hash
    if cs.generator is not None:  # which weights were exported (generator.select)
        cell["select"] = str(cfg.generator.get("select", "last"))
        cell["selected"] = cs.generator.summary().get("selected")  # None: no record here
    test_pc = report.load_candidates(cs.test, cs.test_scores)
    val_pc = report.load_candidates(cs.val, cs.val_scores) if cs.val is not None else None
    levels = {p.uid: p.level for p in steps.problem_set(cfg, "test")}
    metrics = report.cell_metrics(cfg.rerank, test_pc, cs.greedy, val_pc, levels)
    cell.update(steps={"test": cs.test.hash, "greedy": cs.greedy.hash if cs.greedy else None,
                       "metrics": config_hash(metrics_key(cfg, **_hashes(cs)), length=12)})
    title = f"{cell['experiment']} [{cell['model']}, {cell['data']}]"
    tables = report.cell_tables(metrics, title)
    if cs.test_scores is not None:
        tables.append(_evaluator_report(cs, test_pc, cfg.rerank, metrics, out_dir, title))
    if cs.test_scores is not None and cfg.rerank.get("figure1", True):
        rows = figure1(test_pc, list(cfg.rerank.k_grid), out_dir / "figure1.png",
                       title=f"{title}: RR.Top-K", n_boot=int(cfg.rerank.n_boot))
        metrics["figure1"] = rows
    histories = val_histories(cs)
    curves_png = plot_curves(histories, out_dir / "curves.png", title=f"{title}: validation")
    if histories:
        metrics["curves"] = histories
    report.write_cell(out_dir, cell, metrics)
    run = loggers.wandb_run()
    log_tables(tables, out_dir, run)
    if run is not None:
        run.summary.update(_summary(metrics))
        if metrics.get("figure1"):
            log_figure1(run, metrics["figure1"], out_dir / "figure1.png", title=title)
        if histories:
            log_curves(run, histories, curves_png)
        if "evaluator" in metrics:
            log_reliability(run, metrics["evaluator"], out_dir / "calibration.png")
    for t in tables:
        print(to_markdown(t))
    return metrics


def _evaluator_report(cs: CellSteps, test_pc: list[ProblemCandidates], rr: DictConfig,
                      metrics: dict[str, Any], out_dir: Path, title: str) -> Table:
    """The evaluator's training counts, test AUCs and calibration: ``metrics['evaluator']``,
    ``calibration.png`` and the ``evaluator`` table."""
    done = cs.evaluator.summary() if cs.evaluator is not None else {}
    diag = evaluator_diagnostics(test_pc, n_boot=int(rr.n_boot), seed=int(rr.seed))
    train = {"counts": done.get("counts"), "val_auc": done.get("metrics", {}).get("val/auc")}
    metrics["evaluator"] = {**diag, "train": train}
    plot_reliability(diag, out_dir / "calibration.png", title=f"{title}: calibration")
    return evaluator_table(diag, train, title)


def val_histories(cs: CellSteps) -> dict[str, list[dict[str, float]]]:
    """The ``val_history`` (validation metrics by optimizer step) that the cell's generator and
    evaluator steps recorded in their ``DONE.json``; steps without one are left out."""
    out = {}
    for name, st in (("generator", cs.generator), ("evaluator", cs.evaluator)):
        points = st.summary().get("val_history") if st is not None else None
        if points:
            out[name] = points
    return out


def _prompt_label(prompt: Any) -> str:
    kind = str(prompt.get("kind", "ssft"))
    if kind == "few_shot":
        return f"{prompt.get('k')}-shot {prompt.get('style')}" + (" chat" if prompt.get("chat") else "")
    return kind + (" chat" if prompt.get("chat") else "")


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def _summary(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat ``group/name`` -> accuracy for the W&B run summary (sweep dashboards)."""
    out: dict[str, float] = {}
    for group in ("generation", "rerank"):
        for name, row in metrics.get(group, {}).items():
            out[f"{group}/{name}"] = float(row["accuracy"])
            out[f"{group}/{name}/cost"] = float(row["cost_ratio"])
    return out

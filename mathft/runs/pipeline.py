"""One experiment cell end to end: generator -> samples -> evaluator -> scores -> tables.

Each arrow is a hash-keyed step directory (:mod:`mathft.runs.cache`), so cells of a sweep
share what they have in common (one SSFT generator for every re-ranking cell) and an
interrupted cell resumes where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.reporting.plots import figure1, log_figure1
from mathft.reporting.tables import log_tables, to_markdown
from mathft.runs import report, steps
from mathft.runs.cache import Step
from mathft.runs.lifecycle import Loggers

log = logging.getLogger(__name__)


def greedy_sampling(cfg: DictConfig) -> dict[str, Any]:
    """Greedy decoding for Pass@1 with the sampling config's length and batch limits."""
    s = cfg.sampling
    return {"n": 1, "greedy": True, "temperature": 1.0, "top_p": 1.0, "seed": 0,
            "max_new_tokens": int(s.max_new_tokens), "batch_size": int(s.batch_size),
            "stop_on_answer": bool(s.stop_on_answer), "engine": s.get("engine", "auto"),
            "precision": s.get("precision", "auto"), "shard": s.get("shard")}


def evaluator_model_cfg(cfg: DictConfig) -> Any:
    """The evaluator's model: the generator's unless ``evaluator.same_model=false`` (Table 6)."""
    return cfg.model if cfg.evaluator.same_model else cfg.evaluator_model


def run_cell(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Run (or resume) every step of one cell and write its metrics and tables to ``out_dir``."""
    if cfg.sampling.get("shard"):
        raise ValueError("sampling.shard is for mathft.sample / mathft.train stages=evaluator "
                         "job arrays; run the cell without it once every shard is done")
    gen_path, gen_st = steps.train_generator(cfg, cfg.model, loggers.get("generator"))
    gen_id = gen_st.hash if gen_st else f"base:{cfg.model.name_or_path}"
    test = steps.problem_set(cfg, "test")
    cell: dict[str, Any] = {
        "experiment": cfg.get("experiment_name", "adhoc"), "overrides": _overrides(),
        "generator": gen_id, "model": cfg.model.get("name"), "data": cfg.data.mixture,
        "recipe": cfg.get("recipe_name", "ssft"), "stages": str(cfg.stages.mode),
        "objective": str(cfg.objective.name), "prompt": _prompt_label(cfg.prompt),
        "evaluator_model": (cfg.model if cfg.evaluator.same_model else cfg.evaluator_model
                            ).get("name") if cfg.evaluator.enabled else None,
    }
    greedy_st = None
    if cfg.eval.greedy:
        greedy_st = steps.sample(cfg, gen_path, gen_id, cfg.model, test, greedy_sampling(cfg),
                                 "test_greedy")
    test_st = steps.sample(cfg, gen_path, gen_id, cfg.model, test, cfg.sampling, "test")
    test_scores = val_scores = val_st = None
    if cfg.evaluator.enabled:
        val_st, test_scores, val_scores = _evaluator_steps(cfg, gen_path, gen_id, test, test_st,
                                                           loggers, cell)
        if cfg.evaluator.get("score_shard"):  # a job of a scoring array: stop at its scores
            print(f"score shard {cfg.evaluator.score_shard}: {test_scores.dir} {val_scores.dir}")
            return {"test_scores": str(test_scores.dir), "val_scores": str(val_scores.dir)}
    test_pc = report.load_candidates(test_st, test_scores)
    val_pc = report.load_candidates(val_st, val_scores) if val_st is not None else None
    metrics = report.cell_metrics(cfg.rerank, test_pc, greedy_st, val_pc)
    cell.update(steps={"test": test_st.hash, "greedy": greedy_st.hash if greedy_st else None})
    title = f"{cell['experiment']} [{cell['model']}, {cell['data']}]"
    tables = report.cell_tables(metrics, title)
    if test_scores is not None and cfg.rerank.get("figure1", True):
        rows = figure1(test_pc, list(cfg.rerank.k_grid), out_dir / "figure1.png",
                       title=f"{title}: RR.Top-K", n_boot=int(cfg.rerank.n_boot))
        metrics["figure1"] = rows
    report.write_cell(out_dir, cell, metrics)
    run = loggers.wandb_run()
    log_tables(tables, out_dir, run)
    if run is not None:
        run.summary.update(_summary(metrics))
        if metrics.get("figure1"):
            log_figure1(run, metrics["figure1"], out_dir / "figure1.png", title=title)
    for t in tables:
        print(to_markdown(t))
    return metrics


def _evaluator_steps(cfg: DictConfig, gen_path: str, gen_id: str, test: list, test_st: Step,
                     loggers: Loggers, cell: dict[str, Any]) -> tuple[Step, Step, Step]:
    """Evaluator trained on its own generator's samples; scores for val and test candidates."""
    val = steps.problem_set(cfg, "val")
    train_p = steps.problem_set(cfg, "evaluator_train")
    ev_model = evaluator_model_cfg(cfg)
    if cfg.evaluator.same_model:
        ev_gen_path, ev_gen_id = gen_path, gen_id
    else:
        ev_gen_path, ev_gen_st = steps.train_generator(cfg, ev_model, loggers.get("ev_generator"))
        ev_gen_id = ev_gen_st.hash if ev_gen_st else f"base:{ev_model.name_or_path}"
    val_st = steps.sample(cfg, gen_path, gen_id, cfg.model, val, cfg.sampling, "val")
    ev_train_st = steps.sample(cfg, ev_gen_path, ev_gen_id, ev_model, train_p, cfg.sampling,
                               "evaluator_train")
    ev_val_st = val_st if ev_gen_id == gen_id else steps.sample(
        cfg, ev_gen_path, ev_gen_id, ev_model, val, cfg.sampling, "val")
    ev_st = steps.train_evaluator(cfg, ev_model, ev_gen_path, ev_train_st, ev_val_st,
                                  [*train_p, *val], loggers.get("evaluator"))
    cell.update(evaluator=ev_st.hash, evaluator_model=ev_model.get("name"))
    test_scores = steps.score(cfg, ev_st, ev_model, test_st, test)
    val_scores = steps.score(cfg, ev_st, ev_model, val_st, val)
    return val_st, test_scores, val_scores


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

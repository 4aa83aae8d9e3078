"""What the ``mathft.train`` / ``mathft.sample`` / ``mathft.evaluate`` entry points run.

Each is one or more steps of :mod:`mathft.runs.pipeline`, through the same step cache, so a
model trained by ``mathft.train`` is the one ``mathft.sample`` and ``mathft.pipeline`` reuse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.reporting.tables import log_tables, to_markdown
from mathft.runs import report, steps
from mathft.runs.lifecycle import Loggers
from mathft.runs.pipeline import evaluator_model_cfg, greedy_sampling, run_cell

log = logging.getLogger(__name__)


def train(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Train the generator (``stages=ssft|sequential``) or the evaluator (``stages=evaluator``)."""
    if str(cfg.stages.mode) == "evaluator":
        gen_path, gen_st = steps.train_generator(cfg, cfg.model, loggers.get("generator"))
        gen_id = gen_st.hash if gen_st else f"base:{cfg.model.name_or_path}"
        val = steps.problem_set(cfg, "val")
        train_p = steps.problem_set(cfg, "evaluator_train")
        tr = steps.sample(cfg, gen_path, gen_id, cfg.model, train_p, cfg.sampling,
                          "evaluator_train")
        va = steps.sample(cfg, gen_path, gen_id, cfg.model, val, cfg.sampling, "val")
        ev = steps.train_evaluator(cfg, evaluator_model_cfg(cfg), gen_path, tr, va,
                                   [*train_p, *val], loggers.get("evaluator"))
        out = {"evaluator": str(ev.dir / "model"), **ev.summary()}
    else:
        gen_path, gen_st = steps.train_generator(cfg, cfg.model, loggers.get("generator"))
        out = {"generator": gen_path, **(gen_st.summary() if gen_st else {})}
    print(f"model: {out.get('evaluator', out.get('generator'))}")
    return out


def sample(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Sample the test problems (N samples, and greedy when ``eval.greedy``)."""
    path = cfg.generator.get("path")
    if path:
        gen_path, gen_id = str(path), f"path:{Path(str(path)).resolve() if Path(str(path)).exists() else path}"
    else:
        gen_path, gen_st = steps.train_generator(cfg, cfg.model, loggers.get("generator"))
        gen_id = gen_st.hash if gen_st else f"base:{cfg.model.name_or_path}"
    test = steps.problem_set(cfg, "test")
    out: dict[str, Any] = {}
    if cfg.eval.greedy:
        g = steps.sample(cfg, gen_path, gen_id, cfg.model, test, greedy_sampling(cfg),
                         "test_greedy")
        out["greedy"] = str(g.dir / "candidates.jsonl")
    s = steps.sample(cfg, gen_path, gen_id, cfg.model, test, cfg.sampling, "test")
    out["test"] = str(s.dir / "candidates.jsonl")
    for k, v in out.items():
        print(f"{k}: {v}")
    return out


def evaluate(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Metrics and tables from explicit stores (``stores.*``), or the whole cell."""
    if cfg.get("quality") is not None:  # experiment=evaluator_quality
        from mathft.runs.quality import run as quality_run

        return quality_run(cfg, loggers, out_dir)
    st = cfg.stores
    if not st.test:
        return run_cell(cfg, loggers, out_dir)

    def _step(path: str | None) -> Path | None:
        if not path:
            return None
        p = Path(str(path))
        if not p.is_file():
            what = "is a directory, not a store file" if p.is_dir() else "does not exist"
            raise FileNotFoundError(f"evaluate: store {p} {what} (check stores.*)")
        return p

    test_pc = report.load_candidates(_step(st.test), _step(st.test_scores))
    val_pc = report.load_candidates(_step(st.val), _step(st.val_scores)) if st.val else None
    metrics = report.cell_metrics(cfg.rerank, test_pc, _step(st.greedy), val_pc)
    tables = report.cell_tables(metrics, f"{cfg.get('experiment_name', 'adhoc')} [{st.test}]")
    report.write_cell(out_dir, {"stores": dict(st)}, metrics)
    log_tables(tables, out_dir, loggers.wandb_run())
    for t in tables:
        print(to_markdown(t))
    return metrics

"""What the ``mathft.train`` / ``mathft.sample`` / ``mathft.evaluate`` entry points run.

Each is one or more steps of :mod:`mathft.runs.cell`, through the same step cache, so a
model trained by ``mathft.train`` is the one ``mathft.sample`` and ``mathft.pipeline`` reuse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mathft.reporting.tables import log_tables, to_markdown
from mathft.runs import quality, report, steps
from mathft.runs.cell import evaluator_steps, greedy_sampling, run_cell
from mathft.runs.lifecycle import Loggers
from mathft.runs.validate import validate

log = logging.getLogger(__name__)


def train(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Train the generator (``stages=ssft|sequential``) or the evaluator (``stages=evaluator``:
    the pipeline's own evaluator step, cross-model included)."""
    validate(cfg)
    gen_path, gen_id, gen_st = steps.generator(cfg, cfg.model, loggers.get("generator"))
    if str(cfg.stages.mode) == "evaluator" and cfg.sampling.get("shard"):
        # a job of a sharded array: its slices of the evaluator's data only, no training
        out = {name: str(steps.sample(cfg, gen_path, gen_id, cfg.model,
                                      steps.problem_set(cfg, name), cfg.sampling,
                                      name).dir / "candidates.jsonl")
               for name in ("evaluator_train", "val")}
        print(f"shard {cfg.sampling.shard}: {out}")
        return out
    if str(cfg.stages.mode) == "evaluator":
        _, ev = evaluator_steps(cfg, gen_path, gen_id, loggers)
        out = {"evaluator": str(ev.dir / "model"), **ev.summary()}
    else:
        out = {"generator": gen_path, **(gen_st.summary() if gen_st else {})}
    print(f"model: {out.get('evaluator', out.get('generator'))}")
    return out


def sample(cfg: DictConfig, loggers: Loggers, out_dir: Path) -> dict[str, Any]:
    """Sample the test problems (N samples, and greedy when ``eval.greedy``)."""
    validate(cfg)
    path = cfg.generator.get("path")
    if path:
        p = Path(str(path))
        gen_path, gen_id = str(path), f"path:{p.resolve() if p.exists() else path}"
    else:
        gen_path, gen_id, _ = steps.generator(cfg, cfg.model, loggers.get("generator"))
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
    if cfg.quality is not None:  # experiment=evaluator_quality
        return quality.run(cfg, loggers, out_dir)
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

"""Check a composed config before anything is trained, sampled or loaded.

Every problem is reported with its key (``generator.max_steps: expected an integer, got
'abc'``), all at once, so that a bad value never surfaces as a bare ``int()`` error after a
model has loaded, or after a sweep's first steps have run. The objects that validate
themselves (sampling parameters, objective, prompt, model config, rerank strategies) are
built here once, so their rules live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mathft.runs.cache import to_plain

EVAL_SETS = ("math500", "math", "gsm8k", "jsonl")
STAGE_MODES = ("ssft", "sequential", "evaluator")


class ConfigError(ValueError):
    """One or more config values are invalid; ``problems`` holds ``(key, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  {k}: {m}" for k, m in problems)
        super().__init__(f"invalid config ({len(problems)} problem(s)); fix these overrides:\n"
                         f"{lines}")


def _int(v: Any, lo: int | None = None, none: bool = False) -> str | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        return f"expected an integer{' or null' if none else ''}, got {v!r}"
    if lo is not None and v < lo:
        return f"must be >= {lo}, got {v}"
    return None


def _float(v: Any, lo: float | None = None, hi: float | None = None,
           none: bool = False) -> str | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        return f"expected a number, got {v!r}"
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        return f"must be in [{lo}, {hi}], got {v}"
    return None


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {v!r}"


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"expected one of {list(options)}, got {v!r}"


def _precision(v: Any) -> str | None:
    from typing import get_args

    import lightning_fabric.connector as c

    names = ("_PRECISION_INPUT_STR", "_PRECISION_INPUT_STR_ALIAS", "_PRECISION_INPUT_INT")
    ok = {str(x) for n in names for x in get_args(getattr(c, n, None))}
    if not ok:  # Lightning no longer lists them: let the Trainer check
        return None
    return None if str(v) in ok else f"unknown precision {v!r}; known: {sorted(ok)}"


RULES: dict[str, Callable[[Any], str | None]] = {
    "seed": _int,
    "generator.train": _bool,
    "generator.lr": lambda v: _float(v, 0.0),
    "generator.weight_decay": lambda v: _float(v, 0.0),
    "generator.warmup_ratio": lambda v: _float(v, 0.0, 1.0),
    "generator.batch_size": lambda v: _int(v, 1),
    "generator.max_length": lambda v: _int(v, 8),
    "generator.overlong": _one_of(("truncate", "drop")),
    "generator.packing": _bool,
    "generator.max_steps": lambda v: _int(v, 1),
    "generator.val_examples": lambda v: _int(v, 0),
    "evaluator.enabled": _bool,
    "evaluator.same_model": _bool,
    "evaluator.init": _one_of(("base", "generator")),
    "evaluator.lr": lambda v: _float(v, 0.0),
    "evaluator.weight_decay": lambda v: _float(v, 0.0),
    "evaluator.warmup_ratio": lambda v: _float(v, 0.0, 1.0),
    "evaluator.batch_size": lambda v: _int(v, 1),
    "evaluator.max_length": lambda v: _int(v, 8),
    "evaluator.max_steps": lambda v: _int(v, 1),
    "evaluator.n_per_problem": lambda v: _int(v, 1),
    "evaluator.balance": _bool,
    "evaluator.val_max_per_problem": lambda v: _int(v, 1, none=True),
    "evaluator.score_batch_size": lambda v: _int(v, 1),
    "eval.greedy": _bool,
    "data.seed": _int,
    "data.n_val": lambda v: _int(v, 0),
    "data.n_train": lambda v: _int(v, 0, none=True),
    "data.limit_train": lambda v: _int(v, 1, none=True),
    "data.limit_val": lambda v: _int(v, 0, none=True),
    "stages.mode": _one_of(STAGE_MODES),
    "trainer.precision": _precision,
    "trainer.accumulate_grad_batches": lambda v: _int(v, 1),
    "trainer.gradient_clip_val": lambda v: _float(v, 0.0, none=True),
    "run.ckpt_every_n_steps": lambda v: _int(v, 1),
    "run.dry_run": _bool,
    "run.keep_checkpoints": _bool,
    "rerank.k": lambda v: _int(v, 1),
    "rerank.topn": lambda v: _int(v, 1),
    "rerank.n_boot": lambda v: _int(v, 1),
}


def _check(problems: list[tuple[str, str]], key: str, build: Callable[[], Any]) -> None:
    try:
        build()
    except (ValueError, TypeError, KeyError) as e:
        problems.append((key, str(e).splitlines()[0]))


def _eval_set(problems: list[tuple[str, str]], which: str, node: Any) -> None:
    key, node = f"eval.{which}", to_plain(node)
    name, path = node.get("name"), node.get("path")
    if name not in EVAL_SETS:
        problems.append((f"{key}.name", f"expected one of {list(EVAL_SETS)}, got {name!r}"))
    if name == "jsonl":
        if not path:
            problems.append((f"{key}.path", "eval.*.name=jsonl needs the problem file's path"))
        elif not Path(str(path)).is_file():
            problems.append((f"{key}.path", f"file not found: {path}"))
    elif path:
        problems.append((f"{key}.path", f"is read only with {key}.name=jsonl (got name={name!r})"))
    if node.get("split") not in ("train", "val", "test"):
        problems.append((f"{key}.split", f"expected train, val or test, got {node.get('split')!r}"))
    if (msg := _int(node.get("limit"), 0, none=True)) is not None:
        problems.append((f"{key}.limit", msg))
    levels = node.get("levels")
    if levels is not None and (not isinstance(levels, list) or
                               any(_int(x, 0) for x in levels)):
        problems.append((f"{key}.levels", f"expected a list of integers or null, got {levels!r}"))


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming every invalid key of ``cfg`` (nothing is loaded)."""
    from mathft.data.prompts import build_prompt_builder
    from mathft.models.loading import model_config
    from mathft.models.objectives import Objective
    from mathft.rerank.strategies import Strategy
    from mathft.sampling.engine import SamplingParams

    problems: list[tuple[str, str]] = []
    for key, rule in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue
        if (msg := rule(OmegaConf.select(cfg, key))) is not None:
            problems.append((key, msg))
    _check(problems, "sampling", lambda: SamplingParams.from_mapping(
        {k: v for k, v in to_plain(cfg.sampling).items() if k != "name"}))
    _check(problems, "objective", lambda: Objective.from_config(to_plain(cfg.objective)))
    _check(problems, "prompt", lambda: build_prompt_builder(to_plain(cfg.prompt)))
    _check(problems, "model", lambda: model_config(to_plain(cfg.model)))
    if not cfg.evaluator.get("same_model", True):
        _check(problems, "evaluator_model", lambda: model_config(to_plain(cfg.evaluator_model)))
    for name in cfg.rerank.get("strategies") or []:
        _check(problems, "rerank.strategies", lambda n=name: Strategy(n))
    for which in ("test", "val", "evaluator_train"):
        _eval_set(problems, which, cfg.eval[which])
    seq = cfg.generator.get("sequential_steps")
    if cfg.stages.get("mode") == "sequential" and seq is not None and \
            len(seq) != len(cfg.stages.stages):
        problems.append(("generator.sequential_steps",
                         f"{len(seq)} entries for {len(cfg.stages.stages)} stages"))
    if problems:
        raise ConfigError(problems)

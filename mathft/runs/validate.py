"""Check a composed config before anything is trained, sampled or loaded.

Key names and types are checked when Hydra composes the config, against the schemas of
:mod:`mathft.runs.schema`. What a type cannot say is checked here, every problem reported
with its key (``generator.max_steps: must be >= 1, got 0``), all at once, so that a bad value
never surfaces after a model has loaded, or after a sweep's first steps have run:

- ranges, and names from a fixed list (``evaluator.init``, ``eval.*.name``...);
- rules across keys (``eval.*.path`` only with ``name=jsonl``, ``data.weights`` only for the
  mixture's sources, ``generator.sequential_steps`` against the stages, the LightningModule
  wiring of ``stages.module``/``evaluator.module``);
- keys appended with ``+key=value`` to a schema node (Hydra lets ``+`` add a key anywhere);
- ``trainer``, a free-form node: each key must be an argument of its class, and not one that
  every training step sets itself;
- the objects whose classes own their rules (sampling parameters, objective, prompt builder,
  rerank strategies, sequential stages) are built here once, so the rules live in the class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from mathft.data.collate import OVERLONG
from mathft.data.mixtures import MIXTURES
from mathft.data.prompts import build_prompt_builder
from mathft.models.multitask import parse_stages
from mathft.models.objectives import Objective
from mathft.rerank.strategies import Strategy
from mathft.runs.cache import to_plain
from mathft.runs.schema import added_keys
from mathft.sampling.engine import ENGINES, PRECISIONS, SamplingParams
from mathft.sampling.workers import parse_workers

EVAL_SETS = ("math500", "math", "gsm8k", "jsonl")
SPLITS = ("train", "val", "test")
STAGE_MODES = ("ssft", "sequential", "evaluator")
MODULES = {  # the LightningModule each training step builds (the class is not in its key)
    "stages.module": {"ssft": "mathft.models.ssft.SSFTModule",
                      "evaluator": "mathft.models.ssft.SSFTModule",
                      "sequential": "mathft.models.multitask.MultiTaskModule"},
    "evaluator.module": {mode: "mathft.models.evaluator.EvaluatorModule" for mode in STAGE_MODES},
}
STEP_TRAINER_ARGS = ("max_steps", "callbacks", "logger", "default_root_dir")
"""Trainer arguments every training step sets itself (generator/evaluator.max_steps...)."""


class ConfigError(ValueError):
    """One or more config values are invalid; ``problems`` holds ``(key, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  {k}: {m}" for k, m in problems)
        super().__init__(f"invalid config ({len(problems)} problem(s)); fix these overrides:\n"
                         f"{lines}")


def _range(lo: float | None = None, hi: float | None = None) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None or isinstance(v, bool) or not isinstance(v, int | float):
            return None  # the schema has the type (null where it allows it)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"must be >= {lo}, got {v}" if hi is None else \
                f"must be in [{lo}, {hi}], got {v}"
        return None
    return check


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"expected one of {list(options)}, got {v!r}"


def _number(lo: float, integer: bool = False) -> Callable[[Any], str | None]:
    """Type and range of a key of a free-form node (no schema types it)."""
    def check(v: Any) -> str | None:
        if v is None and not integer:
            return None
        ok = int if integer else int | float
        if isinstance(v, bool) or not isinstance(v, ok):
            return f"expected {'an integer' if integer else 'a number'}, got {v!r}"
        return _range(lo)(v)
    return check


def _precision(v: Any) -> str | None:
    import lightning_fabric.connector as c

    names = ("_PRECISION_INPUT_STR", "_PRECISION_INPUT_STR_ALIAS", "_PRECISION_INPUT_INT")
    ok = {str(x) for n in names for x in get_args(getattr(c, n, None))}
    if not ok:  # Lightning no longer lists them: let the Trainer check
        return None
    return None if str(v) in ok else f"unknown precision {v!r}; known: {sorted(ok)}"


def _merge_on_export(v: Any) -> str | None:
    if v is not False:
        return None
    return ("false exports a peft adapter directory, which the later steps and step reuse "
            "cannot load yet (they need model/config.json): keep true")


def _workers(name: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        try:
            parse_workers(v, name)
        except ValueError as e:
            return str(e)
        return None
    return check


RULES: dict[str, Callable[[Any], str | None]] = {
    "generator.lr": _range(0.0),
    "generator.weight_decay": _range(0.0),
    "generator.warmup_ratio": _range(0.0, 1.0),
    "generator.batch_size": _range(1),
    "generator.max_length": _range(8),
    "generator.overlong": _one_of(OVERLONG),
    "generator.max_steps": _range(1),
    "generator.val_examples": _range(0),
    "generator.select": _one_of(("last", "best_val")),
    "evaluator.init": _one_of(("base", "generator")),
    "evaluator.lr": _range(0.0),
    "evaluator.weight_decay": _range(0.0),
    "evaluator.warmup_ratio": _range(0.0, 1.0),
    "evaluator.batch_size": _range(1),
    "evaluator.max_length": _range(8),
    "evaluator.max_steps": _range(1),
    "evaluator.n_per_problem": _range(1),
    "evaluator.val_max_per_problem": _range(1),
    "evaluator.score_batch_size": _range(1),
    "data.mixture": _one_of(tuple(MIXTURES)),
    "data.n_val": _range(0),
    "data.n_train": _range(0),
    "data.limit_train": _range(1),
    "data.limit_val": _range(0),
    "sampling.engine": _one_of(ENGINES),
    "evaluator.score_workers": _workers("evaluator.score_workers"),
    "sampling.workers": _workers("sampling.workers"),
    "sampling.precision": _one_of(PRECISIONS),
    "evaluator.score_precision": _one_of(PRECISIONS),
    "finetune.merge_on_export": _merge_on_export,
    "stages.mode": _one_of(STAGE_MODES),
    "trainer.precision": _precision,
    "trainer.accumulate_grad_batches": _number(1, integer=True),
    "trainer.gradient_clip_val": _number(0.0),
    "run.ckpt_every_n_steps": _range(1),
    "rerank.k": _range(1),
    "rerank.topn": _range(1),
    "rerank.n_boot": _range(1),
}


def _check(problems: list[tuple[str, str]], key: str, build: Callable[[], Any]) -> None:
    try:
        build()
    except (ValueError, TypeError, KeyError) as e:
        problems.append((key, str(e).splitlines()[0]))


def _eval_set(problems: list[tuple[str, str]], which: str, node: Any) -> None:
    key = f"eval.{which}"
    name, path = node.name, node.path
    if name not in EVAL_SETS:
        problems.append((f"{key}.name", f"expected one of {list(EVAL_SETS)}, got {name!r}"))
    if name == "jsonl":
        if not path:
            problems.append((f"{key}.path", "eval.*.name=jsonl needs the problem file's path"))
        elif not Path(str(path)).is_file():
            problems.append((f"{key}.path", f"file not found: {path}"))
    elif path:
        problems.append((f"{key}.path", f"is read only with {key}.name=jsonl (got name={name!r})"))
    if node.split not in SPLITS:
        problems.append((f"{key}.split", f"expected one of {list(SPLITS)}, got {node.split!r}"))
    if (msg := _range(0)(node.limit)) is not None:
        problems.append((f"{key}.limit", msg))


def _trainer(problems: list[tuple[str, str]], node: Any) -> None:
    """Every key of ``trainer`` is an argument of its ``_target_``, none that a step sets."""
    try:
        params = inspect.signature(get_class(str(node._target_))).parameters
    except Exception as e:  # noqa: BLE001 - reported with its key
        problems.append(("trainer._target_", f"cannot import {node.get('_target_')!r}: {e}"))
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in node:
        if key.startswith("_"):
            continue
        if key in STEP_TRAINER_ARGS:
            problems.append((f"trainer.{key}", "set by every training step itself (max_steps: "
                             "generator.max_steps / evaluator.max_steps); remove it"))
        elif key not in params and not takes_any:
            problems.append((f"trainer.{key}", f"not an argument of {node._target_}"))


def _module(problems: list[tuple[str, str]], cfg: DictConfig, key: str) -> None:
    """A module node builds the class of its step kind, from interpolated (keyed) settings."""
    node = OmegaConf.select(cfg, key)
    want = MODULES[key].get(str(cfg.stages.mode))
    if want is not None and node.get("_target_") != want:
        problems.append((f"{key}._target_", f"must be {want} with stages={cfg.stages.mode} "
                         f"(another class would need its own step key in mathft/runs/keys.py)"))
    for name in node:
        if name.startswith("_") or OmegaConf.is_interpolation(node, name):
            continue
        problems.append((f"{key}.{name}", "must refer to the setting it passes (e.g. "
                         "${generator.lr}); set the value there, where the step key reads it"))


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming every invalid key of ``cfg`` (nothing is loaded)."""
    problems: list[tuple[str, str]] = [
        (k, "not a key of the schema (mathft/runs/schema.py): misspelled?")
        for k in added_keys(cfg)]
    for key, rule in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue
        if (msg := rule(OmegaConf.select(cfg, key))) is not None:
            problems.append((key, msg))
    _check(problems, "sampling", lambda: SamplingParams.from_mapping(to_plain(cfg.sampling)))
    _check(problems, "objective", lambda: Objective.from_config(to_plain(cfg.objective)))
    _check(problems, "prompt", lambda: build_prompt_builder(to_plain(cfg.prompt)))
    for name in cfg.rerank.strategies:
        _check(problems, "rerank.strategies", lambda n=name: Strategy(n))
    for which in ("test", "val", "evaluator_train"):
        _eval_set(problems, which, cfg.eval[which])
    weights = to_plain(cfg.data.weights)
    if weights is not None and (not isinstance(weights, dict) or any(
            isinstance(v, bool) or not isinstance(v, int | float) for v in weights.values())):
        problems.append(("data.weights", f"expected {{source: number}} or null, got {weights!r}"))
        weights = None
    extra = sorted(set(weights or {}) - set(MIXTURES.get(cfg.data.mixture, ())))
    if extra:
        problems.append(("data.weights", f"sources {extra} are not in data.mixture="
                         f"{cfg.data.mixture} {list(MIXTURES.get(cfg.data.mixture, ()))}"))
    _trainer(problems, cfg.trainer)
    for key in MODULES:
        _module(problems, cfg, key)
    if cfg.stages.mode == "sequential":
        _check(problems, "stages.stages", lambda: parse_stages(to_plain(cfg.stages.stages)))
        seq = cfg.generator.sequential_steps
        if seq is not None and len(seq) != len(cfg.stages.stages or []):
            problems.append(("generator.sequential_steps",
                             f"{len(seq)} entries for {len(cfg.stages.stages or [])} stages"))
    if problems:
        raise ConfigError(problems)

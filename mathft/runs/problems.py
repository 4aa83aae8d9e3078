"""The problem sets of a cell (``eval.test``, ``eval.val``, ``eval.evaluator_train``) and
their identity in step keys (by content, so editing a jsonl problem file resamples)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from mathft.data.mixtures import load_eval_problems
from mathft.records import Problem
from mathft.runs.cache import config_hash, to_plain


def problem_set(cfg: DictConfig, which: str) -> list[Problem]:
    """Problems of ``cfg.eval.<which>`` (``test``, ``val`` or ``evaluator_train``)."""
    node = cfg.eval[which]
    levels = node.levels
    problems = load_eval_problems(
        node.name, node.split, node.limit,
        None if levels is None else [int(x) for x in levels],
        seed=int(cfg.data.seed), n_val=int(cfg.data.n_val),
        gsm8k_n_val=int(cfg.data.gsm8k_n_val),
        path=None if node.path is None else str(node.path),
    )
    if not problems:
        raise ValueError(
            f"eval.{which} selects no problems ({to_plain(node)}): check limit and levels "
            "(a levels filter drops problems that have no level)")
    return problems


def problems_key(problems: Sequence[Problem]) -> dict[str, Any]:
    """Identity of a problem set by content: its size and a hash of (uid, problem, answer)."""
    return {"n": len(problems),
            "sha": config_hash([[p.uid, p.problem, p.answer] for p in problems], length=16)}

"""SSFT training mixtures and evaluation problem lists (docs/data.md#mixtures).

Mixtures: ``math`` (MATH-style solutions of the 11,000/1,000 split), ``prm800k``
(PRM800K-style solutions), ``math_prm800k`` (their union, the default) and ``gsm8k``.
``weights`` turn a union into a weighted mixture: a per-source multiplier on the training
set (``1.0`` = every example once, ``0.5`` = a seeded half, ``2.0`` = every example twice,
``1.5`` = all once plus a seeded half). Validation sets are never reweighted.

PRM800K problems follow the MATH split by uid: a PRM800K solution of a problem in the
MATH validation split goes to validation, so no problem straddles train and validation
across sources; problems outside MATH (e.g. screening questions) go to training. Every
returned train/validation set is checked against MATH500 by normalized problem text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from mathft.data.errors import DataError
from mathft.data.prm800k import prm800k_examples
from mathft.data.sources import read_problems_jsonl
from mathft.data.splits import assert_no_test_overlap, gsm8k_split, math_split
from mathft.records import Problem, SolutionExample

__all__ = [
    "MIXTURES", "SOURCES", "apply_weights", "build_ssft_examples",
    "load_eval_problems", "ssft_examples_from_config",
]

MIXTURES: dict[str, tuple[str, ...]] = {
    "math": ("math",),
    "prm800k": ("prm800k",),
    "math_prm800k": ("math", "prm800k"),
    "gsm8k": ("gsm8k",),
}
SOURCES = ("math", "prm800k", "gsm8k")
_CALC = re.compile(r"<<[^<>]*>>")


def _check_split(split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise DataError(f"unknown split {split!r}", field="split", hint=f"use one of {allowed}")


def _math_examples(problems: Sequence[Problem]) -> list[SolutionExample]:
    """MATH-style targets: the original prose solution with its ``\\boxed{}`` answer."""
    return [SolutionExample(uid=p.uid, problem=p.problem, solution=p.solution or "",
                            answer=p.answer, style="math", source="math")
            for p in problems if p.answer is not None and p.solution]


@lru_cache(maxsize=8)
def _prm800k_cached(fmt: str, path: str | None, min_rating: int) -> tuple[SolutionExample, ...]:
    examples, _ = prm800k_examples(fmt, path=path, min_rating=min_rating)
    return tuple(examples)


def _prm800k_part(split: str, seed: int, n_val: int, n_train: int | None, min_rating: int,
                  fmt: str, path: str | None) -> list[SolutionExample]:
    sp = math_split(seed=seed, n_val=n_val, n_train=n_train)
    val, train, test = sp.uids("val"), sp.uids("train"), sp.uids("test")
    out = []
    for ex in _prm800k_cached(fmt, path, min_rating):
        if ex.uid in test:  # already removed by text; uid check is belt and braces
            continue
        in_val = ex.uid in val
        if split == "val" and in_val:
            out.append(ex)
        # problems outside MATH (uid "prm800k/<hash>") train; those cut by n_train stay out
        elif split == "train" and not in_val and (ex.uid in train
                                                  or ex.uid.startswith("prm800k/")):
            out.append(ex)
    return out


def _gsm8k_examples(problems: Sequence[Problem], strip_calculator: bool) -> list[SolutionExample]:
    """GSM8K-style targets: the reference answer (calculator ``<<..>>`` notes optional)."""
    return [SolutionExample(
        uid=p.uid, problem=p.problem,
        solution=_CALC.sub("", p.solution or "") if strip_calculator else (p.solution or ""),
        answer=p.answer or "", style="gsm8k", source="gsm8k") for p in problems]


def apply_weights(
    by_source: Mapping[str, list[SolutionExample]], weights: Mapping[str, float], seed: int
) -> list[SolutionExample]:
    """Concatenate sources, each repeated ``floor(w)`` times plus a seeded ``frac(w)`` sample."""
    out: list[SolutionExample] = []
    for name, examples in by_source.items():
        w = float(weights.get(name, 1.0))
        if w < 0 or w != w:
            raise DataError(f"weight {w} must be >= 0", field=f"weights.{name}",
                            hint="use a non-negative multiplier such as 0.5 or 2.0")
        whole, frac = int(w), w - int(w)
        out.extend(examples * whole)
        k = round(frac * len(examples))
        if k:
            rng = random.Random(f"{seed}:{name}")
            idx = sorted(rng.sample(range(len(examples)), k))
            out.extend(examples[i] for i in idx)
    return out


def build_ssft_examples(
    mixture: str = "math_prm800k",
    split: str = "train",
    *,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    n_val: int = 1000,
    n_train: int | None = None,
    min_rating: int = 0,
    prm800k_format: str = "stepwise",
    prm800k_path: str | None = None,
    gsm8k_n_val: int = 500,
    gsm8k_strip_calculator: bool = True,
    limit: int | None = None,
) -> list[SolutionExample]:
    """SSFT examples of ``mixture`` for ``split`` (``train`` or ``val``), deterministic by seed.

    ``weights`` (train only) maps sources of the mixture to multipliers; ``limit`` keeps the
    first ``limit`` examples after a seeded shuffle (for CPU-scale runs). The result is
    guaranteed free of MATH500 problems (raises TestOverlapError otherwise).
    """
    if mixture not in MIXTURES:
        raise DataError(f"unknown mixture {mixture!r}", field="mixture",
                        hint=f"use one of {sorted(MIXTURES)}")
    _check_split(split, ("train", "val"))
    sources = MIXTURES[mixture]
    extra = sorted(set(weights or {}) - set(sources))
    if extra:
        raise DataError(f"weights for {extra} but mixture {mixture!r} has sources {sources}",
                        field="weights", hint="weight only the mixture's sources")
    by_source: dict[str, list[SolutionExample]] = {}
    for src in sources:
        if src == "math":
            sp = math_split(seed=seed, n_val=n_val, n_train=n_train)
            by_source[src] = _math_examples(sp.train if split == "train" else sp.val)
        elif src == "prm800k":
            by_source[src] = _prm800k_part(split, seed, n_val, n_train, min_rating,
                                           prm800k_format, prm800k_path)
        else:
            gs = gsm8k_split(seed=seed, n_val=gsm8k_n_val)
            by_source[src] = _gsm8k_examples(gs.train if split == "train" else gs.val,
                                             gsm8k_strip_calculator)
    if split == "train":
        out = apply_weights(by_source, weights or {}, seed)
    else:
        out = [ex for exs in by_source.values() for ex in exs]
    if limit is not None:
        out = list(out)
        random.Random(seed).shuffle(out)
        out = out[:limit]
    return assert_no_test_overlap(out, on_overlap="raise", name=f"{mixture}/{split}")


def load_eval_problems(
    name: str = "math500",
    split: str = "test",
    limit: int | None = None,
    levels: Sequence[int] | None = None,
    *,
    seed: int = 0,
    n_val: int = 1000,
    gsm8k_n_val: int = 500,
    path: str | None = None,
) -> list[Problem]:
    """Problems to evaluate on: ``math500``/``math`` (test = MATH500, ``val``/``train`` from
    the paper's split), ``gsm8k``, or ``jsonl`` (your file at ``path``, see
    :func:`~mathft.data.sources.read_problems_jsonl`; ``split`` only decides whether the
    MATH500 overlap check applies); optionally only ``levels`` (e.g. ``[1, 2]``), then the
    first ``limit`` in a deterministic order (file order for test, split order otherwise)."""
    _check_split(split, ("train", "val", "test"))
    if path is not None and name != "jsonl":
        raise DataError(f"path={path!r} is read only with name=jsonl (got {name!r})",
                        field="path", hint="set name: jsonl, or drop path")
    if name == "jsonl":
        if not path:
            raise DataError("name=jsonl needs the file's path", field="path")
        problems = read_problems_jsonl(path)
    elif name in ("math500", "math"):
        problems = getattr(math_split(seed=seed, n_val=n_val), split)
    elif name == "gsm8k":
        if levels:
            raise DataError("GSM8K has no difficulty levels", field="levels",
                            hint="set levels: null for gsm8k")
        problems = getattr(gsm8k_split(seed=seed, n_val=gsm8k_n_val), split)
    else:
        raise DataError(f"unknown eval set {name!r}", field="name",
                        hint="use 'math500', 'math', 'gsm8k' or 'jsonl' (with path)")
    if levels:
        wanted = {int(lv) for lv in levels}
        problems = [p for p in problems if p.level in wanted]
    if limit is not None:
        if limit < 0:
            raise DataError(f"limit={limit} must be >= 0", field="limit")
        problems = problems[:limit]
    if split != "test":
        problems = assert_no_test_overlap(problems, on_overlap="raise", name=f"{name}/{split}")
    return list(problems)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)


def ssft_examples_from_config(cfg: Any, split: str = "train") -> list[SolutionExample]:
    """:func:`build_ssft_examples` driven by a ``conf/data/*.yaml`` node (dict or DictConfig)."""
    weights = _get(cfg, "weights")
    return build_ssft_examples(
        _get(cfg, "mixture", "math_prm800k"), split,
        weights=None if weights is None else {str(k): float(v) for k, v in weights.items()},
        seed=int(_get(cfg, "seed", 0)), n_val=int(_get(cfg, "n_val", 1000)),
        n_train=_get(cfg, "n_train"), min_rating=int(_get(cfg, "min_rating", 0)),
        prm800k_format=_get(cfg, "prm800k_format", "stepwise"),
        prm800k_path=_get(cfg, "prm800k_path"),
        gsm8k_n_val=int(_get(cfg, "gsm8k_n_val", 500)),
        gsm8k_strip_calculator=bool(_get(cfg, "gsm8k_strip_calculator", True)),
        limit=_get(cfg, "limit_train" if split == "train" else "limit_val"),
    )

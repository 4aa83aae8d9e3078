"""The paper's splits (docs/data.md#splits) and the guard that keeps MATH500 out of training.

Training pool = MATH train (7,500) + the 4,500 MATH test problems not in MATH500 = 12,000,
split deterministically by seed into 11,000 train / 1,000 validation; test = MATH500.
Problems whose normalized text is in MATH500 may not appear in any training or
validation set from any source (PRM800K contains MATH test problems).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

from mathft.data.errors import DataError
from mathft.data.sources import read_gsm8k, read_math, read_math500
from mathft.records import Problem, SolutionExample

__all__ = [
    "Split", "TestOverlapError", "assert_no_test_overlap", "gsm8k_split", "math500_keys",
    "math_pool", "math_split", "normalize_problem_text",
]

T = TypeVar("T", Problem, SolutionExample)

_WS = re.compile(r"\s+")


def normalize_problem_text(text: str) -> str:
    """Key for overlap checks: NFKC, lower case, all whitespace removed.

    Insensitive to case, spacing and line breaks, so re-wrapped or re-spaced copies of a
    problem (as found across MATH, MATH500 and PRM800K) still collide.
    """
    return _WS.sub("", unicodedata.normalize("NFKC", text)).lower()


class TestOverlapError(DataError):
    """A training/validation problem is (by normalized text) a MATH500 test problem."""

    __test__ = False  # not a pytest class


def math500_keys(test: Iterable[Problem] | None = None) -> frozenset[str]:
    """Normalized texts of the test problems (default: MATH500)."""
    return frozenset(normalize_problem_text(p.problem) for p in (test or read_math500()))


def assert_no_test_overlap(
    items: Sequence[T],
    test_keys: frozenset[str] | None = None,
    *,
    on_overlap: Literal["raise", "drop"] = "raise",
    name: str = "training data",
) -> list[T]:
    """Return ``items`` with no problem whose normalized text is a test problem.

    ``on_overlap="raise"`` raises :class:`TestOverlapError` naming the offending uids;
    ``"drop"`` removes them. Works on :class:`Problem` and :class:`SolutionExample`.
    """
    keys = math500_keys() if test_keys is None else test_keys
    bad = [x for x in items if normalize_problem_text(x.problem) in keys]
    if bad and on_overlap == "raise":
        uids = ", ".join(x.uid for x in bad[:5])
        raise TestOverlapError(
            f"{len(bad)} problem(s) of {name} are MATH500 test problems (e.g. {uids})",
            field="problem", hint="filter them out (on_overlap='drop') before training",
        )
    if not bad:
        return list(items)
    drop = {id(x) for x in bad}
    return [x for x in items if id(x) not in drop]


@dataclass(frozen=True)
class Split:
    """Problems of one benchmark split into train / validation / test."""

    train: list[Problem]
    val: list[Problem]
    test: list[Problem]

    def uids(self, part: str) -> frozenset[str]:
        """Uids of ``part`` (``train``, ``val`` or ``test``)."""
        return frozenset(p.uid for p in getattr(self, part))


def math_pool(test: Sequence[Problem] | None = None) -> list[Problem]:
    """MATH train + MATH test minus the test set (by uid and normalized text): 12,000."""
    test = read_math500() if test is None else test
    test_uids = {p.uid for p in test}
    pool = read_math("train") + [p for p in read_math("test") if p.uid not in test_uids]
    return assert_no_test_overlap(pool, math500_keys(test), on_overlap="drop")


def _split_groups(
    items: Sequence[Problem], n_val: int, seed: int
) -> tuple[list[Problem], list[Problem]]:
    """Shuffle groups of identical normalized text by ``seed``; fill val with whole groups.

    Duplicated problems (MATH has 4 pairs with the same text) thus never straddle the
    train/validation boundary; validation gets exactly ``n_val`` problems.
    """
    groups: dict[str, list[Problem]] = {}
    for p in sorted(items, key=lambda p: p.uid):
        groups.setdefault(normalize_problem_text(p.problem), []).append(p)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    val: list[Problem] = []
    train: list[Problem] = []
    for g in order:
        (val if len(val) + len(g) <= n_val else train).extend(g)
    return train, val


def math_split(
    seed: int = 0, n_val: int = 1000, n_train: int | None = None,
    test: Sequence[Problem] | None = None,
) -> Split:
    """The paper's split: 12,000-problem pool -> ``n_train`` (default: the rest, 11,000)
    train / ``n_val`` (1,000) validation, deterministic by ``seed``; test = MATH500."""
    if test is None:
        sp = _default_math_split(seed, n_val, n_train)
        return Split(train=list(sp.train), val=list(sp.val), test=list(sp.test))
    return _math_split(seed, n_val, n_train, list(test))


@lru_cache(maxsize=8)
def _default_math_split(seed: int, n_val: int, n_train: int | None) -> Split:
    return _math_split(seed, n_val, n_train, read_math500())


def _math_split(seed: int, n_val: int, n_train: int | None, test: list[Problem]) -> Split:
    pool = math_pool(test)
    if not 0 <= n_val <= len(pool):
        raise DataError(f"n_val={n_val} not in [0, {len(pool)}]", field="n_val",
                        hint="lower n_val in the data config")
    train, val = _split_groups(pool, n_val, seed)
    if n_train is not None:
        if n_train > len(train):
            raise DataError(f"n_train={n_train} > {len(train)} available", field="n_train",
                            hint="lower n_train or n_val in the data config")
        train = train[:n_train]
    return Split(train=train, val=val, test=test)


def gsm8k_split(seed: int = 0, n_val: int = 500) -> Split:
    """GSM8K: train/validation from its train file (deterministic by ``seed``); test = test."""
    pool = read_gsm8k("train")
    if not 0 <= n_val <= len(pool):
        raise DataError(f"n_val={n_val} not in [0, {len(pool)}]", field="n_val",
                        hint="lower n_val in the data config")
    train, val = _split_groups(pool, n_val, seed)
    return Split(train=train, val=val, test=read_gsm8k("test"))

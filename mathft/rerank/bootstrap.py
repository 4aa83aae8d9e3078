"""Bootstrap confidence intervals over problems (docs/method.md#confidence-intervals: every table cell carries a CI).

The paper reported no error bars. Here problems are the resampling unit: a metric is a
mean of per-problem values (0/1, or a fraction for subset-averaged metrics), and the
percentile bootstrap resamples problems with replacement. Two strategies evaluated on
the same problems are compared with a *paired* bootstrap of the per-problem difference,
so a table can say whether a difference is within noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

_CHUNK = 2_000_000  # resampled values generated at once (bounds memory for large sets)


class CI(NamedTuple):
    """Point estimate (the sample mean) and percentile interval ``[lo, hi]``."""

    mean: float
    lo: float
    hi: float


class PairedCI(NamedTuple):
    """Mean difference a - b, its percentile interval, and a two-sided bootstrap p-value."""

    diff: float
    lo: float
    hi: float
    p_value: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 (difference not within noise at this level)."""
        return self.lo > 0.0 or self.hi < 0.0


def _as_1d(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array of per-problem values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: per-problem values must be finite")
    return arr


def _check(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``; seeded."""
    n = values.size
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    rows = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> CI:
    """Percentile bootstrap ``(1 - alpha)`` CI of the mean of per-problem ``values``."""
    _check(n_boot, alpha)
    arr = _as_1d(values, "bootstrap_ci")
    if arr.size == 0:
        return CI(float("nan"), float("nan"), float("nan"))
    means = bootstrap_means(arr, n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return CI(float(arr.mean()), float(lo), float(hi))


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> PairedCI:
    """Paired percentile bootstrap of mean(a) - mean(b) over the same problems.

    ``a[p]`` and ``b[p]`` must be the two strategies' values on problem p. The p-value is
    ``2 * min(P*(d <= 0), P*(d >= 0))`` over the bootstrap distribution (capped at 1).
    """
    _check(n_boot, alpha)
    xa, xb = _as_1d(a, "paired_bootstrap a"), _as_1d(b, "paired_bootstrap b")
    if xa.shape != xb.shape:
        raise ValueError(f"paired_bootstrap: {xa.size} vs {xb.size} problems; pair them first")
    if xa.size == 0:
        nan = float("nan")
        return PairedCI(nan, nan, nan, nan)
    d = xa - xb
    means = bootstrap_means(d, n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2.0 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
    return PairedCI(float(d.mean()), float(lo), float(hi), p)

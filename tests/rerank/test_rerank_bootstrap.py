"""Bootstrap CIs over problems and the paired bootstrap of a difference."""

from __future__ import annotations

import numpy as np
import pytest

from mathft.rerank import bootstrap_ci, paired_bootstrap


@pytest.mark.parametrize("seed", range(5))
def test_ci_contains_mean_and_is_seeded(seed: int) -> None:
    x = np.random.default_rng(seed).random(200) < 0.4
    ci = bootstrap_ci(x, n_boot=1000, seed=seed)
    assert ci.mean == pytest.approx(x.mean())
    assert ci.lo < ci.mean < ci.hi
    assert ci == bootstrap_ci(x, n_boot=1000, seed=seed)
    assert ci != bootstrap_ci(x, n_boot=1000, seed=seed + 100)


def test_ci_shrinks_with_more_problems_and_matches_normal_width() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 500, 5000):
        x = (rng.random(n) < 0.5).astype(float)
        ci = bootstrap_ci(x, n_boot=1000, seed=1)
        widths.append(ci.hi - ci.lo)
        normal = 2 * 1.96 * np.sqrt(x.mean() * (1 - x.mean()) / n)
        assert ci.hi - ci.lo == pytest.approx(normal, rel=0.2)
    assert widths[0] > widths[1] > widths[2]
    assert bootstrap_ci(x, alpha=0.5, seed=1).hi - bootstrap_ci(x, alpha=0.5, seed=1).lo < widths[2]


def test_degenerate_and_errors() -> None:
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    assert np.isnan(bootstrap_ci([]).mean)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0], n_boot=0)
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci([[1.0]])
    with pytest.raises(ValueError, match="pair them"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(500) < 0.5).astype(float)
    same = paired_bootstrap(base, base)
    assert same == (0.0, 0.0, 0.0, 1.0) and not same.significant
    better = base.copy()
    better[np.flatnonzero(base == 0)[:40]] = 1.0  # +8 points on the same problems
    d = paired_bootstrap(better, base, seed=3)
    assert d.diff == pytest.approx(0.08)
    assert d.significant and d.lo > 0 and d.p_value < 0.01
    assert d == paired_bootstrap(better, base, seed=3)
    # pairing removes the shared problem difficulty: narrower than unpaired intervals
    ca, cb = bootstrap_ci(better, seed=3), bootstrap_ci(base, seed=4)
    assert d.hi - d.lo < np.hypot(ca.hi - ca.lo, cb.hi - cb.lo)
    # a difference of 1 problem in 500 is within noise
    tiny = base.copy()
    tiny[np.flatnonzero(base == 0)[0]] = 1.0
    assert not paired_bootstrap(tiny, base, seed=3).significant

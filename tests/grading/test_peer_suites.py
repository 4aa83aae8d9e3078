"""The peers' own grader test suites (Math-Verify, MATH reference, NeMo-Skills) as
regression tables: ``peer_cases.py`` (which names each source repository and path).

Every case asserts mathft's verdict: the peer's where mathft follows it, the opposite where
mathft deliberately differs (the case names the reason, one of ``DIFFERENT``). Both
directions are checked: the verdict must be symmetric.
"""

from __future__ import annotations

import pytest
from peer_cases import CASES, DIFFERENT, SOURCES, Case, mathft_verdict


def _id(c: Case) -> str:
    return f"{c.source.split()[1].rsplit('/', 1)[-1]}::{c.test}::{c.gold[:30]}|{c.pred[:30]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_peer_case(case: Case) -> None:
    forward, backward = mathft_verdict(case.gold, case.pred)
    assert forward == backward, "asymmetric verdict"
    assert forward == case.mathft_expected, (case.mathft and DIFFERENT[case.mathft], case)


def test_tables_complete() -> None:
    """Every source is present; every documented difference is used; the count is pinned."""
    assert len(SOURCES) == 6
    assert len(CASES) == 324
    used = {c.mathft for c in CASES if c.mathft}
    assert used == set(DIFFERENT)

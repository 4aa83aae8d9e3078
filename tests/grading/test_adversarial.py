"""Adversarial inputs: bounded time, no exception, nothing executed, from main thread,
threads and a spawned worker process; plus hypothesis properties (reflexive, symmetric)."""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mathft.grading import cluster_answers, extract_answer, is_equiv, normalize_answer

TIMEOUT = 1.0
SLACK = 6.0  # IPC + kill; a call right after a timeout may wait for the fresh worker (~2-3 s)


def _hostile(marker: Path) -> list[str]:
    code = f"__import__('os').system('touch {marker}')"
    return [
        "9^{9^{9^{9}}}",
        "9^9^9^9",
        "(10^{10^{10}})!",
        "1000000000!",
        "\\frac{1}{(10^{100})!}",
        "x" * 50_000,
        "\\frac{" * 3000 + "1",
        "{{{{{{{{{{" * 500,
        "}}}}" * 1000,
        "\\left(\\right." * 200,
        "\\sqrt{" * 400 + "2" + "}" * 400,
        code,
        f"\\text{{{code}}}",
        f"$({code})$",
        "eval(\"__import__('os').system('touch " + str(marker) + "')\")",
        "lambda: 1",
        "\\boxed{\\boxed{\\boxed{}}}",
        "\x00\x01\x02",
        "\\begin{pmatrix}" + "1&" * 500 + "1\\end{pmatrix}",
    ]


def _check(a: str, b: str) -> float:
    t = time.monotonic()
    res = is_equiv(a, b, timeout=TIMEOUT)
    assert isinstance(res, bool)
    return time.monotonic() - t


def test_hostile_main_thread(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = _hostile(marker)
    for h in hostile:
        for other in ("1", "x+1", h):
            assert _check(h, other) < TIMEOUT + SLACK, (h[:40], other[:40])
        assert isinstance(normalize_answer(h), str)
        assert extract_answer(h) is None or isinstance(extract_answer(h), str)
    ids = cluster_answers(hostile + ["1", "1.0"], timeout=TIMEOUT)
    assert ids[-1] == ids[-2] is not None
    assert not marker.exists()


def test_hostile_threads(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = _hostile(marker)
    pairs = [(h, "2") for h in hostile] + [("\\frac{1}{2}", "0.5"), ("x^2+2x+1", "(x+1)^2")] * 4
    t = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        res = list(ex.map(lambda p: is_equiv(*p, timeout=TIMEOUT), pairs))
    # every call holds a worker for at most TIMEOUT; two workers serve the queue
    assert time.monotonic() - t < len(pairs) * (TIMEOUT + SLACK) / 2
    assert res[-8:] == [True] * 8
    assert not any(res[: len(hostile)])
    assert not marker.exists()


def _in_child(marker: str) -> list[bool]:
    return [
        is_equiv("9^{9^{9^{9}}}", "1", timeout=TIMEOUT),
        is_equiv(f"__import__('os').system('touch {marker}')", "0", timeout=TIMEOUT),
        is_equiv("\\sqrt{18}", "3\\sqrt{2}", timeout=TIMEOUT),
    ]


def test_from_spawned_daemon_process(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with mp.get_context("spawn").Pool(1) as pool:  # pool workers are daemonic
        assert pool.apply(_in_child, (str(marker),)) == [False, False, True]
    assert not marker.exists()


ANSWERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.fractions(max_denominator=50).map(lambda f: f"\\frac{{{f.numerator}}}{{{f.denominator}}}"),
    st.decimals(-1000, 1000, places=3, allow_nan=False).map(str),
    st.sampled_from(
        [
            "\\sqrt{2}",
            "2\\sqrt{3}",
            "(1,2)",
            "[1,2)",
            "x+1",
            "\\pi",
            "\\text{(A)}",
            "A",
            "1,000",
            "\\$5",
            "50\\%",
            "x = 3",
            "\\infty",
            "\\{1,2\\}",
            None,
        ]
    ),
    st.text(max_size=30),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, ANSWERS)
def test_reflexive_and_symmetric(a: str | None, b: str | None) -> None:
    if a is not None:
        assert is_equiv(a, a, timeout=TIMEOUT)
    assert is_equiv(a, b, timeout=TIMEOUT) == is_equiv(b, a, timeout=TIMEOUT)


def _forked_child(q) -> None:  # type: ignore[no-untyped-def]
    q.put([is_equiv("x^2+2x+1", "(x+1)^2"), is_equiv("\\sqrt{8}", "3")])


def test_fork_after_use_gets_own_worker() -> None:
    assert is_equiv("(x+2)^2", "x^2+4x+4")  # parent pool now has a live worker
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_forked_child, args=(q,))
    p.start()
    assert q.get(timeout=120) == [True, False]
    p.join(30)
    assert is_equiv("(x+3)^2", "x^2+6x+9")  # parent's worker was not disturbed


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf"), 1e-9])
def test_degenerate_timeouts(t: float) -> None:
    assert is_equiv("\\frac12", "0.5", timeout=t)  # fast path ignores the timeout
    assert isinstance(is_equiv("(x+1)^2", "x^2+2x+1", timeout=t), bool)

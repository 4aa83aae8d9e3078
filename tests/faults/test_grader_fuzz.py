"""Grammar-based fuzzing of the grader (issue 6): random LaTeX-ish answers with deep nesting
and huge numbers, graded from several threads at once: no exception, bounded time, symmetric.

tests/grading/test_adversarial.py covers hand-picked hostile inputs; this file generates them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mathft.grading import cluster_answers, extract_answer, is_equiv

TIMEOUT = 1.0     # per is_equiv call (the worker's wall-clock budget)
BOUND = 30.0      # generous wall bound per call: queueing behind other threads + worker respawn
THREADS = 4

_NUMBER = st.one_of(
    st.integers(-(10**80), 10**80).map(str),
    st.integers(0, 10**6).map(lambda n: f"{n:,}"),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.integers(1, 400).map(lambda n: "9" * n),          # hundreds of digits
    st.integers(1, 40).map(lambda n: f"10^{{{10**n}}}"),  # astronomically large powers
)
_ATOM = st.one_of(
    _NUMBER,
    st.sampled_from(["x", "y", "n", "\\pi", "e", "i", "\\infty", "\\theta", "a_1", "\\emptyset",
                     "\\text{(A)}", "\\text{ cm}", "^\\circ", "\\%", "\\$", "\\!", "\\,"]),
    st.text(alphabet="{}()[]^_\\,.;:|+-*/=<>!&%$ 0123456789abcxyz", max_size=12),  # junk
)
_UNARY = ["\\frac{{{0}}}{{2}}", "\\sqrt{{{0}}}", "\\sqrt[3]{{{0}}}", "{{{0}}}",
          "\\left({0}\\right)", "({0})", "-{0}", "{0}!", "\\text{{{0}}}", "\\boxed{{{0}}}",
          "\\dfrac{{1}}{{{0}}}", "|{0}|", "\\log_{{2}}{0}", "\\sin {0}", "{0}^{{2}}", "{0}_{{1}}",
          "\\left[{0}\\right)", "\\overline{{{0}}}", "\\mathbf{{{0}}}", "\\begin{{pmatrix}}{0}\\end{{pmatrix}}"]
_BINARY = ["\\frac{{{0}}}{{{1}}}", "{0}^{{{1}}}", "{0}_{{{1}}}", "{0}+{1}", "{0}-{1}",
           "{0}\\cdot {1}", "{0}, {1}", "{0} = {1}", "\\sqrt[{0}]{{{1}}}", "({0}, {1}]",
           "{0}\\cup {1}", "{0}\\pm {1}", "{0} \\text{{ or }} {1}", "{0}\\le {1}"]


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(_UNARY), children).map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(_BINARY), children, children).map(
            lambda t: t[0].format(t[1], t[2])),
    )


EXPR = st.recursive(_ATOM, _extend, max_leaves=12)


@st.composite
def deep(draw: st.DrawFn) -> str:
    """An expression wrapped in up to 50 nested constructs (deep braces/fractions/roots)."""
    s = draw(EXPR)
    for _ in range(draw(st.integers(1, 50))):
        s = draw(st.sampled_from(_UNARY)).format(s)
    return s


ANSWER = st.one_of(EXPR, deep(), st.none())


def _timed(fn, *args):  # noqa: ANN001, ANN202 - any grading call
    t0 = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - t0


def _pair(a: str | None, b: str | None) -> tuple[bool, bool, float]:
    ab, t1 = _timed(lambda x, y: is_equiv(x, y, timeout=TIMEOUT), a, b)
    ba, t2 = _timed(lambda x, y: is_equiv(x, y, timeout=TIMEOUT), b, a)
    return ab, ba, max(t1, t2)


FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(FUZZ, max_examples=12)
@given(st.lists(st.tuples(ANSWER, ANSWER), min_size=THREADS, max_size=2 * THREADS))
def test_is_equiv_fuzz_threads_symmetric_bounded(pairs):
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda p: _pair(*p), pairs))
    for (a, b), (ab, ba, dt) in zip(pairs, results):
        assert isinstance(ab, bool) and ab == ba, (a, b, ab, ba)
        assert dt < BOUND, (a, b, dt)
        if a is None or b is None:
            assert not ab


@FUZZ
@given(st.lists(EXPR | deep(), min_size=1, max_size=THREADS))
def test_is_equiv_fuzz_reflexive_bounded(answers):
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda a: _timed(lambda x: is_equiv(x, x, timeout=TIMEOUT), a),
                                answers))
    for a, (same, dt) in zip(answers, results):
        assert isinstance(same, bool) and dt < BOUND, (a, dt)


@settings(FUZZ, max_examples=12)
@given(st.lists(st.lists(ANSWER, max_size=6), min_size=1, max_size=THREADS))
def test_cluster_answers_fuzz_threads(groups):
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(
            lambda g: _timed(lambda x: cluster_answers(x, timeout=TIMEOUT), g), groups))
    for g, (ids, dt) in zip(groups, results):
        assert dt < BOUND * max(1, len(g)), (g, dt)
        assert len(ids) == len(g)
        assert all((i is None) == (a is None) for a, i in zip(g, ids)), (g, ids)
        used = sorted({i for i in ids if i is not None})
        assert used == list(range(len(used))), ids  # dense ids 0..k-1
        # cluster ids are a function of the answer: identical strings share a cluster
        for a, i in zip(g, ids):
            for b, j in zip(g, ids):
                if a is not None and a == b:
                    assert i == j, (g, ids)


@FUZZ
@given(st.lists(st.tuples(ANSWER, st.sampled_from(["boxed", "answer", "raw", "both"])),
                min_size=1, max_size=2 * THREADS))
def test_extract_answer_fuzz_threads(items):
    def text(a: str | None, style: str) -> str:
        a = a or ""
        return {"boxed": f"So the result is $\\boxed{{{a}}}$.",
                "answer": f"Step 1: ...\n\n# Answer\n\n{a}\n",
                "raw": a,
                "both": f"\\boxed{{{a}}} then\n# Answer\n\n{a[::-1]}"}[style]

    texts = [text(a, s) for a, s in items]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda t: _timed(extract_answer, t), texts))
    for t, (ans, dt) in zip(texts, results):
        assert ans is None or isinstance(ans, str), (t, ans)
        assert dt < BOUND, (t, dt)

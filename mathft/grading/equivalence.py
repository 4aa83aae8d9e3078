"""Answer equivalence g(a, b) (docs/grading.md#3-equivalence-the-order-of-the-checks): normalization -> exact string -> numeric -> symbolic.

The fast paths (normalized string equality, plain numbers, multiple-choice letters, text
answers) run in-process; only what they cannot decide goes to the symbolic worker
(``_worker``), which has a hard wall-clock bound. Results are cached on the normalized pair.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from fractions import Fraction

from mathft.grading import _worker
from mathft.grading.normalize import MAX_LEN, clean_latex, normalize_answer, parse_number

__all__ = [
    "is_equiv",
    "numbers_close",
    "DEFAULT_TIMEOUT",
    "Canon",
    "fast_decision",
    "symbolic_call",
    "symbolic_equiv",
]

DEFAULT_TIMEOUT = 5.0
REL_TOL = 1e-12  # float-printing noise only (0.30000000000000004); never 1e10 + 1

_TEXT_RE = re.compile(r"[a-z][a-z ,'-]*[a-z]")  # normalized word answers ("monday", "no")
_WORD_RE = re.compile(r"[a-z]{3,}")
_CHOICE_RE = re.compile(r"[A-E]")
# a clock time h:mm[:ss] (a.m./p.m. are dropped as units by the normalizer); never a ratio h/mm
_TIME_RE = re.compile(r"(\d{1,2}):([0-5]\d)(?::([0-5]\d))?")
_MERIDIEM_RE = re.compile(r"(?<![a-zA-Z])([ap])\.?\s*m(?![a-zA-Z])", re.I)
_CACHE: OrderedDict[tuple[str, str], bool] = OrderedDict()
_CACHE_MAX = 200_000
_LOCK = threading.Lock()
MIN_TIMEOUT = 0.2


def _reset_lock() -> None:  # a lock held by another thread at fork time stays held in the child
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock)


class Canon:
    """Canonical forms of one answer: LaTeX-clean form, string key, exact value, kind."""

    __slots__ = ("clean", "key", "value", "kind", "equation")

    def __init__(self, s: str) -> None:
        self.clean = clean_latex(s)
        self.key = normalize_answer(s)
        self.value: Fraction | None = parse_number(self.key)
        # "y = -x/2 + 3/4": the cleaner drops the label "y =", but as an equation it may
        # equal "2x + 4y - 3 = 0"; kept for that comparison only
        eq = clean_latex(s, keep_label=True) if "=" in s else ""
        self.equation = eq if eq.count("=") == 1 and eq != self.clean else None
        time = _TIME_RE.fullmatch(self.key)
        if len(self.clean) > MAX_LEN:
            self.kind = "long"
        elif time is not None:
            self.kind = "time"
            h, mm, ss = time.groups()
            half = _MERIDIEM_RE.search(s)  # a.m. / p.m. (the cleaner drops them as units)
            self.key = f"{int(h)}:{mm}" + (f":{ss}" if ss else "")
            self.key += f" {half.group(1).lower()}m" if half else ""
        elif self.value is not None:
            self.kind = "number"
        elif _CHOICE_RE.fullmatch(self.key):
            self.kind = "choice"
        elif _TEXT_RE.fullmatch(self.key) and _WORD_RE.search(self.key) and "\\" not in self.clean:
            self.kind = "text"
        else:
            self.kind = "expr"


def numbers_close(x: Fraction, y: Fraction) -> bool:
    """Exact equality, else relative tolerance ``REL_TOL`` (for rounded decimals)."""
    if x == y:
        return True
    scale = max(abs(x), abs(y), Fraction(1))
    return abs(x - y) <= scale * Fraction(REL_TOL)


def fast_decision(ca: Canon, cb: Canon) -> bool | None:
    """Decide in-process when the canonical forms suffice; None means 'ask the worker'."""
    if ca.key == cb.key:
        return True
    if ca.value is not None and cb.value is not None:
        return numbers_close(ca.value, cb.value)
    kinds = {ca.kind, cb.kind}
    if ca.kind == cb.kind == "time":  # 9:00 = 9:00 p.m. (one side unmarked), != 9:00 a.m.
        (ta, _, ha), (tb, _, hb) = ca.key.partition(" "), cb.key.partition(" ")
        return ta == tb and not (ha and hb)
    if kinds & {"long", "choice", "text", "time"}:
        return False  # these compare by normalized string only
    return None


def _cache_get(key: tuple[str, str]) -> bool | None:
    with _LOCK:
        v = _CACHE.get(key)
        if v is not None:
            _CACHE.move_to_end(key)
        return v


def _cache_put(key: tuple[str, str], v: bool) -> None:
    with _LOCK:
        _CACHE[key] = v
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)


def symbolic_call(x: str, y: str, timeout: float) -> bool | None:
    """Worker-side symbolic comparison of two cleaned answers (cached, symmetric).

    Returns None when the worker timed out or crashed (callers read it as "not equal");
    such outcomes are not cached, since they may be load-related.
    """
    timeout = float(timeout)
    timeout = min(max(timeout, MIN_TIMEOUT), 600.0) if timeout == timeout else DEFAULT_TIMEOUT
    key = (x, y) if x <= y else (y, x)
    hit = _cache_get(key)
    if hit is not None:
        return hit
    budget = max(timeout - 0.25, 0.8 * timeout)  # in-worker alarm; the pipe wait is the hard cap
    msg = {"op": "equiv", "a": key[0], "b": key[1], "budget": budget}
    res = _worker.call(msg, timeout, None)
    if res is None:
        return None
    out = bool(res)
    _cache_put(key, out)
    return out


def symbolic_equiv(ca: Canon, cb: Canon, timeout: float) -> bool | None:
    """Worker verdict for two answers the fast path left open (None: timed out).

    The cleaned forms are compared first; when either answer is an equation whose label the
    cleaner dropped ("y = -x/2 + 3/4"), the two equations are compared as well.
    """
    same = symbolic_call(ca.clean, cb.clean, timeout)
    if same is None or same:
        return same
    if ca.equation is not None or cb.equation is not None:
        ea, eb = ca.equation or ca.clean, cb.equation or cb.clean
        if "=" in ea and "=" in eb:
            return symbolic_call(ea, eb, timeout)
    return False


def is_equiv(a: str | None, b: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Symmetric answer equivalence with a wall-clock bound; never raises; None != anything."""
    if a is None or b is None:
        return False
    try:
        ca, cb = Canon(str(a)), Canon(str(b))
        fast = fast_decision(ca, cb)
        if fast is not None:
            return fast
        return bool(symbolic_equiv(ca, cb, timeout))
    except Exception:
        return False

"""Symbolic comparison, run ONLY inside the grading worker process (see ``_worker``).

LaTeX is parsed by Math-Verify's LaTeX route (latex2sympy2_extended: a grammar, no eval);
its plain-expression route (sympy ``parse_expr`` = eval) is never used. Each step runs
under a ``SIGALRM`` budget, which is valid here because the worker's main thread runs it.
"""

from __future__ import annotations

import signal
from typing import Any

_CFG: Any = None


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm()


def _budget(seconds: float) -> None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def _clear() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


_PARSED: dict[str, list | None] = {}


def parse(s: str) -> list | None:
    """Parse a cleaned LaTeX answer with Math-Verify's LaTeX extractor (no eval); cached."""
    if s in _PARSED:
        return _PARSED[s]
    out = _parse(s)
    if len(_PARSED) > 20_000:
        _PARSED.clear()
    _PARSED[s] = out
    return out


def _parse(s: str) -> list | None:
    global _CFG
    from math_verify import LatexExtractionConfig
    from math_verify import parse as mv_parse

    if _CFG is None:
        _CFG = [LatexExtractionConfig(boxed_match_priority=0)]
    out = mv_parse("$" + s + "$", _CFG, parsing_timeout=None)  # type: ignore[arg-type]
    return out or None


def _exact_numbers(a: Any, b: Any) -> bool | None:
    """Decide exact (Float-free, symbol-free) numbers at 60 digits; None if not applicable."""
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return None
    if a.free_symbols or b.free_symbols or a.atoms(sympy.Float) or b.atoms(sympy.Float):
        return None
    va, vb = sympy.N(a, 60), sympy.N(b, 60)
    if not (va.is_number and vb.is_number):
        return None
    if not (va.is_finite and vb.is_finite):  # signed infinities: only the same one
        return bool(va == vb) if va.is_extended_real and vb.is_extended_real else False
    scale = max(abs(va), abs(vb))
    diff = abs(sympy.N(a - b, 60))
    if not (diff.is_number and scale.is_number):
        return None
    if scale == 0:
        return True
    return bool(diff <= scale * sympy.Float(1e-40, 60))


def _first(parsed: list) -> Any:
    return parsed[0] if parsed else None


def _shape(x: Any) -> str:
    """Coarse answer shape: a set / list never equals an ordered pair or an interval."""
    import sympy

    if isinstance(x, sympy.FiniteSet):
        return "set"
    if isinstance(x, (sympy.Interval, sympy.Tuple, tuple)):
        return "ordered"
    return "other"


def _imaginary(parsed: list) -> list:
    """Read the symbol ``i`` as the imaginary unit (MATH convention: 6-5i, 4+\\sqrt{-1})."""
    import sympy

    obj = parsed[0]
    try:
        syms = getattr(obj, "free_symbols", set())
        i_syms = {x: sympy.I for x in syms if getattr(x, "name", None) == "i"}
        if i_syms:
            return [obj.xreplace(i_syms), *parsed[1:]]
    except Exception:
        pass
    return parsed


def undefined(x: Any, depth: int = 0) -> bool:
    """Whether ``x`` holds an undefined value: complex infinity (``H/0``) or NaN (``0/0``).

    Such a value never makes two answers equal: sympy treats ``zoo == zoo`` as true, so
    ``12:00`` and ``1:00`` read as 12/0 and 1/0 would otherwise be "equal".
    """
    import sympy

    if depth > 50:
        return True
    if isinstance(x, sympy.MatrixBase):
        return bool(x.has(sympy.zoo, sympy.nan))
    if isinstance(x, sympy.Basic):
        if x.has(sympy.zoo, sympy.nan):
            return True
        try:
            return bool(
                x.is_number and not x.is_extended_real and sympy.N(x, 15).has(sympy.zoo, sympy.nan)
            )
        except Exception:
            return False
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(undefined(y, depth + 1) for y in x)
    return False


def _equations_proportional(a: Any, b: Any) -> bool | None:
    """Two equations lhs = rhs are the same when (lhs - rhs) of one is a nonzero constant
    multiple of the other's: ``2x + 4y - 3 = 0`` and ``y = -x/2 + 3/4``."""
    import sympy

    if not (isinstance(a, sympy.Eq) and isinstance(b, sympy.Eq)):
        return None
    da, db = a.lhs - a.rhs, b.lhs - b.rhs
    if not (da.free_symbols and db.free_symbols) or da.free_symbols != db.free_symbols:
        return None
    ratio = sympy.simplify(da / db)
    return bool(ratio.is_number and ratio.is_finite and ratio != 0)


def equal_parsed(pa: list, pb: list) -> bool:
    """Symmetric equality of two parsed answers."""
    from math_verify import verify

    pa, pb = _imaginary(pa), _imaginary(pb)

    if undefined(_first(pa)) or undefined(_first(pb)):
        return False
    if _shape(_first(pa)) != _shape(_first(pb)):
        return False
    if _equations_proportional(_first(pa), _first(pb)):
        return True
    exact = _exact_numbers(_first(pa), _first(pb))
    if exact is not None:
        return exact
    return bool(
        verify(pa, pb, timeout_seconds=None)  # type: ignore[arg-type]
        and verify(pb, pa, timeout_seconds=None)  # type: ignore[arg-type]
    )


def equiv(a: str, b: str, budget: float) -> bool:
    """Parse and compare two cleaned answers within ``budget`` seconds (False on timeout)."""
    try:
        _budget(budget)
        pa, pb = parse(a), parse(b)
        if pa is None or pb is None:
            return False
        return equal_parsed(pa, pb)
    except Exception:  # includes _Alarm: a timeout means "not equal"
        return False
    finally:
        _clear()


def warm_up() -> None:
    """Import sympy/latex2sympy code paths lazily loaded on first use."""
    for a, b in [
        ("x^2+2x+1", "(x+1)^2"),
        ("(1,2]", "[1,2)"),
        ("\\{1,2\\}", "\\{2,1\\}"),
        ("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}"),
        ("\\pi", "3.14159"),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ]:
        equiv(a, b, 30.0)
    _PARSED.clear()

"""Answer normalization (MATH / PRM800K grader rules) and exact numeric parsing (docs/grading.md).

``clean_latex`` keeps LaTeX structure (it feeds the symbolic parser); ``normalize_answer``
goes further to a canonical comparison key (spaces removed, ``\\frac12`` -> ``\\frac{1}{2}``).
``parse_number`` turns plain numbers (ints, decimals, fractions, repeating decimals,
scientific notation) into exact ``Fraction`` values without any eval.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["clean_latex", "normalize_answer", "parse_number", "MAX_LEN"]

MAX_LEN = 2000  # longer "answers" are not answers: compared by exact string only

_UNIT_WORDS = (
    "degrees?|cm|centimeters?|meters?|m|km|kilometers?|mm|inch(?:es)?|in|feet|foot|ft|"
    "yards?|yd|miles?|mi|units?|sq|square|cubic|seconds?|sec|s|minutes?|min|hours?|hrs?|h|"
    "days?|weeks?|months?|years?|dollars?|cents?|pounds?|lbs?|ounces?|oz|gallons?|liters?|"
    "mph|km/h|kg|grams?|g|percent(?:age)?|pct|points?|people|students?|ways|cups?|pages?|mL|ml|L|"
    "calories|tiles|pieces?|boxes|marbles|apples|times|steps|rounds|games|handshakes|edges|"
    "vertices|faces|triangles|numbers|integers|digits|values|solutions|rows|seats|coins|"
    r"p\.m\.?|a\.m\.?|pm|am"
)
_TEXT_UNIT_RE = re.compile(
    r"\\(?:text|mbox|mathrm|textnormal|textrm)\s*\{\s*(?:" + _UNIT_WORDS + r")"
    r"(?:\s*(?:\^\{?\d\}?|\d))?(?:\s+(?:" + _UNIT_WORDS + r"))*\s*\}(?:\s*\^\{?\d\}?)?\s*$"
)
_BARE_UNIT_RE = re.compile(r"(?<=[\d}])\s+(?:" + _UNIT_WORDS + r")(?:\s*\^\{?\d\}?|\d)?\s*$")
_TEXT_CMD_RE = re.compile(
    r"\\(?:text|textbf|textit|mbox|mathrm|textnormal|textrm|mathbf|boxed)\s*\{"
)
_VAR = r"[a-zA-Z](?:_\{?\w+\}?)?"
_PREFIX_RE = re.compile(  # "x =", "a_1 =", "f(x) =", "(p, q) =", "V_1:V_2 =" labels
    r"^(?:[a-zA-Z]|\\[a-zA-Z]+|[a-zA-Z]_\{?\w+\}?|[a-zA-Z]\([a-z]\)|\\?text\{[a-z ]+\}"
    r"|\(\s*" + _VAR + r"(?:\s*,\s*" + _VAR + r")+\s*\)|" + _VAR + r"(?:\s*:\s*" + _VAR + r")+)\s*"
    r"(?:=|\\in)(?![=<>])\s*"
)
# "\\frac" / "\\left" (a doubled backslash, as escaped-twice sources write it) before a known
# command: the command. A doubled backslash before anything else is a LaTeX line break.
_DOUBLED_CMD_RE = re.compile(
    r"(?<!\\)\\\\(?=(?:[dtc]?frac|left|right|sqrt|text|mathrm|boxed|pi|infty|cdot|times|le|ge|leq"
    r"|geq|lt|gt|neq|pm|cup|cap|in|circ|dfrac)(?![a-zA-Z]))"
)
# a trailing "\text{...}" of plain words after a number or a group: a unit or a remark
_TRAILING_TEXT_RE = re.compile(
    r"(?<=[\d}).])\s*\\(?:text|textbf|textit|mbox|mathrm|textnormal|textrm)\s*"
    r"\{\s*[A-Za-z][A-Za-z .'-]*\}\s*$"
)
# "a and b", "a \text{ or } b", "a \quad\text{and}\quad b" between listed items: a comma
_CONNECTIVE_RE = re.compile(
    r"\s*(?:\\q?quad\s*)?(?:\\text\s*\{\s*(?:and|or)\s*\}|(?<=[\d)\]},])\s*(?:and|or)\s*"
    r"(?=[-+\d(\[{\\]|[a-zA-Z]\s*=))\s*(?:\\q?quad\s*)?"
)
_CHOICE_DOT_RE = re.compile(r"^\(?([A-E])\)?\.\s+\S.*$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.I)
_FRAC_RE = re.compile(r"^([+-]?)\\frac\{([+-]?[\d.]+)\}\{([+-]?[\d.]+)\}$")
_SLASH_RE = re.compile(r"^([+-]?[\d.]+)/([+-]?[\d.]+)$")
_REPEAT_RE = re.compile(r"^([+-]?)(\d*)\.(\d*)\\overline\{(\d+)\}$")
_SCI_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:\\times|\\cdot|\*)10\^\{?([+-]?\d+)\}?$")
_MIXED_RE = re.compile(r"^(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _unwrap_cmd(s: str) -> str:
    """Replace ``\\text{X}`` (and friends, including nested ``\\boxed``) by ``X``."""
    for _ in range(20):
        m = _TEXT_CMD_RE.search(s)
        if m is None:
            return s
        depth, i = 1, m.end()
        while i < len(s) and depth:
            if s[i] == "{":
                depth += 1
            elif s[i] == "}":
                depth -= 1
            i += 1
        if depth:
            return s
        s = s[: m.start()] + s[m.end() : i - 1] + s[i:]
    return s


def _strip_end_punct(s: str) -> str:
    """Drop sentence punctuation at the end ("5.", "1/3,"), but keep an ellipsis ("1, 2, ...")."""
    if re.search(r"(?:\.\.\.|\\[lc]?dots)\s*$", s):
        return s
    return s.rstrip(" .,")


_REL_LT = r"(?:<=|<|\\leq?(?![a-z])|\\leqslant|\\lt(?![a-z]))"
_REL_GT = r"(?:>=|>|\\geq?(?![a-z])|\\geqslant|\\gt(?![a-z]))"
_BOUND = r"[^<>=|]+?"
_INEQ_VAR = r"[a-zA-Z](?:_\{?\w+\}?)?(?:\([a-zA-Z]\))?"
_CHAIN_RE = {
    d: re.compile(
        rf"(?P<a>{_BOUND})\s*(?P<o1>{rel})\s*(?P<v>{_INEQ_VAR}|\|{_INEQ_VAR}\|)\s*"
        rf"(?P<o2>{rel})\s*(?P<b>{_BOUND})"
    )
    for d, rel in (("<", _REL_LT), (">", _REL_GT))
}


def _constant(s: str) -> bool:
    """A bound without variables: digits, \\frac, \\sqrt, \\pi, \\infty (no letters otherwise)."""
    return bool(s) and not re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", s))


def chained_inequality_as_interval(s: str) -> str | None:
    """``a < x <= b`` (or ``b > x >= a``) as the interval it describes, ``(a,b]``.

    ``a <= |z| <= b`` with ``a >= 0`` is the union ``[-b,-a] \\cup [a,b]``. Bounds must be
    constants; anything else (``f(2) < f(1) < f(4)``, an ordering) is left alone (None).
    """
    for d, rx in _CHAIN_RE.items():
        m = rx.fullmatch(s.strip())
        if m is None:
            continue
        a, b, o1, o2 = m["a"].strip(), m["b"].strip(), m["o1"], m["o2"]
        if d == ">":
            a, b, o1, o2 = b, a, o2, o1
        if not (_constant(a) and _constant(b)):
            return None
        lo_closed, hi_closed = (
            "=" in o1 or "le" in o1 or "ge" in o1,
            "=" in o2 or "le" in o2 or "ge" in o2,
        )
        lb, rb = "[" if lo_closed else "(", "]" if hi_closed else ")"
        if not m["v"].startswith("|"):
            return f"{lb}{a},{b}{rb}"
        if a.startswith("-"):
            return None
        neg = "[" if hi_closed else "("
        negr = "]" if lo_closed else ")"
        return f"{neg}-{b},-{a}{negr} \\cup {lb}{a},{b}{rb}"
    return None


def clean_latex(s: str, *, keep_label: bool = False) -> str:
    """Apply MATH/PRM800K normalization rules while keeping LaTeX parseable.

    ``keep_label`` keeps a leading ``y =`` (so that an equation stays an equation)."""
    s = s.strip()
    if len(s) > MAX_LEN:
        return s
    s = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3})", ",", s)  # 11,\! 111 -> 11,111 (not a list)
    s = re.sub(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d{3})", ",", s)  # 14 {, }916 -> 14,916
    s = _DOUBLED_CMD_RE.sub(r"\\", s)
    s = s.replace("\n", " ").replace("\\!", "").replace("\\,", "").replace("\\;", "")
    s = s.replace("\\:", "").replace("\\quad", " ").replace("\\qquad", " ").replace("~", " ")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*", "", s)
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = s.replace("\\displaystyle", "").replace("\\mathrm{~}", "")
    s = _strip_end_punct(s.strip("$ ").strip())
    s = re.sub(r"^\\\[|\\\]$", "", s).strip()
    s = re.sub(r"^\\\(|\\\)$", "", s).strip()
    s = re.sub(r"(?<!\\)\\+$", "", s).strip() or s  # a stray trailing backslash: "185\"
    s = _strip_end_punct(s) or s
    s = _TRAILING_TEXT_RE.sub("", s).strip() or s
    # units (\text{ cm}^2, "5 cm") and degrees / percent / dollars
    s = _TEXT_UNIT_RE.sub("", s).strip() or s
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = s.replace("\\circ", "").replace("°", "").replace("\\degree", "")
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = _unwrap_cmd(s).strip()
    s = _BARE_UNIT_RE.sub("", s).strip() or s
    s = _strip_end_punct(s)
    s = re.sub(r"\s+", " ", s)
    s = s.replace("{,}", ",")
    s = _CONNECTIVE_RE.sub(", ", s)
    s = re.sub(r"\s*;\s*", ", ", s)  # "-12;-11", "(0;-2;6)": semicolons separate items
    s = re.sub(r",\s*,", ",", s).strip(", ") or s  # "19, 46, and 82" -> "19, 46, 82"
    s = _CHOICE_DOT_RE.sub(r"\1", s)  # "C. x = 42" -> C
    # "x = 5", "x \in [1, 2)", "k = 3" prefixes (a single relation only)
    if s.count("=") <= 1 and not keep_label:
        m = _PREFIX_RE.match(s)
        if m and m.end() < len(s):
            s = s[m.end() :].strip()
    if _THOUSANDS_RE.match(s):  # "1,000" but not the list "1, 234"
        s = s.replace(",", "")
    s = re.sub(r"^\(?([A-E])\)$", r"\1", s)  # (A) -> A
    s = re.sub(r"^\(([A-E])\)\s+[A-Za-z][A-Za-z ,.'-]*$", r"\1", s)  # (D) a line -> D
    s = re.sub(r"^(\d+)_\{?\d+\}?$", r"\1", s)  # 52_8 -> 52 (the base is notation)
    if ("<" in s or ">" in s or "\\l" in s or "\\g" in s) and len(s) < 200:
        s = chained_inequality_as_interval(s) or s
    return s


def normalize_answer(s: str | None) -> str:
    """Canonical string key of an answer (MATH ``strip_string`` spirit); '' for None."""
    if s is None:
        return ""
    s = clean_latex(str(s))
    if len(s) > MAX_LEN:
        return s
    s = s.replace(" ", "")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]+)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt(\d+|[a-zA-Z])", r"\\sqrt{\1}", s)
    s = re.sub(r"(?<![\d.])\.(\d)", r"0.\1", s)
    s = re.sub(r"(\d)\.0+$", r"\1", s) if re.match(r"^[+-]?\d+\.0+$", s) else s
    if re.fullmatch(r"[A-Za-z][A-Za-z ,'-]+", s) and len(s) > 1:
        s = s.lower()
    return s


def _dec(s: str) -> Fraction:
    return Fraction(s)


def parse_number(s: str) -> Fraction | None:
    """Exact value of a plain number written as a normalized answer, else None."""
    s = s.replace(" ", "")
    if not s or len(s) > 64:
        return None
    try:
        if _NUM_RE.match(s):
            if "e" in s.lower():
                mant, exp = re.split("[eE]", s)
                if abs(int(exp)) > 300:
                    return None
                return Fraction(mant) * Fraction(10) ** int(exp)
            return Fraction(s)
        m = _FRAC_RE.match(s)
        if m:
            v = _dec(m.group(2)) / _dec(m.group(3))
            return -v if m.group(1) == "-" else v
        m = _SLASH_RE.match(s)
        if m:
            return _dec(m.group(1)) / _dec(m.group(2))
        m = _MIXED_RE.match(s)
        if m:
            return int(m.group(1)) + Fraction(int(m.group(2)), int(m.group(3)))
        m = _REPEAT_RE.match(s)
        if m:
            sign, ip, fp, rep = m.groups()
            base = Fraction(int(ip or "0")) + (Fraction(int(fp), 10 ** len(fp)) if fp else 0)
            v = base + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fp))
            return -v if sign == "-" else v
        m = _SCI_RE.match(s)
        if m and abs(int(m.group(2))) <= 300:
            return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return None

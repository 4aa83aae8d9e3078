"""Answer normalization (MATH / PRM800K grader rules) and exact numeric parsing (SPEC §5).

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
    "mph|km/h|kg|grams?|g|percent|points?|people|students?|ways|cups?|pages?|mL|ml|L|"
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
_PREFIX_RE = re.compile(
    r"^(?:[a-zA-Z]|\\[a-zA-Z]+|[a-zA-Z]_\{?\w+\}?|[a-zA-Z]\([a-z]\)|\\?text\{[a-z ]+\})\s*"
    r"(?:=|\\in)(?![=<>])\s*"
)
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


def clean_latex(s: str) -> str:
    """Apply MATH/PRM800K normalization rules while keeping LaTeX parseable."""
    s = s.strip()
    if len(s) > MAX_LEN:
        return s
    s = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3})", ",", s)  # 11,\! 111 -> 11,111 (not a list)
    s = s.replace("\n", " ").replace("\\!", "").replace("\\,", "").replace("\\;", "")
    s = s.replace("\\:", "").replace("\\quad", " ").replace("\\qquad", " ").replace("~", " ")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*", "", s)
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = s.replace("\\displaystyle", "").replace("\\mathrm{~}", "")
    s = s.strip("$ ").strip().rstrip(".").strip()
    s = re.sub(r"^\\\[|\\\]$", "", s).strip()
    s = re.sub(r"^\\\(|\\\)$", "", s).strip()
    # units (\text{ cm}^2, "5 cm") and degrees / percent / dollars
    s = _TEXT_UNIT_RE.sub("", s).strip() or s
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = s.replace("\\circ", "").replace("°", "").replace("\\degree", "")
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = _unwrap_cmd(s).strip()
    s = _BARE_UNIT_RE.sub("", s).strip() or s
    s = s.rstrip(".").strip()
    s = re.sub(r"\s+", " ", s)
    s = s.replace("{,}", ",")
    # "x = 5", "x \in [1, 2)", "k = 3" prefixes (a single relation only)
    if s.count("=") <= 1:
        m = _PREFIX_RE.match(s)
        if m and m.end() < len(s):
            s = s[m.end() :].strip()
    if _THOUSANDS_RE.match(s):  # "1,000" but not the list "1, 234"
        s = s.replace(",", "")
    s = re.sub(r"^\(?([A-E])\)$", r"\1", s)  # (A) -> A
    s = re.sub(r"^\(([A-E])\)\s+[A-Za-z][A-Za-z ,.'-]*$", r"\1", s)  # (D) a line -> D
    s = re.sub(r"^(\d+)_\{?\d+\}?$", r"\1", s)  # 52_8 -> 52 (the base is notation)
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

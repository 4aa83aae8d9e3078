"""Final-answer extraction from model outputs and dataset solutions.

Answer markers: ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces, also the brace-less
``\\boxed 5``), the PRM800K ``# Answer`` line and the Minerva-style line
``Final Answer: The final answer is X. I hope it is correct.`` Whichever marker comes LAST
in the text is the declared final answer (solutions box an intermediate result, or a draft,
and then state the answer again); without any of them, the GSM8K ``#### N`` line.
No answer found => ``None``; never raises.

Several boxes in the final answer: boxes that directly follow one another, or are joined
only by list connectives (``,`` ``;`` "and" "or", ``\\quad``, ``\\text{and}``, math
delimiters around a connective, "for part (a)"), form one answer, the list of their
contents: ``x = \\boxed{2} \\text{ or } x = \\boxed{-3}`` -> ``2, -3``. Boxes separated by
anything else (reasoning, a change of display block without a connective) are drafts:
only the last one counts, so ``\\boxed{1} ... so it is \\boxed{2}`` -> ``2``. Joined boxes
that restate one number in two forms (``\\boxed{15\\frac{39}{40}}, or \\boxed{\\frac{639}{40}}``)
are that number, not a list.
"""

from __future__ import annotations

import re

from mathft.grading.equivalence import is_equiv
from mathft.grading.normalize import normalize_answer, parse_number

__all__ = ["extract_answer", "last_boxed"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_PRM_RE = re.compile(r"^#[ \t]*Answer[ \t]*:?[ \t]*\n(?:[ \t]*\n)*[ \t]*(\S[^\n]*)", re.M)
_PRM_INLINE_RE = re.compile(r"^#[ \t]*Answer[ \t]*:?[ \t]*(\S[^\n]*)$", re.M)
_GSM_RE = re.compile(r"####[ \t]*([^\n]*\S)")
_MINERVA_RE = re.compile(r"Final Answer:?[ \t]*The final answer is[ \t]*([^\n]*)", re.I)
_HOPE_RE = re.compile(r"\s*I hope it is correct.*$", re.I)
_MATH_DELIM_RE = re.compile(r"\$|\\[()\[\]]")
# what may stand between two boxes of one answer (after math delimiters are removed)
_SEP_TOKENS_RE = re.compile(
    r"(?:\s+|[,;&]|\\q?quad|\\[,;:! ]|\\text\s*\{|[{}]|\\+(?![A-Za-z])|\band\b|\bor\b"
    r"|\bfor\b|\bparts?\b|\(?[a-z]\)|\brespectively\b|\b[a-zA-Z](?:_\{?\w+\}?)?\s*=)"
)
_CONNECTIVE_RE = re.compile(r"[,;&]|\band\b|\bor\b|\\q?quad")
_MAX_SEP = 60


def _brace_pairs(text: str) -> dict[int, int]:
    """Map each '{' index to the index just past its matching '}' (one linear pass)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":  # skip escaped chars such as \{ \}
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i + 1
        i += 1
    return pairs


def _boxes(text: str) -> list[tuple[str, int, int]]:
    """(content, start, end) of every well-formed, non-empty box, in text order."""
    out: list[tuple[str, int, int]] = []
    pairs: dict[int, int] | None = None
    for m in _BOX_RE.finditer(text):
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            if pairs is None:
                pairs = _brace_pairs(text)
            end = pairs.get(j)
            if end is None:
                continue  # unbalanced
            content = text[j + 1 : end - 1].strip()
        elif j > m.end():  # "\boxed 5": the token up to whitespace / $ / end
            tok = re.match(r"[^\s$]+", text[j:])
            if tok is None:
                continue
            content = tok.group(0).rstrip(".,;")
            end = j + tok.end()
        else:
            continue
        if content and (not out or m.start() >= out[-1][2]):  # nested boxes: keep the outer
            out.append((content, m.start(), end))
    return out


def _joins(sep: str) -> bool:
    """Whether the text between two boxes makes them one answer (see module docstring)."""
    if len(sep) > _MAX_SEP:
        return False
    bare = _MATH_DELIM_RE.sub(" ", sep)
    if _SEP_TOKENS_RE.sub("", bare):
        return False  # words or math other than list connectives
    if _CONNECTIVE_RE.search(bare):
        return True
    return not sep.strip()  # "\boxed{1}\boxed{2}": adjacent in one formula


def _final_boxes(text: str) -> tuple[str, int] | None:
    """(answer, start) of the last box, joined with the boxes listed together with it."""
    boxes = _boxes(text)
    if not boxes:
        return None
    group = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        if not _joins(text[prev[2] : group[0][1]]):
            break
        group.insert(0, prev)
    if len(group) > 1 and _same_value([c for c, _, _ in group]):
        group = group[-1:]  # "\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}": one value
    return ", ".join(c for c, _, _ in group), group[0][1]


def _same_value(contents: list[str]) -> bool:
    """Whether boxes restate one answer in other forms (so they are not a list)."""
    keys = [normalize_answer(c) for c in contents]
    if len(set(keys)) == 1:
        return True
    values = [parse_number(k) for k in keys]
    if None not in values:
        return len(set(values)) == 1
    if len(contents) > 3:  # restatements come in twos or threes; bound the worker calls
        return False
    # "x+11 or 11+x": ask the grader
    return all(is_equiv(c, contents[-1], timeout=2.0) for c in contents[:-1])


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed``/``\\fbox`` in ``text`` (None if none)."""
    boxes = _boxes(text)
    return boxes[-1][0] if boxes else None


def _minerva(m: re.Match[str]) -> str | None:
    ans = _HOPE_RE.sub("", m.group(1)).strip().strip('"').strip()
    ans = ans[:-1].strip() if ans.endswith(".") else ans
    return ans.strip('"').strip() or None


def extract_answer(text: str | None) -> str | None:
    """Extract the final answer of a solution; None when no answer marker is present."""
    if not isinstance(text, str) or not text:
        return None
    try:
        found: list[tuple[int, str | None]] = []  # (start, answer) of each kind's last marker
        boxed = _final_boxes(text)
        if boxed is not None:
            found.append((boxed[1], boxed[0]))
        prm = [*_PRM_RE.finditer(text), *_PRM_INLINE_RE.finditer(text)]
        if prm:
            m = max(prm, key=lambda m: m.start())
            found.append((m.start(), m.group(1).strip() or None))
        minerva = list(_MINERVA_RE.finditer(text))
        if minerva:
            found.append((minerva[-1].start(), _minerva(minerva[-1])))
        if found:
            return max(found, key=lambda f: f[0])[1]
        gsm = list(_GSM_RE.finditer(text))
        if gsm:
            ans = gsm[-1].group(1).strip()
            return ans or None
    except Exception:  # pragma: no cover - defensive: extraction must never raise
        return None
    return None

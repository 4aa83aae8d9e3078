"""Final-answer extraction from model outputs and dataset solutions (SPEC §5).

Routes: the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces, also the brace-less
``\\boxed 5`` form) and the PRM800K ``# Answer`` line — whichever comes LAST in the text is the
declared final answer (PRM800K-style solutions sometimes box an intermediate result and then
state another answer under ``# Answer``) — else the GSM8K ``#### N`` line.
No answer found => ``None``; never raises.
"""

from __future__ import annotations

import re

__all__ = ["extract_answer", "last_boxed"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_PRM_RE = re.compile(r"^#[ \t]*Answer[ \t]*:?[ \t]*\n(?:[ \t]*\n)*[ \t]*(\S[^\n]*)", re.M)
_PRM_INLINE_RE = re.compile(r"^#[ \t]*Answer[ \t]*:?[ \t]*(\S[^\n]*)$", re.M)
_GSM_RE = re.compile(r"####[ \t]*([^\n]*\S)")


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


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed``/``\\fbox`` in ``text`` (None if none)."""
    found = _last_boxed_at(text)
    return found[0] if found else None


def _last_boxed_at(text: str) -> tuple[str, int] | None:
    """(content, start offset) of the last well-formed box."""
    pairs: dict[int, int] | None = None
    for m in reversed(list(_BOX_RE.finditer(text))):
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            if pairs is None:
                pairs = _brace_pairs(text)
            end = pairs.get(j)
            if end is None:
                continue  # unbalanced: try an earlier box
            content = text[j + 1 : end - 1].strip()
        elif j > m.end():  # "\boxed 5": the token up to whitespace / $ / end
            tok = re.match(r"[^\s$]+", text[j:])
            if tok is None:
                continue
            content = tok.group(0).rstrip(".,;")
        else:
            continue
        if content:
            return content, m.start()
    return None


def extract_answer(text: str | None) -> str | None:
    """Extract the final answer of a solution; None when no answer marker is present."""
    if not isinstance(text, str) or not text:
        return None
    try:
        boxed = _last_boxed_at(text)
        found = [m for m in _PRM_RE.finditer(text)] + [m for m in _PRM_INLINE_RE.finditer(text)]
        prm = max(found, key=lambda m: m.start()) if found else None
        if boxed is not None and (prm is None or boxed[1] > prm.start()):
            return boxed[0]
        if prm is not None:
            ans = prm.group(1).strip()
            return ans or None
        gsm = list(_GSM_RE.finditer(text))
        if gsm:
            ans = gsm[-1].group(1).strip()
            return ans or None
    except Exception:  # pragma: no cover - defensive: extraction must never raise
        return None
    return None

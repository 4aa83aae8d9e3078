"""The peers' grader test suites as one table, and how mathft grades one of their cases.

A case is (source, test name, gold, prediction, expected, mathft): ``expected`` is the
peer's verdict; ``mathft`` is None where mathft follows it, else a key of ``DIFFERENT``,
the documented reason mathft deliberately gives the other verdict.

How a case is graded (as a user would): each side that declares a final answer (a box,
"# Answer", "####", a "Final Answer: The final answer is ..." line) is replaced by that
answer; a side without such a marker is taken as the answer itself. Then ``is_equiv``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mathft.grading import extract_answer, is_equiv

DATA = Path(__file__).parent / "data"


def _load(name: str) -> ModuleType:  # by path: no package, no sys.path games
    spec = importlib.util.spec_from_file_location(f"_mathft_peer_{name}", DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


peer_small = _load("peer_small")
peer_math_verify_all = _load("peer_math_verify_all")

DIFFERENT = {
    "prose": "no answer marker: mathft grades a declared final answer (box, '# Answer', "
    "'####', 'Final Answer: The final answer is ...'); it does not pick the last number or "
    "formula out of free prose, which is how an unfinished draft gets graded as an answer",
    "comma_decimal": "a comma is never a decimal separator ('1,22' is the list 1, 22; "
    "'1,000' is a thousand): MATH-style answers use commas for lists and thousands",
    "rounded": "a rounded decimal is not the exact value it approximates (0.33 != 1/3): "
    "only exact decimals (0.25 = 1/4) and float-printing noise (1e-12) are equal",
    "unordered_list": "a bare comma list is a set of solutions ('10, 4, -2' = '4, 10, -2'); "
    "order matters only inside parentheses/brackets (tuples, intervals) and matrices",
    "symmetric": "equivalence is symmetric: Math-Verify's allow_set_relation_comp=False "
    "makes 'x in [-2,7]' vs '-2 <= x <= 7' depend on which side is the gold",
    "labelled_components": "'p=5,q=2;p=7,q=2' (labelled components of several solutions) "
    "is not rebuilt into tuples '(5,2),(7,2)'",
    "tuple_vs_set": "an ordered pair (1,3) is not the set {1,3}",
    "escaped_source": "the source string holds doubled backslashes ('\\\\boxed') around an "
    "unbalanced box: no answer can be extracted",
}


@dataclass(frozen=True)
class Case:
    source: str
    test: str
    gold: str
    pred: str
    expected: bool
    mathft: str | None  # key of DIFFERENT, or None

    @property
    def mathft_expected(self) -> bool:
        return self.expected if self.mathft is None else not self.expected


def _cases() -> list[Case]:
    out = []
    suites = dict(peer_small.SMALL_SUITES)
    suites[peer_math_verify_all.SOURCE] = peer_math_verify_all.CASES
    for source, rows in suites.items():
        for test, gold, pred, expected, why in rows:
            assert why is None or why in DIFFERENT, why
            out.append(Case(source, test, gold, pred, bool(expected), why))
    return out


CASES = _cases()
SOURCES = sorted({c.source for c in CASES})


def answer_of(text: str) -> str:
    """The declared final answer of ``text``, else ``text`` itself."""
    ans = extract_answer(text)
    return ans if ans is not None else text


def mathft_verdict(gold: str, pred: str) -> tuple[bool, bool]:
    """(verdict gold->pred, verdict pred->gold) of mathft on one case."""
    a, b = answer_of(gold), answer_of(pred)
    return is_equiv(a, b), is_equiv(b, a)

"""extract_answer: boxed / fbox / brace-less boxed, PRM800K '# Answer', GSM8K '####'."""

from __future__ import annotations

import pytest

from mathft.grading import extract_answer, grade

CASES = [
    ("The answer is $\\boxed{5}$.", "5"),
    ("First \\boxed{1} then \\boxed{2}", "2"),
    ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    (
        "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    ),
    ("so \\fbox{7}", "7"),
    ("hence $\\boxed 5$.", "5"),
    ("hence \\boxed 12.", "12"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("\\boxed{a{b{c}}d}", "a{b{c}}d"),
    ("\\boxed{3} and later \\boxed{4", "3"),  # unbalanced last box: earlier one wins
    ("\\boxed{\\text{(A)}}", "\\text{(A)}"),
    ("We get 5.\n\n# Answer\n\n5", "5"),
    ("Steps...\n# Answer\n\n\\frac{3}{4}\n", "\\frac{3}{4}"),
    ("Steps\n\n# Answer\n\n12 \\text{ cm}", "12 \\text{ cm}"),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
    ("#### 1,000", "1,000"),
    ("#### -3", "-3"),
    ("\\boxed{9} ... #### 3", "9"),  # boxed wins over other markers
    # PRM800K style: the answer declared LAST wins (labelers box an intermediate step, then
    # state the final answer under '# Answer'); a box after '# Answer' restates the answer.
    ("So the choice is \\boxed{C}.\n\n# Answer\n\n6", "6"),
    ("# Answer\n\n6\n\nThat is, \\boxed{7}", "7"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no answer here",
        "\\boxed{",
        "\\boxed{}",
        "\\boxed",
        "####",
        "# Answer\n\n",
        "}{\\boxed{{",
    ],
)
def test_no_answer(text: str) -> None:
    assert extract_answer(text) is None


def test_non_string_input() -> None:
    assert extract_answer(None) is None  # type: ignore[arg-type]
    assert extract_answer(123) is None  # type: ignore[arg-type]


def test_huge_input_is_fast() -> None:
    text = "\\boxed{" * 20000 + "x" + "blah " * 10000 + "\\boxed{42}"
    assert extract_answer(text) == "42"


def test_grade() -> None:
    assert grade("so $\\boxed{\\dfrac{1}{2}}$", "0.5") == ("\\dfrac{1}{2}", True)
    assert grade("no answer", "0.5") == (None, False)
    assert grade("\\boxed{3}", None) == ("3", False)

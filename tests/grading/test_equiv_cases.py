"""Regression cases for is_equiv: real MATH / MATH500 / GSM8K answers and model-output styles."""

from __future__ import annotations

import pytest

from mathft.grading import is_equiv, normalize_answer

EQUAL = [
    # fractions / decimals / normalization of \dfrac, \tfrac, \frac12
    ("\\frac{1}{2}", "0.5"),
    ("\\dfrac{1}{2}", "\\frac12"),
    ("\\tfrac{3}{4}", "0.75"),
    ("1/2", "\\frac{1}{2}"),
    (".5", "0.5"),
    ("-\\frac{1}{3}", "\\frac{-1}{3}"),
    ("\\frac{7}{2}", "3.5"),
    ("2\\frac{1}{4}", "\\frac{9}{4}"),
    ("0.\\overline{3}", "\\frac{1}{3}"),
    ("0.1\\overline{6}", "\\frac{1}{6}"),
    ("1.\\overline{27}", "\\frac{14}{11}"),
    ("5.0", "5"),
    ("5.00", "5"),
    ("\\frac{10}{4}", "\\frac{5}{2}"),
    ("1.5\\times10^{3}", "1500"),
    ("2.5e3", "2500"),
    # integers with separators, dollars, percent, degrees, units
    ("1,000", "1000"),
    ("1{,}000{,}000", "1000000"),
    ("\\$1,250", "1250"),
    ("\\$ 18.90", "18.90"),
    ("18.90", "18.9"),
    ("25\\%", "25"),
    ("25 \\%", "25"),
    ("30^\\circ", "30"),
    ("30^{\\circ}", "30"),
    ("45°", "45"),
    ("90\\text{ degrees}", "90"),
    ("12 \\text{ cm}", "12"),
    ("12\\text{ cm}^2", "12"),
    ("5 \\mbox{ inches}", "5"),
    ("40 \\text{ miles}", "40"),
    ("6 \\text{ square units}", "6"),
    ("18", "18 dollars"),
    # spacing, \left / \right, \!, trailing period, $...$, \text wrappers
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("10,\\!080", "10080"),
    ("42.", "42"),
    ("864 \\mbox{ inches}^2.", "864"),
    ("\\frac{11}{2}.", "$\\frac{11}{2}$"),
    ("$42$", "42"),
    ("\\text{Evelyn}", "Evelyn"),
    ("\\text{east}", "East"),
    ("\\textbf{(C)}", "C"),
    ("\\text{(C)}", "C"),
    ("(A)", "A"),
    ("\\text{(E)}", "(E)"),
    ("\\text{even}", "even"),
    ("\\boxed{7}", "7"),
    ("\\displaystyle\\frac{1}{4}", "\\frac{1}{4}"),
    # prefixes
    ("x = 5", "5"),
    ("x=-3", "-3"),
    ("k = \\frac{1}{2}", "0.5"),
    ("y = 2x + 3", "2x+3"),
    ("f(x) = x^2", "x^2"),
    ("x \\in [-2,7]", "[-2,7]"),
    # bases
    ("52_8", "52"),
    ("2516_{8}", "2516_8"),
    # radicals and symbolic
    ("3\\sqrt{13}", "\\sqrt{117}"),
    ("11\\sqrt2", "11\\sqrt{2}"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
    ("\\frac{3\\sqrt{3}}{4}", "\\frac{3}{4}\\sqrt{3}"),
    ("2\\sqrt{5}", "\\sqrt{20}"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"),
    ("70 \\sqrt{2}", "70\\sqrt2"),
    ("6 - 5i", "-5i + 6"),
    ("1+2i", "2i+1"),
    ("\\pi", "\\pi"),
    ("7\\pi", "7 \\pi"),
    ("288 \\pi", "288\\pi"),
    ("18+2\\pi", "2\\pi+18"),
    ("\\frac{20000}{\\pi}", "20000/\\pi"),
    ("p - q", "-q + p"),
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "x^5-x^4+x^3-x^2+x-1"),
    ("x^2+2x+1", "(x+1)^2"),
    ("(a+5)(b+2)", "(b+2)(a+5)"),
    ("6r^2-4r-24", "2(3r^2-2r-12)"),
    ("2k+2", "2(k+1)"),
    ("\\frac{11+9a}{20}", "\\frac{9a+11}{20}"),
    ("-13x+3", "3-13x"),
    ("\\cot x", "\\frac{\\cos x}{\\sin x}"),
    ("2^{10}", "1024"),
    ("\\binom{5}{2}", "10"),
    ("5!", "120"),
    ("\\sqrt{16}", "4"),
    ("\\frac{1}{2004!}", "\\frac{1}{2004!}"),
    # tuples, intervals, sets, lists, matrices
    ("(15,-29)", "(15, -29)"),
    ("\\left( \\frac{3}{2}, -13 \\right)", "(1.5,-13)"),
    ("(6,31,-1)", "(6, 31, -1)"),
    ("(3,4]", "(3, 4]"),
    ("(2,\\infty)", "(2, \\infty)"),
    ("(-\\infty, 0]", "(-\\infty,0]"),
    ("(0,9) \\cup (9,36)", "(0,9)\\cup(9,36)"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)"),
    ("\\left[ \\frac{\\pi^2}{8}, \\frac{5 \\pi^2}{4} \\right]", "[\\pi^2/8, 5\\pi^2/4]"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("1,-2", "-2, 1"),
    ("3, 5, 7", "7, 5, 3"),
    (
        "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
        "\\begin{pmatrix}-1&0\\\\0&-1\\end{pmatrix}",
    ),
    (
        "\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}",
        "\\begin{pmatrix} \\frac{1}{5} \\\\ -\\frac{18}{5} \\end{pmatrix}",
    ),
    (
        "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}",
        "\\left(\\begin{array}{c}-2\\\\-14\\\\-7\\end{array}\\right)",
    ),
    # GSM8K style
    ("18", "18.0"),
    ("1,080", "1080"),
    ("-3", "-3.0"),
    ("\\infty", "\\infty"),
    ("\\{1\\pm\\sqrt{5},-2\\}", "\\{-2, 1+\\sqrt{5}, 1-\\sqrt{5}\\}"),
    ("5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0"),
    ("(1,-16,-4,43)", "\\left(1, -16, -4, 43\\right)"),
    ("3R^2", "3 R^2"),
    ("5r^5", "5 r^{5}"),
    ("8n^2 + 4n + 1", "1 + 4n + 8n^2"),
    ("\\text{ellipse}", "ellipse"),
    ("0.25", "\\frac{1}{4}"),
    # real model answers from PRM800K vs MATH gold
    ("-\\frac{1+5i}{13}", "-\\frac{1}{13} - \\frac{5}{13}i"),
    ("4:51:06", "4\\!:\\!51\\!:\\!06 \\text{ p.m.}"),
    ("\\text{(D) a non-horizontal line}", "\\text{(D)}"),
    (
        "4+\\sqrt{-1}, 4-\\sqrt{-1}, 4+\\sqrt{-5}, 4-\\sqrt{-5}",
        "4 + i, 4 - i, 4 + i \\sqrt{5}, 4 - i \\sqrt{5}",
    ),
    ("x=\\dfrac{20}{3}", "\\frac{20}{3}"),
    ("i^2", "-1"),
    ("0.30000000000000004", "0.3"),
    ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
    ("\\frac{16}{49}", "0.\\overline{326530612244897959183673469387755102040816}"),
]

NOT_EQUAL = [
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}"),
    ("0.5", "5"),
    ("(1,2)", "(2,1)"),
    ("[1,2)", "(1,2]"),
    ("(1,2)", "[1,2]"),
    ("\\frac{1}{3}", "0.33"),
    ("\\frac{1}{3}", "0.333"),
    ("2", "-2"),
    ("12", "21"),
    ("1000", "100"),
    ("1,000", "1"),
    ("3\\sqrt{13}", "13\\sqrt{3}"),
    ("\\sqrt{2}", "2"),
    ("\\pi", "3.14"),
    ("x^2+1", "x^2-1"),
    ("2k+2", "2k"),
    ("p - q", "q - p"),
    ("A", "B"),
    ("(A)", "(C)"),
    ("A", "a+1"),
    ("\\text{Evelyn}", "\\text{Navin}"),
    ("\\text{even}", "\\text{odd}"),
    ("\\text{Monday}", "\\text{Sunday}"),
    ("\\text{yes}", "\\text{no}"),
    ("6+9i", "6-9i"),
    ("1+2i", "2+i"),
    ("585000", "58,500"),
    ("5,-3", "-3"),
    ("x + y - z - 1 = 0", "x + y - z + 1 = 0"),
    ("(15,-29)", "(-29,15)"),
    ("(3,4]", "[3,4]"),
    ("(2,\\infty)", "[2,\\infty)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"),
    ("\\{1,2\\}", "\\{1,3\\}"),
    ("2^{100}", "1267650600228229401496703205377"),
    ("1.5", "15"),
    ("1, 234", "1234"),
    ("11,\\! 111,\\! 111,\\! 100", "11111111101"),
    ("11111111100", "11111111100.5"),
    ("\\frac{1}{3}", "0.333333"),
    ("10", "10.1"),
    ("0", "0.01"),
    ("52_8", "42"),
    ("\\frac{9}{4}", "2\\frac{1}{2}"),
    ("1,2", "1,2,3"),
    ("100\\%", "1"),
    ("x = 5", "x = 6"),
    ("7\\pi", "7"),
    ("\\infty", "-\\infty"),
    ("\\{1,2\\}", "(1,2)"),
    ("\\{1,2\\}", "[1,2]"),
    ("\\infty", "\\text{undefined}"),
    ("(-\\infty, 2)", "(-\\infty, 3)"),
    ("\\sqrt{51}", "\\sqrt{52}"),
    ("3 \\pm 2 \\sqrt{2}", "3 + 2\\sqrt{2}"),
    ("1+274i", "1+247i"),
    ("\\frac{\\pi}{6}", "-\\frac{\\pi}{6}"),
    ("18", "180"),
    ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0"),
    ("x^3+3x-6", "x^3+3x+6"),
    ("\\$18.90", "\\$18.09"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert is_equiv(a, b), (a, b, normalize_answer(a), normalize_answer(b))
    assert is_equiv(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_not_equal(a: str, b: str) -> None:
    assert not is_equiv(a, b), (a, b, normalize_answer(a), normalize_answer(b))
    assert not is_equiv(b, a)


@pytest.mark.parametrize("x", [None, "", "5", "\\frac12"])
def test_none_never_equal(x: str | None) -> None:
    assert not is_equiv(None, x)
    assert not is_equiv(x, None)


def test_case_count() -> None:
    assert len(EQUAL) + len(NOT_EQUAL) >= 150

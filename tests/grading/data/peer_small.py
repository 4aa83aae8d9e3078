"""Peer test suites, transcribed (gold, prediction, peer's expected verdict).

Sources (public repositories; cases copied as data, each with its original test name):

* hendrycks/math  modeling/math_equivalence_test.py   (MIT License, Dan Hendrycks)
* NVIDIA/NeMo-Skills  tests/test_math_equal.py        (Apache License 2.0, NVIDIA)
* huggingface/Math-Verify  tests/test_yujianll.py     (Math-Verify: Apache License 2.0)
* huggingface/Math-Verify  tests/test_numina_cases.py (same; read from the fork
  wantbook-book/Math-Verify, the only stored copy of this file)
* huggingface/Math-Verify  tests/test_open_thoughts.py (same; same fork; the source names
  its test function ``test_numina_cases`` too)

Math-Verify's tests/test_boxed.py is not among the stored copies: not transcribed.

Each row: (test name, gold, prediction, expected, mathft) where ``mathft`` is None when
mathft follows the peer's verdict, else a key of ``peer_cases.DIFFERENT`` naming why mathft
deliberately gives the other verdict. Python values in NeMo-Skills' cases (5, 0.5, 5 / 2,
None) are written as the strings ``str(value)`` gives.
"""

HENDRYCKS = "hendrycks/math modeling/math_equivalence_test.py"
NEMO = "NVIDIA/NeMo-Skills tests/test_math_equal.py"
YUJIANLL = "huggingface/Math-Verify tests/test_yujianll.py"
NUMINA = "huggingface/Math-Verify tests/test_numina_cases.py"
OPEN_THOUGHTS = "huggingface/Math-Verify tests/test_open_thoughts.py"

HENDRYCKS_CASES = [
    ("test_fractions", r"\tfrac{1}{2} + \frac1{72}", r"\\frac{1}{2} + 2/3", 0, None),
    ("test_order", "10, 4, -2", "4, 10, -2", 0, "unordered_list"),
    ("test_order2", "10, 4, 2", "4, 12, 2", 0, None),
    ("test_dfrac", r"\tfrac{1}{2} +\! \frac1{72}", r"\\dfrac{1}{2} +\frac{1}{72}", 1, None),
    ("test_units", r"10\text{ units}", "10 ", 1, None),
    ("test_units2", r"10\text{ units}", "100 ", 0, None),
    ("test_dollars", "10", r"\$10", 1, None),
    ("test_parentheses", r"\left(x-2\right)\left(x+2\right)", "(x-2)(x+2)", 1, None),
    ("test_decimals", "0.1, 4, 2", "4, .1, 2", 0, "unordered_list"),
    ("test_decimals2", "0.1", ".1", 1, None),
    ("test_percentage", r"10\%", "10", 1, None),
    ("test_sqrt", r"10\sqrt{3} + \sqrt4", r"10\sqrt3 + \sqrt{4}", 1, None),
    ("test_frac", r"\frac34i", r"\frac{3}{4}i", 1, None),
    ("test_tfrac", r"\tfrac83", r"\frac{8}{3}", 1, None),
    ("test_expression", "5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", 0, None),
    ("test_half", "1/2", r"\frac{1}{2}", 1, None),
]

NEMO_CASES = [
    ("test_correct_examples", "5", "5", 1, None),
    ("test_correct_examples", "5", "5.0", 1, None),
    ("test_correct_examples", "1/2", "0.5", 1, None),
    ("test_correct_examples", r"\frac{1}{2}", "0.5", 1, None),
    ("test_correct_examples", r"918\frac{1}{2}", "918.5", 1, None),
    ("test_correct_examples", "x^2+2x+1", "x^2 + 2*x + 1", 1, None),
    ("test_correct_examples", "x^2+2x+1", "x^2 + 2*x - (-1)", 1, None),
    ("test_correct_examples", "y = x^2+2x+1", "2x+ 1+x^2", 1, None),
    ("test_correct_examples", "odd", r"\text{odd}", 1, None),
    ("test_correct_examples", "E", r"\mathrm{E}", 1, None),
    ("test_correct_examples", "A", r"\textbf{A}", 1, None),
    ("test_correct_examples", "f'", "f'", 1, None),
    ("test_correct_examples", "185", "185\\", 1, None),
    ("test_correct_examples", "185\\", "185\\", 1, None),
    ("test_correct_examples", ".185", "0.185", 1, None),
    ("test_correct_examples", r"\frac {1}{2}", "0.5", 1, None),
    ("test_correct_examples", r"17\text{ any text}", "17", 1, None),
    ("test_correct_examples", r"\$10", "10", 1, None),
    ("test_correct_examples", "10%", "10", 1, None),
    ("test_correct_examples", r"10\%", "10", 1, None),
    ("test_correct_examples", "2.5", r"\frac{5}{2}", 1, None),
    ("test_correct_examples", r"\frac{1}{3}", r"\dfrac{1}{3}", 1, None),
    ("test_correct_examples", "(r+5)(r+5)", "(r+5)^2", 1, None),
    ("test_correct_examples", r"\frac{\sqrt{3}}{3}", r"\frac{\sqrt{3}}{3} \approx 0.577", 1, None),
    ("test_correct_examples", "C", "C. x = 42", 1, None),
    (
        "test_correct_examples",
        r"\begin{pmatrix}0&0&0\\0&1&0\\0&0&1\end{pmatrix}",
        r"\begin{bmatrix} 0 & 0 & 0 \\ 0 & 1 & 0 \\ 0 & 0 & 1 \end{bmatrix}",
        1,
        None,
    ),
    ("test_incorrect_examples", "5", "5.001", 0, None),
    ("test_incorrect_examples", "0", "None", 0, None),
    ("test_incorrect_examples", "x^2+2x+1", "x^3+2x+1", 0, None),
    ("test_incorrect_examples", "odd", r"\text{oddd}", 0, None),
    ("test_incorrect_examples", "E", r"\mathrm{E}*2", 0, None),
    ("test_incorrect_examples", r"\sqrt{67},-\sqrt{85}", r"\sqrt{67}", 0, None),
]

YUJIANLL_CASES = [
    ("test_string_extraction", "$n=1, 2, 3$", "$n=1, 2, 3$", 1, None),
    ("test_string_extraction", "$n=2, 3, 4$", "$n=1, 2, 3$", 0, None),
    ("test_string_extraction", "$D = (0, 1)$", "$D = (0, 1)$", 1, None),
    ("test_string_extraction", "$D = (0, 1)$", "$D = (0, 1.5)$", 0, None),
    (
        "test_string_extraction",
        r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$",
        r"$F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}$",
        0,
        None,
    ),
    (
        "test_string_extraction",
        r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$",
        r"$F_n = \sum_{k=0}^{n-1} F_{n-k-1} F_k$",
        1,
        None,
    ),
    ("test_string_extraction", "$19, 46, and 82$", r"$19, 46, \text{ and } 82$", 1, None),
    ("test_string_extraction", "$19, 46, and 82$", "$21, 36, and 82$", 0, None),
    (
        "test_string_extraction",
        r"$1 - \frac{1}{\mathrm{e}}$",
        r"$1 - \frac{1}{\mathrm{e}}$",
        1,
        None,
    ),
    (
        "test_string_extraction",
        r"$1 - \frac{1}{\mathrm{e}}$",
        r"$1 + \frac{1}{\mathrm{e}}$",
        0,
        None,
    ),
    ("test_string_extraction", r"$\pm 2021$", "$2021$", 0, None),
    ("test_string_extraction", r"$\pm 2021$", "${-2021, 2021}$", 1, None),
    ("test_string_extraction", "$12:00$", "$1:00$", 0, None),
    ("test_string_extraction", "$12:00$", "$12:00$", 1, None),
]

NUMINA_CASES = [
    (
        "test_numina_cases",
        r"$(37,3,3,13),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$",
        r"$\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), (37,3,3,13)}$",
        1,
        None,
    ),
    ("test_numina_cases", r"$(p,q)=(3,2)$", r"$(3,2)$", 1, None),
    (
        "test_numina_cases",
        r"$(0;0;0),(0;-2;0),(0;0;6),(0;-2;6),(4;0;0),(4;-2;0),(4;0;6),(4;-2;6)$",
        r"\boxed{(4, 0, 6), (4, -2, 6), (0, 0, 6), (0, -2, 6), (4, 0, 0), (4, -2, 0), (0, 0, 0), (0, -2, 0)}",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$1\leq|z|\leq \frac{3}{2}$",
        r"$z \in \left[-\frac{3}{2}, -1\right] \cup \left[1, \frac{3}{2}\right]$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$-12;-11;-10;-8;-7;-6$",
        r"$\boxed{\{-12, -11, -10, -8, -7, -6\}}$",
        1,
        None,
    ),
    ("test_numina_cases", r"$AB=4,CD=5$", r"$\boxed{4, 5}$", 1, None),
    ("test_numina_cases", r"$(11,7)or(7,11)$", r"$\boxed{(7,11),\ (11,7)}$", 1, None),
    ("test_numina_cases", r"$S_{MBCN}:S=7:32$", r"$\boxed{7:32}$", 1, None),
    ("test_numina_cases", r"$\frac{NO}{BO}=\frac{1}{\sqrt{6}}$", r"$\frac{1}{\sqrt{6}}$", 1, None),
    ("test_numina_cases", r"$p=5,q=2;p=7,q=2$", r"$(5,2),(7,2)$", 1, "labelled_components"),
    ("test_numina_cases", r"$(p,q,r)=(3,2,7)$", r"$(3,2,7)$", 1, None),
    ("test_numina_cases", r"$P(x) = 1$", r"$p(x) = 1$", 1, None),
    ("test_numina_cases", r"$V_{1}:V_{2}=11:21$", r"$11:21$", 1, None),
    (
        "test_numina_cases",
        r"$(2,1),(1,2),(-1,-20),(-20,-1)$",
        r"solutions are:\n\n\\[\n\\boxed{(1, 2)}, \\boxed{(2, 1)}, \\boxed{(-1, -20)}, \\boxed{(-20, -1)}\n\\]",
        1,
        None,
    ),
    ("test_numina_cases", r"\(\boxed{1}\) and \(\boxed{-2}\).", r"$\boxed{-2,1}$.", 1, None),
    ("test_numina_cases", r"$\text{odd}$", r"$odd$", 1, None),
    ("test_numina_cases", r"$\text{e}$", r"$e$", 1, None),
    ("test_numina_cases", r"$\text{E}$", r"$E$", 1, None),
    ("test_numina_cases", r"$d$", r"$\text{E}$", 0, None),
    ("test_numina_cases", r"$1$ and $2$ and $3$", r"$\boxed{1,2,3}$", 1, None),
    (
        "test_numina_cases",
        r"$(37,3,3),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$",
        r"$\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), (37,3,3,13)}$",
        0,
        None,
    ),
    ("test_numina_cases", r"$(p,q)=(3,2)$", r"$\boxed{(3, 2)}$", 1, None),
    (
        "test_numina_cases",
        r"\boxed{x = -5,\ p = \frac{14}{3}} ",
        r"$\boxed{-5, \frac{14}{3}}$",
        1,
        None,
    ),
    ("test_numina_cases", r"\boxed{a=4,\,-8,\,-10}", r"$\boxed{-10,-8,4}$", 1, None),
    (
        "test_numina_cases",
        r"\\boxed{W(n) = 1 \\text{ and } W(n) = -1",
        r"W(x)=1orW(x)=-1",
        1,
        "escaped_source",
    ),
    ("test_numina_cases", "$21,16$ or $11$", "$21,16,11$", 1, None),
    (
        "test_numina_cases",
        r"\boxed{ p = 5, q = 2 \quad \text{and} \quad p = 7, q = 2}",
        r"$p=5,q=2;p=7,q=2$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"\n\n\[ \boxed{p = -1 \text{ and } p = \dfrac{15}{8}} \]",
        r"$p=-1,p=\frac{15}{8}$",
        1,
        None,
    ),
    ("test_numina_cases", "$0<f(x)<1$", "$(0,1)$", 1, None),
    ("test_numina_cases", r"\(\boxed{6 \text{ and } 8}\)", r"$\boxed{6,8}$", 1, None),
    # the source row has no expected value (a 2-tuple); its evident intent is "equal"
    ("test_numina_cases", r"$\text{Even}$", r"$Even$", 1, None),
]

OPEN_THOUGHTS_CASES = [
    (
        "test_numina_cases",
        r"$$\boxed{2}, \boxed{3}, \boxed{5}, \boxed{7}, \boxed{13}$$",
        r"$${2, 3, 5, 7, 13}$$",
        1,
        None,
    ),
    ("test_numina_cases", r"$$f(y) = y$$", r"$$f(y) = y$$", 1, None),
    ("test_numina_cases", r"$$-793 < a < 10$$", r"$$(-793, 10)$$", 1, None),
    (
        "test_numina_cases",
        r"$$\text{The midpoints form a regular hexagon}$$",
        r"$$\text{The midpoints form a regular hexagon}$$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$$a_3 = 2, a_{37} = 19$$",
        r"$$\boxed{a_{37} = 19, \quad a_3 = 2}$$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$$(2, 2), (1, 3), (3, 3)$$",
        r"$$\boxed{(2, 2), (1, 3), (3, 3)}$$",
        1,
        None,
    ),
    ("test_numina_cases", r"$$(1, +\infty)$$", r"$$(1, +\infty)$$", 1, None),
    (
        "test_numina_cases",
        r"$$x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}$$",
        r"$$\boxed{x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}}$$",
        1,
        None,
    ),
    ("test_numina_cases", r"$$0.06 \text{ yuan}$$", r"$$\boxed{0.06 \text{ yuan}}$$", 1, None),
    (
        "test_numina_cases",
        r"$$(5, 8), (8, 5)$$",
        r"$$\boxed{(x, y) = (5, 8) \quad \text{and} \quad (8, 5)}$$",
        1,
        None,
    ),
    ("test_numina_cases", r"$$667$$", r"$$\boxed{667}$$", 1, None),
    ("test_numina_cases", r"$$6 \text{ and } 8$$", r"$$\boxed{6 \text{ and } 8}$$", 1, None),
    (
        "test_numina_cases",
        r"$$(2, 2), (6, 2)$$",
        r"$$\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}$$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$$(98, 2), (99, 503)$$",
        r"$$\boxed{(98, 2)} \quad \text{and} \quad \boxed{(99, 503)}$$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$$(3, 3), (1, 1)$$",
        r"$$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$$",
        1,
        None,
    ),
    ("test_numina_cases", r"$$k \ge 2$$", r"$$\boxed{k \ge 2}$$", 1, None),
    (
        "test_numina_cases",
        r"$$k = 45, n = 2$$",
        r"$$\boxed{k = 45} \quad \text{and} \quad \boxed{n = 2}$$",
        1,
        None,
    ),
    (
        "test_numina_cases",
        r"$143$",
        # abridged: the source is a ~4,500-character <think> trace; kept: its last sentence
        r"<think> Alright, let me try to figure out this problem. [...] Therefore, the answer "
        r"is 143. So, \boxed{143} **Final Answer** \boxed{143} </think> [...] Thus, the number "
        r"of years between 2000 and 3000 inclusive that can be written as the sum of two positive "
        r"integers \( p \) and \( q \) such that \( 2p = 5q \) is \(\boxed{143}\).",
        1,
        None,
    ),
    ("test_numina_cases", r"$$143$$", r"$$\boxed{20}$$ \boxed{143}", 1, None),
    ("test_numina_cases", r"$${1,2,3}$$", r"\boxed{1} and \boxed{2} and \boxed{3}", 1, None),
    ("test_numina_cases", r"$${1,2,3}$$", r"\boxed{1},\boxed{2},\boxed{3}", 1, None),
]

SMALL_SUITES = {
    HENDRYCKS: HENDRYCKS_CASES,
    NEMO: NEMO_CASES,
    YUJIANLL: YUJIANLL_CASES,
    NUMINA: NUMINA_CASES,
    OPEN_THOUGHTS: OPEN_THOUGHTS_CASES,
}

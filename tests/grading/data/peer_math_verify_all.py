"""huggingface/Math-Verify tests/test_all.py, transcribed.

License: the file carries an MIT notice (Copyright (c) 2024 The HuggingFace Team); the
Math-Verify package is Apache License 2.0. Source version: commit cf14bc47 of the stored copy.

Rows: (test name, gold, prediction, expected, mathft) as in ``peer_small``. Predictions that
are long model outputs are abridged where marked ("[...]"): the sentences that carry the
answer (every box, every "Final Answer" line, the closing sentence) are kept verbatim.
Not transcribed: ``test_precision`` (calls Math-Verify's ``sympy_expr_eq`` with its
``float_rounding`` argument: an API test, not a gold/prediction pair) and the cases the
source itself comments out.
"""

SOURCE = "huggingface/Math-Verify tests/test_all.py"

_PERCENT_LOSS = (
    r"Let's assume the stock's value at the beginning of Monday is $100 . $ [...] \begin{align*} "
    r"\text{Percent Loss} &= \frac{\text{Initial Value} - \text{Final Value}}{\text{Initial Value}} "
    r"\cdot 100 \% \ &= \frac{100 - 72}{100} \cdot 100 \% \ &= \frac{28}{100} \cdot 100 \% \ &= 28 \%. "
    r"\end{align*} Final Answer: The final answer is $28 \%$. I hope it is correct. Note: The "
    r"solution provided is incorrect. [...] The overall percent loss in value is "
    r"$100 \% - 72 \%=28 \%$. Final Answer: The final answer is $28 \%$. I hope it is correct. "
    r"Note: The solution provided is incorrect. The correct approach is as follows:"
)

CASES = [
    # --- test_number_extraction (match_types=["expr"]) ---
    ("test_number_extraction", "-5", "-5", 1, None),
    ("test_number_extraction", "7425000", "7,425,000", 1, None),
    ("test_number_extraction", "1000", "1 000", 1, None),
    ("test_number_extraction", "1000", "1000.0", 1, None),
    ("test_number_extraction", "1000.0", "1,000.0", 1, None),
    ("test_number_extraction", "1000.99", "1000,99", 1, "comma_decimal"),
    ("test_number_extraction", "1,22", "1.22", 1, "comma_decimal"),
    ("test_number_extraction", "2.74", "Soucis : 2,74 $ a..", 1, "prose"),
    ("test_number_extraction", "0.4", ".4", 1, None),
    ("test_number_extraction", "1000.99", "1,000.99", 1, None),
    ("test_number_extraction", "1000.99", "1,000.99", 1, None),
    ("test_number_extraction", "1000.99", "$1,000.99", 1, None),
    ("test_number_extraction", "1000.99", "1,000.99$", 1, None),
    ("test_number_extraction", "1000.99", "the number is not 10 which is 1,000.99€", 1, "prose"),
    ("test_number_extraction", "1000.99", "the number is not 10 which is 1,000.99€", 1, "prose"),
    ("test_number_extraction", "1000.99", "so the number is 10 which is 1,000.99m²", 1, "prose"),
    ("test_number_extraction", "1000.99", "not it's not 10 it's 1,000.99m²", 1, "prose"),
    ("test_number_extraction", "0,111", "0.111", 1, "comma_decimal"),
    ("test_number_extraction", "2", "AZYUK2A", 0, None),
    # --- test_simple_fraction_notation ---
    ("test_simple_fraction_notation", "10/9", r"\frac{10}{9}", 1, None),
    ("test_simple_fraction_notation", "-10/9", r"-\frac{10}{9}", 1, None),
    # --- test_sets_handling ---
    ("test_sets_handling", "$[0,1)$", "$[0,1)$", 1, None),
    ("test_sets_handling", "$[0,1)$", "$[0,1)$", 1, None),
    ("test_sets_handling", "$[0,9)$", "$[0,1)$", 0, None),
    ("test_sets_handling", "$(0,9)$", "$[0,9)$", 0, None),
    ("test_sets_handling", "$1$", "$-[0,1)$", 0, None),
    # --- test_latex_notation (match_types=["latex"]) ---
    ("test_latex_notation", "$9$", r"Answer \[ 9 \]", 1, "prose"),
    ("test_latex_notation", "$9$", "Answer $ 9 $", 1, "prose"),
    ("test_latex_notation", "$9$", "Answer $$ 9 $$", 1, "prose"),
    ("test_latex_notation", "$9$", r"Answer \( 9 \)", 1, "prose"),
    ("test_latex_notation", "$10$", r"Answer \( (9+1) \)", 1, "prose"),
    ("test_latex_notation", "$9$", "Answer $ \n 9 \n $", 0, None),
    ("test_latex_notation", "$9$", "Answer \\( \n 9 \n \\)", 0, None),
    ("test_latex_notation", "$9$", "Answer \\[ \n 9 \n \\]", 1, "prose"),
    ("test_latex_notation", "$9$", "Answer $$ \n 9 \n $$", 1, "prose"),
    ("test_latex_notation", "$10/9$", r"Answer $ \frac{1}{2} \$ = \frac{10}{9} $", 1, "prose"),
    ("test_latex_notation", "$1/3$", r"$\frac13 $", 1, None),
    ("test_latex_notation", "$1$", r"$\frac3{3} $", 1, None),
    ("test_latex_notation", r"$\sqrt{3}$", r"$\sqrt3 $", 1, None),
    ("test_latex_notation", "$1/3$", r"$\cfrac{1}{3} $", 1, None),
    ("test_latex_notation", "$1/3$", r"$\dfrac{1}{3} $", 1, None),
    ("test_latex_notation", "$1/3$", r"$\tfrac{1}{3} $", 1, None),
    ("test_latex_notation", "$1/3$", "$ 1/3 $", 1, None),
    ("test_latex_notation", "$1/3$", r"$\left( \frac{1}{3} \right)$", 1, None),
    ("test_latex_notation", "$1/3$", r"$\boxed{\frac{1}{3}}$", 1, None),
    ("test_latex_notation", "$1/3$", r"$\frac{1}{3} \text{meters}$", 1, None),
    ("test_latex_notation", "$1/3$", r"$\frac{1}{3} \textbf{meters}$", 1, None),
    ("test_latex_notation", "$1/3$", r"$k = \frac{1}{3}$", 1, None),
    ("test_latex_notation", "$1/3$", r"$\frac{1}{3} \textbf{meters}$", 1, None),
    # --- test_percent_notation ---
    ("test_percent_notation", r"$28\%$", "28 percent", 1, None),
    ("test_percent_notation", r"$28\%$", "28 pct", 1, None),
    ("test_percent_notation", r"$28\%$", "28 %", 1, None),
    ("test_percent_notation", r"$28\%$", "$28$ %", 1, None),
    ("test_percent_notation", r"$28\%$", "$28$ percent", 1, None),
    ("test_percent_notation", r"$28\%$", r"$\boxed{28}$ pct", 1, None),
    ("test_percent_notation", r"$28\%$", r"$\boxed{28 pct}", 1, None),
    ("test_percent_notation", r"$28\%$", r"$\boxed{28 percent}", 1, None),
    ("test_percent_notation", r"$28\%$", r"$\boxed{28 percentage}", 1, None),
    ("test_percent_notation", r"$28\%$", "28", 1, None),
    ("test_percent_notation", "$0.28$", "28", 0, None),
    ("test_percent_notation", "$28/100$", "28", 0, None),
    ("test_percent_notation", "$28$", "28/100", 0, None),
    ("test_percent_notation", r"$\frac{28}{100}$", "28", 0, None),
    ("test_percent_notation", r"$28*\frac{1}{100}$", "28", 0, None),
    # --- test_latex_notation_math ---
    (
        "test_latex_notation_math",
        "$2-2p$",
        r"Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. Thus $x-p=\boxed{2-2p}$.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}",
        "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        _PERCENT_LOSS,
        r"If its initial value was $x$, after Monday, its value is $.9x$, and after a further "
        r"$20\%$ loss, its value becomes $.8\cdot .9x = .72x$, making for a total loss of $\boxed{28\%}$.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"In order for $N$ to be divisible by 12, [...] However, our next possibility, $14{,}916,$ "
        r"is a multiple of $3,$ since $1 + 4 + 9 + 1 + 6 = 21.$ Therefore, $\boxed{14{,}916}$ is our answer.",
        r"For a number to be divisible by 12, [...] Therefore, the smallest possible value for $N$ "
        r"with $A = 4$ and $B = 2$ is $N = 14 {, }916$. This number is divisible by both 3 and 4, "
        r"and thus by 12. Final Answer: The final answer is $14 {, }916$. I hope it is correct. "
        r"Note: The solution provided assumes that $A$ and $B$ are digits that are nonzero, [...] "
        r"[Note: The solution provided is correct, but it's always a good idea to double-check the "
        r"calculations and reasoning, especially for more complex problems. If you have any "
        r"questions or need further clarification, please feel free to ask. Thank you!] [Note",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"Since $25<30<36$, we have $5<\sqrt{30}<6$. [...] so the sum is located between "
        r"$\boxed{12\text{ and }13}$. To be more precise, $\sqrt{50}>7$, but we're still able to "
        r"say that $\sqrt{30}+\sqrt{50}<(6+7)$ [...]",
        r"We have that \begin{align*} \sqrt{30 } + \sqrt{50 }&=\sqrt{30 } + \sqrt{25 \cdot2 } \ "
        r"[...] &\approx12.547. \end{align*}Therefore, the graph of the sum $\sqrt{30 } + "
        r"\sqrt{50 }$ is located between $\boxed{12 $ and $13 }. $ Final Answer: The final answer "
        'is "$12 $ and $13 $". I hope it is correct.',
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$(3, \frac{\pi}{2})$",
        r"We have that $r = \\sqrt{0^2 + 3^2} = 3.$  [...] Therefore, the polar coordinates are "
        r"$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\frac{14}{3}$",
        r"$f(-2)+f(-1)+f(0)=\frac{3(-2)-2}{-2-2}+\frac{3(-1)-2}{-1-2}+\frac{3(0)-2}{0-2}="
        r"\frac{-8}{-4}+\frac{-5}{-3}+\frac{-2}{-2}=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\text{Evelyn}$",
        r"Evelyn covered more distance in less time than Briana, Debra and Angela, [...] "
        r"Therefore, $\boxed{\text{Evelyn}}$ is our answer.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$90^\circ$",
        r"For the first line, let $t = 2x = 3y = -z.$ [...] \[\begin{pmatrix} 3 \\ 2 \\ -6 "
        r"\end{pmatrix} \cdot \begin{pmatrix} 2 \\ -12 \\ -3 \end{pmatrix} = 0.\]Hence, the angle "
        r"between the lines is $\boxed{90^\circ}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$3\sqrt{13}$",
        r"We use the distance formula:  \begin{align*} \sqrt{(2 - (-4))^2 + ((-6) - 3)^2} &= "
        r"\sqrt{6^2 + (-9)^2}\\ & = \sqrt{36 + 81}\\ & = \sqrt{117} = \boxed{3\sqrt{13}}. \end{align*}",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\frac{3}{56}$",
        r"We also know that $q(-1) = ((-1)^2 - 1)p(-1) + 1 = 1.$ [...] so \[p(8) = "
        r"\frac{q(8) + 8}{8^2 - 1} = \boxed{\frac{3}{56}}.\]",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$2$",
        r"Of the two-digit perfect squares, only $4^2=16$ and $6^2=36$ end in $6$. Thus, there are "
        r"$\boxed{2}$ distinct possible values for $B$.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$15\mbox{ cm}^2$",
        r"The shaded triangle has a base of length $10\text{ cm}.$ [...] Therefore, the area of the "
        r"triangle is $$\frac{1}{2}\times 3 \times 10 = \boxed{15\mbox{ cm}^2}.$$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$-2,1$",
        r"By the Integer Root Theorem, the possible integer roots are all the divisors of 14 [...] "
        r"Checking, we find that the only integer roots are $\boxed{-2,1}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$9$",
        r"We use the property that $a \equiv b \pmod{m}$ implies $a^c \equiv b^c \pmod{m}$. [...] "
        r"Then, $129^{34}+96^{38} \equiv \boxed{9} \pmod{11}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$90^\circ$",
        r"Therefore, \begin{align*} \angle BAC &= \angle BAD + \angle DAC \\ &= 50^\circ+40^\circ "
        r"\\ &= \boxed{90^\circ}. \end{align*}",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$0$",
        r"Note that $p(x)$ has degree at most 2. [...] Hence, the degree of $p(x)$ (which is the "
        r"constant polynomial 1) is $\boxed{0}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$204_5$",
        r"We may carry out long division in base 5 just as in base 10. [...] for a quotient of "
        r"$\boxed{204_5}$. Note that in the above calculation we have used that $13_5$ divided by "
        r"$2_5$ is $4_5$, which follows from $4_5\times2_5=8_{10}=13_5$.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$(6,31,-1)$",
        r"Let $\alpha$ be a root of $x^3 - 3x^2 + 4x - 1 = 0,$ so $\alpha^3 = 3 \alpha^2 - 4 "
        r"\alpha + 1.$ Then solving the system of equations, we find $(p,q,r) = \boxed{(6,31,-1)}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$1 \pm \sqrt{19}$",
        r"This simplifies to $64y + 1920 = 0,$ so $y = -30.$ Then $x^2 - 2x - 48 = -30,$ or "
        r"$x^2 - 2x - 18 = 0.$ By the quadratic formula, $x = \boxed{1 \pm \sqrt{19}}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$3 \pm 2 \sqrt{2}$",
        r"This gives us $x^2 + 1 = 6x,$ or $x^2 - 6x + 1 = 0.$ By the quadratic formula, the "
        r"roots are $x = \boxed{3 \pm 2 \sqrt{2}}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\{1\pm\sqrt{5},-2\}$",
        r"The roots of $P(x)$ are $-2$ and $1 \pm \sqrt{5}$, so the answer is "
        r"$\boxed{\{1\pm\sqrt{5},-2\}}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$f(2) < f(1) < f(4)$",
        "The graph of $f(x) = x^2 + bx + c$ is an upward-facing parabola, [...]\n\n"
        "Hence, $\\boxed{f(2) < f(1) < f(4)}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$2 \sin b \cos a$",
        "By sum-to-product,\n\\[\\sin (a + b) - \\sin (a - b) = \\boxed{2 \\sin b \\cos a}.\\]",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\frac{\pi r}{h+r}$",
        r"Since $rs = A$, [...] Thus we have $s = x+y+z = (z+x)+y = h+r$. The answer is "
        r"$\boxed{\frac{\pi r}{h+r}}$.'], Pred: ['Since $rs = A$, [...] Thus we have "
        r"$s = x+y+z = (z+x)+y = h+r$. The answer is $\boxed{\frac{\pi r}{h+r}}$.",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        "$125$ miles",
        r"The distance is $\boxed{125\textnormal{ miles}}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$[-1, -\frac{1}{2}) \cup (-\frac{1}{2}, 0) \cup (0, 1) \cup (1, \infty)$",
        r"The solution set is $\boxed{[-1, -\tfrac12) \cup (-\tfrac12, 0) \cup (0, 1) \cup (1, \infty)}.$",
        1,
        None,
    ),
    (
        "test_latex_notation_math",
        r"$\sqrt{2}+\sqrt{5}$",
        r"The answer is $\boxed{\sqrt 2+\sqrt 5}$",
        1,
        None,
    ),
    ("test_latex_notation_math", r"$\frac{9}{4}\pi$", r"Therefore $\boxed{\frac94\pi}$.", 1, None),
    (
        "test_latex_notation_math",
        r"x \in \boxed{\{-1\} \cup [0,7)}.$",
        r"x \in \boxed{\{-1\} \cup [0,7)}.$",
        1,
        None,
    ),
    # --- test_relations_math ---
    ("test_relations_math", "$x >= 5$", r"Therefore $x \geq 5$ is the solution.", 1, "prose"),
    ("test_relations_math", "$x < 3$", r"We find that $x \lt 3$.", 1, "prose"),
    ("test_relations_math", r"$x \leq 2$", "Thus $x <= 2$ is our answer.", 1, "prose"),
    ("test_relations_math", "$x > 5$", r"Therefore $x \gt 5$ is the solution.", 1, "prose"),
    ("test_relations_math", "$x != 3$", r"We find that $x \neq 3$.", 1, "prose"),
    ("test_relations_math", "$x > 5$", "Therefore $x < 5$ is the solution.", 0, None),
    ("test_relations_math", r"$x \geq 5$", r"The solution is $x \leq 5$", 0, None),
    ("test_relations_math", r"$x \neq 5$", "The solution is $x != 5$", 1, "prose"),
    ("test_relations_math", r"$x \leq 5$", r"$5 \geq x$", 1, None),
    ("test_relations_math", r"$x \geq 5$", r"$5 \leq x$", 1, None),
    ("test_relations_math", "$x = 11$", "$x = 5+5+1 = 7 =11$", 1, None),
    ("test_relations_math", "$7 = 11a+c$", "$11a+c$", 0, None),
    ("test_relations_math", "$x = 11$", "$x = 5+5+1 = 7 =11$", 1, None),
    ("test_relations_math", "$x = 1/3$", r"$x = 5+5+1 = 1/3 \approx 11$", 1, None),
    ("test_relations_math", "$11$", "$x=11$", 1, None),
    ("test_relations_math", "$11$", r"$x\approx11$", 1, None),
    ("test_relations_math", "$1/3$", r"$x=1/3\approx1.3$", 1, None),
    ("test_relations_math", "$x < 1$", "$-x > -1$", 1, None),
    ("test_relations_math", "$x < 1$", "$x > -1$", 0, None),
    ("test_relations_math", "$x <= 1$", "$-x >= -1$", 1, None),
    ("test_relations_math", "$a +3z = 0$", "$0$", 0, None),
    ("test_relations_math", r"$1 = \zzz = x = 0$", "$0$", 1, None),
    ("test_relations_math", "$2x + z = 1$", "$1$", 0, None),
    ("test_relations_math", "$a^2 + b = 0$", "$0$", 0, None),
    ("test_relations_math", "$k=1$", "$1$", 1, None),
    ("test_relations_math", "$1$", "$k=1$", 1, None),
    ("test_relations_math", "$z = 1 + 1 = 2$", "$z = 3+3 = 2$", 1, None),
    ("test_relations_math", "$z = 1 + 1 = 2$", "$z = 3+3 = 2$", 1, None),
    ("test_relations_math", "$2x+4y-3=0$", r"$y=-\frac{1}{2}x+\frac{3}{4}$", 1, None),
    ("test_relations_math", "$x^2/4 + y^2/3 = 1$", "$x^2/16 + y^2/12 = 1/4$", 1, None),
    # --- test_matrix_extraction ---
    (
        "test_matrix_extraction",
        "$189$",
        "9=189.\n\nTherefore, answer is 189.\n\n[...]\n\n**Final Answer**\n\\boxed{189}\n</think>\n\n"
        "To find the area of the trapezoid, [...]\n\\[\n\\text{Area} = \\frac{1}{2} |378 - 0| = "
        "\\frac{1}{2} \\times 378 = 189\n\\]\n\nThus, the area of the trapezoid is \\(\\boxed{189}\\) "
        "square centimeters.",
        1,
        None,
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
        r"The identity matrix is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix}$",
        r"Here is a zero matrix: $ \begin{pmatrix}0 & 0 \\0 & 0\end{pmatrix} $",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}$",
        r"Special matrix: $ \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] $",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix}$",
        r"Matrix with fractions: $ \begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix} $",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}6 & 8 \\ 10 & 12\end{pmatrix}$",
        r"The sum is $\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix} + \begin{pmatrix}5 & 6 \\ 7 & 8\end{pmatrix}$",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
        r"When multiplying by identity: $\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
        1,
        "prose",
    ),
    (
        "test_matrix_extraction",
        r"$\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}$",
        r"The matrix is $\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}$",
        0,
        None,
    ),
    # --- test_complex_math_expressions (a precision argument per row: 6 unless noted) ---
    ("test_complex_math_expressions", r"$\frac{1}{12}$", "$0.0833333333333333$", 1, None),
    ("test_complex_math_expressions", r"$(1,\frac{9}{2})$", "$(1,4.5)$", 1, None),
    ("test_complex_math_expressions", r"$\frac{x+2}{7}$", r"$\frac{x}{7}+\frac{2}{7}$", 1, None),
    ("test_complex_math_expressions", r"$\tan^2(y)+1$", r"$\sec^2(y)$", 1, None),
    (
        "test_complex_math_expressions",
        "$\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix}$",
        "$\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix}$",
        1,
        None,
    ),
    (
        "test_complex_math_expressions",
        r"$\begin{pmatrix}\frac{1}{3\sqrt[3]{x}^2}&0&0\\0&1&0\\-\sin(x)&0&0\\\end{pmatrix}$",
        r"$\begin{pmatrix}\frac{1}{3x^{2/3}}&0&0\\0&1&0\\-\sin(x)&0&0\end{pmatrix}$",
        1,
        None,
    ),
    ("test_complex_math_expressions", "$34x+45y-20z+100=0$", "$-34x-45y+20z-100=0$", 1, None),
    (
        "test_complex_math_expressions",  # precision 2
        r"$(\begin{pmatrix}\frac{1}{3}\\ \frac{1}{5} \end{pmatrix})$",
        r"$\begin{pmatrix}0.33\\0.2 \end{pmatrix}$",
        1,
        "rounded",
    ),
    (
        "test_complex_math_expressions",
        r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}$",
        r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}$",
        1,
        None,
    ),
    ("test_complex_math_expressions", "$(a+5)(b+2)$", "$(+5)(b+2)$", 0, None),
    ("test_complex_math_expressions", "$2$", r"$\frac{1+\sqrt{5}}{2}$", 0, None),
    ("test_complex_math_expressions", "$4$", r"$\frac{34}{16}+\frac{\sqrt{1358}}{16}$", 0, None),
    ("test_complex_math_expressions", r"$1\sqrt{19}$", "$1$", 0, None),
    (
        "test_complex_math_expressions",
        r"$(\frac{3}{5},\frac{8}{3}]$",
        "$(0.6,2.6667]$",
        1,
        "rounded",
    ),  # precision 2
    ("test_complex_math_expressions", "$x+2n+1$", "$x+1$", 0, None),
    # --- test_math_extraction_edge_cases (match_types=["latex", "expr"]) ---
    (
        "test_math_extraction_edge_cases",
        "$2/3$",
        r"and then Alice wins the game from that point on. [...] P(A) = (1/2) * (4/3) P(A) = 2/3 "
        r"Therefore, the probability that Alice wins the game is 2/3. <|im_start|>user",
        1,
        "prose",
    ),
    (
        "test_math_extraction_edge_cases",
        "$12$",
        r"Let's denote the common difference of the arithmetic sequence as $d$. [...] Therefore, "
        r"there are 12 distinct arithmetic sequences that meet the three given conditions. I hope "
        r"it is correct. <|im_start|>user",
        1,
        "prose",
    ),
    (
        "test_math_extraction_edge_cases",
        "$(7,6)$",
        r"First, let's simplify the second equation [...] So, the ordered pair $(x, y)$ that solves "
        r"the system is $(7, 6)$. <|im_start|>user",
        1,
        "prose",
    ),
    (
        "test_math_extraction_edge_cases",
        "$[0,1)$",
        r"For the function $q(x)$ to be defined, [...] Combining these conditions, we find that the "
        r"domain of $q(x)$ is the interval $(0, 1)$, since $x$ must be greater than or equal to 0 "
        r"and less than 1, but not equal to 1. Final Answer: The final answer is $(0, 1)$. I hope "
        r"it is correct. <|im_start|>user",
        0,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        "$[-3,2]$",
        r"To find the domain of the function $\sqrt{6-x-x^2}$, [...] Therefore, the domain of the "
        r"function $\sqrt{6-x-x^2}$ is the interval between the roots, which is $\boxed{[-3, 2]}$. "
        r"Final Answer: The final answer is $[-3, 2]$. I hope it is correct. I apologize for the "
        r"mistake in the previous solution. Let me correct it. [...] Therefore, the domain of the "
        r"function $\sqrt{6-x-x^2}$ is the interval outside the roots, which is "
        r"$\boxed{(-\infty, -3] \cup [2, \infty)}$. Final Answer: The final answer is "
        r"$(-\infty, -3] \cup [2, \infty)$. I hope it is correct. <|im_start|>user",
        0,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        "$16386.20$",
        r"To find the value of her investment after 5 years, [...] \[A \approx 16386.20\] Rounded "
        r"to the nearest cent, Paula's investment is worth $\boxed{\$16,\!386.20}$ at the end of "
        r"the 5-year period. The answer is $16,\!386.20$. I apologize for the repetition in my "
        r"previous responses. Here is the correct solution: To find the value of her investment "
        r"after 5 years, [...] In this",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        "$120$",
        r"We can find the volume of pyramid $ABCH$ [...] Therefore, the volume of rectangular prism "
        r"$ABCDEFGH$ is $5 \times 6 \times 4 = 120$. Final Answer: The volume of $ABCDEFGH$ is 120. "
        r"I hope it is correct.",
        1,
        "prose",
    ),
    (
        "test_math_extraction_edge_cases",
        "12000023",
        r"To find the integers congruent to 3 (mod 7), [...] $85 + (-67) + 12,\!000,\!003 + (-3) = "
        r"12,\!000,\!023$. Final Answer: The final answer is 12,000,023. I hope it is correct. "
        r"<|im_start|>user",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        "$14916$",
        r"For a number to be divisible by 12, [...] Therefore, the smallest possible value for $N$ "
        r"is $14{,}922$. Final Answer: The smallest possible value of $N$ is $\boxed{14{,}916}$. "
        r"I hope it is correct. <|im_start|>user",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        r"$\\left(\\frac{1}{5},\\frac{1}{6}\\right)$",
        r"We can find the projection of $\mathbf{a}$ onto $P$ [...] Thus, $(p,q) = "
        r"\boxed{\left( \frac{1}{5}, \frac{1}{6} \right)}.$ Final Answer: The final answer is "
        r"$\left( \frac{1}{5}, \frac{1}{6} \right)$. I hope it is correct. <|im_start|>user",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        r"$\\left(\\frac{4}{5},\\frac{1}{5}\\right)$",
        r"Since $AP:PB = 1:4,$ we can write [...] Thus, $(t,u) = \boxed{\left( \frac{4}{5}, "
        r"\frac{1}{5} \right)}.$ Final Answer: The final answer is $\left( \frac{4}{5}, \frac{1}{5} "
        r"\right)$. I hope it is correct. <|im_start|>user",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        r"$\frac{5\sqrt{42}}{27}$",
        r"We can start by simplifying each square root individually: [...] \begin{align*} "
        r"\frac{28\sqrt{1050}}{756} &= \frac{28 \cdot 10\sqrt{10.5}}{756} \\ &= "
        r"\frac{280\sqrt{10.5}}{756} \\ &= \frac{10\sqrt{10.5}}{27}. \end{align*} Final Answer: "
        r"The final answer is $\frac{10\sqrt{10.5}}{27}$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        "$16386.17$",
        r"When interest is compounded quarterly, [...] \[A \approx 10000(1.025)^{20} \approx "
        r"16386.169.\] Rounded to the nearest cent, Paula's investment is worth "
        r"$\boxed{\$16386.17}$ after 5 years. I hope it is correct. <|im_start|>user",
        1,
        None,
    ),
    (
        "test_math_extraction_edge_cases",
        r"Let the percentage of people in Mathopolis who are children be $x$. [...] Solving for "
        r"$x$ yields $x=1/5$, or $\boxed{20}$ percent.",
        r"Let's denote the total number of adults in Mathopolis as $A$. [...] Therefore, the "
        r"percentage of people in Mathopolis who are children is $$\frac{\frac{A }{4 }}{A+\frac{A "
        r"}{4 }}=\frac{1 }{5 }=\boxed{20 \%}. $$ Final Answer: The final answer is $20 \%$. I hope "
        r"it is correct. Note: The solution provided assumes that the total number of people in "
        r"Mathopolis is the sum of adults and children, [...] If the problem were to be "
        r"interpreted in a different way, the solution might need to be adjusted accordingly. "
        r"Note: The solution provided assumes that the total number of people in Mathopolis is the "
        r"sum of adults and children, which is a reasonable assumption given the context",
        1,
        None,
    ),
    # --- test_math_extraction_additional_cases ---
    (
        "test_math_extraction_additional_cases",
        "$less than or equal to zero between its roots. Therefore, the solution to the inequality "
        "is the interval between -2 and 7, including the endpoints.\n\nThus, the solution in "
        "interval notation is:\n\n\\[ \\boxed{[-2, 7]} \\]$",
        r"$x \in [-2,7]$",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$3$",
        r"Let $t$ be the number of hours since Jane started growing Rod, [...] Final Answer: Jane "
        r"started growing Sphere 3 hours ago. I hope it is correct. <|im_start|>user",
        1,
        "prose",
    ),
    (
        "test_math_extraction_additional_cases",
        "$19$",
        r"To find the maximum number of points in the domain of $f(x)$, [...] So, the total number "
        r"of points in the domain is $1 + 2 \times 9 = 1 + 18 = 19$ points. Final Answer: The "
        r"maximum number of points that could be in the domain of $f(x)$ is 19. <|im_start|>user",
        1,
        "prose",
    ),
    (
        "test_math_extraction_additional_cases",
        r"$(\tfrac{27}{8},\tfrac{15}{8})$",
        r"Let the line through $A$ intersect $\overline{CD}$ at point $E$. [...] Therefore, the "
        r"point where the line intersects $\overline{CD}$ is $\boxed{(0, 0)}$. Final Answer: The "
        r"final answer is $(0, 0)$. I hope it is correct. <|im_start|>user",
        0,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$34$",
        "Final Answer: The largest $n$ is 34.",
        1,
        "prose",
    ),
    (
        "test_math_extraction_additional_cases",
        r"$\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)$",
        r"Since $AP:PB = 1:4,$ we can write [...] Thus, $(t,u) = \boxed{\left( \frac{4}{3}, "
        r"-\frac{1}{3} \right)}.$",
        1,
        None,
    ),
    ("test_math_extraction_additional_cases", "$(3,1)$", "${1,3}$", 0, None),
    ("test_math_extraction_additional_cases", "$(1,3)$", "${1,3}$", 1, "tuple_vs_set"),
    (
        "test_math_extraction_additional_cases",
        "$100%$",
        r"Let the original error in the measurement of the particle's momentum be $\Delta p$ [...] "
        r"Therefore, the minimum error in the measurement of the position increases by 100%.",
        1,
        "prose",
    ),
    (
        "test_math_extraction_additional_cases",
        "$16386.16$",
        r"The formula for compound interest is [...] \[ A \approx 16386.16 \] So, Paula's "
        r"investment is worth approximately $\boxed{16386.16}$ dollars at the end of the 5 years. "
        r"Final Answer: The final answer is 16386.16.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$5866608$",
        r"To find the sum of all possible distinct five-digit positive integers [...] So, the sum "
        r"of the integers on Camy's list is $\boxed{5866608}$. Final Answer: The final answer is "
        r"5866608. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$14400$",
        r"Since all members of each party sit together, [...] So, the total number of "
        r"distinguishable ways is $1 \times 5! \times 5! = 120 \times 120 = \boxed{14400}$. Final "
        r"Answer: The final answer is 14400. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$14916$",
        r"To be divisible by 12, the number must be divisible by both 3 and 4. [...] Thus, the "
        r"smallest possible value of $N$ is $14{,}940$. Final Answer: The final answer is "
        r"$14{,}916$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r"$20\%$",
        r"Let $A$ be the set of adults in Mathopolis. [...] $$\frac{|C|}{|A| + |C|} \times 100\% = "
        r"\frac{x/2}{5x/2} \times 100\% = \frac{1}{5} \times 100\% = \boxed{20\%}$$ Final Answer: "
        r"The final answer is $20\%$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$7.78$",
        r"To find the cost of the fudge, [...] $\frac{70}{9} \approx 7.78$ So, Anna pays "
        r"approximately $7.78 for her fudge. Final Answer: The final answer is 7.78.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$100$",
        r"Let $p$ be the momentum of the particle and $x$ be its position. [...] Thus, the new "
        r"error in the measurement of the position is at least $100\%$ of the original error in "
        r"the measurement of the position. Final Answer: The final answer is $100$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$x-2y+z-1=0$",
        r"The line $L$ is the intersection of the two planes, [...] The equation of the plane "
        r"containing $L$ and the point $(1,1,1)$ is then $$-1(x-1)+2(y-1)+1(z-1)=0\Rightarrow"
        r"\boxed{x-2y+z-1=0}.$$ Final Answer: The final answer is $x-2y+z-1=0$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$10455$",
        r"First, let's calculate the interest earned on the first CD after six months. [...] "
        r"$0.04 \cdot 10,000 \cdot \frac{1}{2} = \boxed{200}$ So, after six months, Dr. Zaius has "
        r"$10,000 + $200 = $10,200. [...] $0.05 \cdot 10,200 \cdot \frac{1}{2} = \boxed{255}$ So, "
        r"after six months in the second CD, Dr. Zaius has $10,200 + $255 = $10,455. Final Answer: "
        r"The final answer is $10,455$. I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$[-4,0]$",
        r"Thus, the values of \( k \) for which the quadratic has real roots are: \[ \boxed{[-4, 0]} \]",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r"Factoring the denominator on the left side gives [...] Therefore, $(A, B) = \boxed{(-6, 10)}.$",
        r"The solution to the inequality is \( x \in (-6, 10) \). Final Answer: The final answer is "
        r"\((-6, 10)\). I hope it is correct.",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        "$1112112_3$",
        r"To find the product \( ab \) where \( a = 2012_3 \) and \( b = 201_3 \), [...] Reading "
        r"the remainders from last to first, we find: \[ 1121_{10} = 1112122_3 \] Thus, the "
        r"product \( ab \) expressed in the base-three number system is \(\boxed{1112122_3}\).",
        0,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r"\(\boxed{\text{C}}\).",
        r"$\boxed{\text{(C)}}.$",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r" So the answer is: \[ \boxed{11111111100} \]",
        r"is $\boxed{11,\! 111,\! 111,\! 100}$",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r" So the answer is: \[ \boxed{32349} \]",
        r"is $\boxed{32,\! 349}$",
        1,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r" So the answer is: \[ \boxed{32349} \]",
        r"is $\boxed{32, 349}$",
        0,
        None,
    ),
    (
        "test_math_extraction_additional_cases",
        r"Thus, the domain of the function \( f(x) \) is: \[ \boxed{(2, 12) \cup (12, 102)} \]",
        r"Thus, the answer is $x \in \boxed{(2,12) \cup (12,102)}$",
        1,
        None,
    ),
    ("test_math_extraction_additional_cases", r"$\text{E}$", "$E$", 1, None),
    ("test_math_extraction_additional_cases", r"$\boxed{1}\boxed{2}$", r"$\boxed{1,2}$", 1, None),
    (
        "test_math_extraction_additional_cases",
        r"Setting $x = y = 0,$ we get \[2f(0) = f(0) - 1,\]so $f(0) = -1.$ [...] We want to solve "
        r"$f(n) = n,$ or \[\frac{n^2 + 3n - 2}{2} = n.\]Then $n^2 + 3n - 2 = 2n,$ or $n^2 + n - 2 = "
        r"0.$ This factors as $(n - 1)(n + 2) = 0,$ so the solutions are $n = \boxed{1,-2}.$",
        r"<think> Okay, so I have this functional equation to solve: [...] Wait, so I think I can "
        r"be confident the solutions are 1 and -2. **Final Answer** The integers are \boxed{-2} "
        r"and \boxed{1}. </think> Given the functional equation: [...] Thus, the integers \( n \) "
        r"such that \( f(n) = n \) are: \[ \boxed{-2} \quad \text{and} \quad \boxed{1}. \]",
        1,
        None,
    ),
    # --- test_set_rel_assymetry (allow_set_relation_comp in the 4th column of the source) ---
    ("test_set_rel_assymetry", r"$-2 \\le x \\le 7$", r"$x \in [-2,7]$", 1, None),  # True
    ("test_set_rel_assymetry", r"$-2 \\le x \\le 7$", r"$x \in [-2,7]$", 1, None),  # False
    ("test_set_rel_assymetry", r"$x \in [-2,7]$", r"$-2 \\le x \\le 7$", 1, None),  # True
    ("test_set_rel_assymetry", r"$x \in [-2,7]$", r"$-2 \\le x \\le 7$", 0, "symmetric"),  # False
    # --- test_float_precision (precision=5; gold is f"{math.sqrt(17):.15f}") ---
    ("test_float_precision", "4.123105625617661", r"$\sqrt{17}$", 1, None),
    # --- test_sqrt_precision ---
    ("test_sqrt_precision", "$4$", r"$4\sqrt{2}$", 0, None),
    # --- test_symbols (the source writes "$\text{13}$" in a plain string: a TAB + "ext{13}") ---
    ("test_symbols", "$\text{13}$", "$13$", 0, None),
    # --- test_trailing_punctuation ---
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"$\frac{1}{3}.$", 1, None),
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"The answer is $\frac{1}{3}.$", 1, None),
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"$$\frac{1}{3}.$$", 1, None),
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"\[\frac{1}{3}.\]", 1, None),
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"$\frac{1}{3},$", 1, None),
    ("test_trailing_punctuation", r"$\frac{1}{3}$", r"$\frac{1}{3} .$", 1, None),
    ("test_trailing_punctuation", r"$\sqrt{2}$", r"$\sqrt{2}.$", 1, None),
    ("test_trailing_punctuation", "$(1,2)$", "$(1,2).$", 1, None),
    ("test_trailing_punctuation", "$5$", r"$5 \text{ cm}.$", 1, None),
    ("test_trailing_punctuation", "$42$", "$42.$", 1, None),
    ("test_trailing_punctuation", "$2$", "$2^{10}.$", 0, None),
    ("test_trailing_punctuation", "$1$", "The answer is $1/3.$", 0, None),
    ("test_trailing_punctuation", "$1, 2, 3$", "$1, 2, 3, ...$", 0, None),
]

"""Closed-answer detection and the per-row stopping criterion (docs/method.md#decoding)."""

from __future__ import annotations

import pytest
import torch

from mathft.sampling.engine import SamplingParams, answer_end, truncate_at_stop
from mathft.sampling.hf import AnswerStop


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("so $\\boxed{5}$.", len("so $\\boxed{5}")),
        ("x = \\boxed{\\frac{1}{2}} done", len("x = \\boxed{\\frac{1}{2}}")),
        ("\\boxed{\\{1,2\\}}!", len("\\boxed{\\{1,2\\}}")),  # escaped braces skipped
        ("\\boxed{\\{1,2}!", len("\\boxed{\\{1,2}")),
        ("\\fbox{a{b{c}}}zz", len("\\fbox{a{b{c}}}")),
        ("\\boxed {7}", len("\\boxed {7}")),
        ("Step 1.\n\n# Answer\n\n42\n", len("Step 1.\n\n# Answer\n\n42\n")),
        ("# Answer\n\n\\frac{1}{2}\nmore", len("# Answer\n\n\\frac{1}{2}\n")),
        ("\\boxed{1} then # Answer\n\n2\n", len("\\boxed{1}")),
        ("# Answer\n\n3\n then \\boxed{4}", len("# Answer\n\n3\n")),
    ],
)
def test_answer_end_closed(text: str, end: int) -> None:
    assert answer_end(text) == end


@pytest.mark.parametrize(
    "text",
    [
        "so \\boxed{\\frac{1}{2}",  # unbalanced: still open
        "\\boxed{",
        "\\boxed{}",  # empty box is no answer (as the grader)
        "\\boxed{\\}",
        "# Answer\n\n42",  # line not finished
        "# Answer\n\n",
        "# Answer\n\n\n",  # blank answer line is not an answer
        "the box {5} is not boxed",
        "",
    ],
)
def test_answer_end_open(text: str) -> None:
    assert answer_end(text) is None


def test_truncate_at_stop_strings_and_flag() -> None:
    p = SamplingParams(stop=("\n\nProblem:",))
    assert truncate_at_stop("a \\boxed{1}. b", p) == ("a \\boxed{1}", True)
    assert truncate_at_stop("x\n\nProblem: y \\boxed{2}", p) == ("x", True)
    assert truncate_at_stop("open \\boxed{1", p) == ("open \\boxed{1", False)
    off = SamplingParams(stop_on_answer=False)
    assert truncate_at_stop("a \\boxed{1}. b", off) == ("a \\boxed{1}. b", False)


def test_answer_stop_fires_per_row_at_the_closing_token(tok, engine) -> None:
    """Fed token by token, a row stops exactly when its boxed answer closes; others go on."""
    prompt = tok("Problem: p\n\nSolution:", add_special_tokens=False)["input_ids"]
    rows = [
        tok(" so \\boxed{x^{2}} and more words here", add_special_tokens=False)["input_ids"],
        tok(" no answer yet, keep going on and on", add_special_tokens=False)["input_ids"],
    ]
    n = min(len(r) for r in rows)
    stop = AnswerStop(tok, len(prompt), SamplingParams(), engine.closers())
    fired_at = None
    for t in range(1, n + 1):
        ids = torch.tensor([prompt + r[:t] for r in rows])
        out = stop(ids, None)
        assert not out[1]
        if out[0] and fired_at is None:
            fired_at = t
    assert fired_at is not None
    assert "\\boxed{x^{2}}" in tok.decode(rows[0][:fired_at])
    assert "\\boxed{x^{2}}" not in tok.decode(rows[0][: fired_at - 1])

"""Prompt templates (docs/method.md#ssft SSFT prompt, docs/method.md#evaluator-template evaluator template).

Templates are plain ``str.format`` strings taken from config; these are the defaults.
"""

from __future__ import annotations

SSFT_PROMPT = "Problem:\n{problem}\n\nSolution:"
"""Default SSFT prompt (docs/method.md#ssft, a choice): the target solution follows after a space."""

EVALUATOR_PROMPT = (
    "Here is a math problem: {problem}\n"
    "Here is a candidate solution: {solution}\n"
    "The above candidate solution is"
)
"""Evaluator template (docs/method.md#evaluator-template); the label word `` correct``/`` incorrect`` follows."""

LABEL_WORDS = (" correct", " incorrect")
"""Label words of the generative evaluator, positive first (docs/method.md#evaluator-template)."""


def format_prompt(problem: str, template: str = SSFT_PROMPT) -> str:
    """Render the generator prompt for one problem."""
    return template.format(problem=problem)


def format_evaluator_prompt(problem: str, solution: str, template: str = EVALUATOR_PROMPT) -> str:
    """Render the evaluator prompt T(P, X) whose next token is the label word (Eq. 7)."""
    return template.format(problem=problem, solution=solution)

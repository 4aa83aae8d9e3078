"""Answer grading (docs/grading.md): extraction, normalization, equivalence, clustering."""

from mathft.grading.cluster import cluster_answers
from mathft.grading.equivalence import is_equiv
from mathft.grading.extract import extract_answer
from mathft.grading.normalize import normalize_answer

__all__ = ["extract_answer", "is_equiv", "cluster_answers", "grade", "normalize_answer"]


def grade(text: str, gold: str | None) -> tuple[str | None, bool]:
    """Extract the final answer of ``text`` and compare it with ``gold``."""
    pred = extract_answer(text)
    return pred, is_equiv(pred, gold)

"""Data layer: source readers, the paper's splits, PRM800K conversion, mixtures, templates.

Public API (docs/data.md)::

    read_math, read_math500, read_gsm8k, read_prm800k_raw, read_prm800k_stepwise
    math_split, gsm8k_split, normalize_problem_text, assert_no_test_overlap
    prm800k_examples, build_ssft_examples, load_eval_problems, DataError
"""

from mathft.data.errors import DataError
from mathft.data.mixtures import MIXTURES, build_ssft_examples, load_eval_problems
from mathft.data.prm800k import prm800k_examples
from mathft.data.sources import (
    read_gsm8k,
    read_math,
    read_math500,
    read_prm800k_raw,
    read_prm800k_stepwise,
)
from mathft.data.splits import (
    TestOverlapError,
    assert_no_test_overlap,
    gsm8k_split,
    math_split,
    normalize_problem_text,
)

__all__ = [
    "MIXTURES", "DataError", "TestOverlapError", "assert_no_test_overlap", "build_ssft_examples",
    "gsm8k_split", "load_eval_problems", "math_split", "normalize_problem_text",
    "prm800k_examples", "read_gsm8k", "read_math", "read_math500", "read_prm800k_raw",
    "read_prm800k_stepwise",
]

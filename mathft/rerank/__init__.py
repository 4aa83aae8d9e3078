"""Re-ranking strategies, metrics, bootstrap CIs and validation-based K/N selection (docs/method.md#re-ranking).

Quick use::

    from mathft.rerank import build_problem_candidates, evaluate_strategy
    problems = build_problem_candidates(candidates, scores)   # clusters via mathft.grading
    res = evaluate_strategy(problems, "rr_topk", k=8)          # RR.Top-8 (SCR)
    res.accuracy, res.cost_ratio, res.ci()
"""

from mathft.rerank.bootstrap import CI, PairedCI, bootstrap_ci, paired_bootstrap
from mathft.rerank.candidates import (
    ProblemCandidates,
    build_problem_candidates,
    canonical_cluster_ids,
    greedy_correct,
)
from mathft.rerank.metrics import (
    MetricResult,
    evaluate_many,
    evaluate_strategy,
    maj1_at_n,
    majk_at_n,
    pass_at_1,
    pass_at_k,
    pass_at_k_metric,
    subset_indices,
)
from mathft.rerank.selection import SelectionReport, choose_value, select_on_validation
from mathft.rerank.strategies import (
    REGISTRY,
    Selection,
    Strategy,
    cost_ratio,
    is_correct,
    maj1,
    maj1_topn,
    majk,
    make_strategy,
    pass_at_n,
    rr_all,
    rr_topk,
    wrr,
    wrr_topk,
)

__all__ = [
    "CI",
    "REGISTRY",
    "MetricResult",
    "PairedCI",
    "ProblemCandidates",
    "Selection",
    "SelectionReport",
    "Strategy",
    "bootstrap_ci",
    "build_problem_candidates",
    "canonical_cluster_ids",
    "choose_value",
    "cost_ratio",
    "evaluate_many",
    "evaluate_strategy",
    "greedy_correct",
    "is_correct",
    "maj1",
    "maj1_at_n",
    "maj1_topn",
    "majk",
    "majk_at_n",
    "make_strategy",
    "paired_bootstrap",
    "pass_at_1",
    "pass_at_k",
    "pass_at_k_metric",
    "pass_at_n",
    "rr_all",
    "rr_topk",
    "select_on_validation",
    "subset_indices",
    "wrr",
    "wrr_topk",
]

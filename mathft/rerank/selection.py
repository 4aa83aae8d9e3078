"""Choose the K of Top-K strategies (and the N of Maj1.TopN) on the validation split.

The paper tuned these on its test set; docs/method.md#choosing-k-and-n-on-validation requires choosing them on the validation
problems only, then applying the chosen value to the test problems. The full test-set
sweep is returned beside it for reporting (e.g. Figure 1) and is never used to choose.

Rule: highest validation accuracy; ties (within ``atol``) go to the lower evaluator cost
ratio, then to the smaller value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mathft.rerank.bootstrap import CI
from mathft.rerank.candidates import ProblemCandidates
from mathft.rerank.metrics import MetricResult, evaluate_many
from mathft.rerank.strategies import Strategy, make_strategy

DEFAULT_PARAM = {"rr_topk": "k", "wrr_topk": "k", "majk": "k", "maj1_topn": "n"}


@dataclass(frozen=True)
class SelectionReport:
    """Outcome of :func:`select_on_validation`.

    ``validation`` / ``test_sweep``: one row per grid value (``value``, ``accuracy``,
    ``accuracy_lo``, ``accuracy_hi``, ``cost_ratio``, ...). ``test`` is the chosen
    strategy's per-problem result on the test problems and ``test_ci`` its bootstrap CI.
    """

    strategy: str
    param: str
    chosen: int
    validation: list[dict[str, Any]]
    test: MetricResult
    test_ci: CI
    test_sweep: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-problem vectors left out)."""
        return {
            "strategy": self.strategy,
            "param": self.param,
            "chosen": self.chosen,
            "label": self.test.name,
            "test_accuracy": self.test.accuracy,
            "test_accuracy_lo": self.test_ci.lo,
            "test_accuracy_hi": self.test_ci.hi,
            "test_cost_ratio": self.test.cost_ratio,
            "validation": self.validation,
            "test_sweep": self.test_sweep,
        }


def _sweep(
    problems: Sequence[ProblemCandidates],
    strat: Strategy,
    param: str,
    grid: Sequence[int],
    eval_kw: Mapping[str, Any],
    n_boot: int,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[int, MetricResult]]:
    strats = [strat.with_params(**{param: value}) for value in grid]
    res = evaluate_many(problems, strats, **eval_kw)
    rows = [{"value": v, **r.to_row(n_boot=n_boot, seed=seed)} for v, r in zip(grid, res)]
    return rows, dict(zip(grid, res))


def choose_value(rows: Sequence[Mapping[str, Any]], atol: float = 1e-12) -> int:
    """Best ``value`` by accuracy; ties -> lower cost ratio, then smaller value."""
    if not rows:
        raise ValueError("empty grid: nothing to choose from")
    best_acc = max(float(r["accuracy"]) for r in rows)
    tied = [r for r in rows if float(r["accuracy"]) >= best_acc - atol]
    return int(min(tied, key=lambda r: (float(r["cost_ratio"]), int(r["value"])))["value"])


def select_on_validation(
    val_problems: Sequence[ProblemCandidates],
    test_problems: Sequence[ProblemCandidates],
    strategy: str | Mapping[str, Any] | Strategy,
    grid: Sequence[int],
    param: str | None = None,
    n_sub: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
    n_boot: int = 1000,
) -> SelectionReport:
    """Pick ``param`` (default ``k``; ``n`` for Maj1.TopN) on validation, apply it to test.

    ``n_sub``/``n_subsets``/``seed`` are passed to :func:`evaluate_strategy` (N' < N);
    ``n_boot`` sizes the bootstrap CIs in the rows.
    """
    strat = make_strategy(strategy)
    param = param or DEFAULT_PARAM.get(strat.name)
    if param is None:
        raise ValueError(f"strategy {strat.name!r} has no tunable parameter; give param=")
    grid = sorted(set(int(g) for g in grid))
    if not val_problems:
        raise ValueError("no validation problems: K/N must be chosen on the validation split")
    eval_kw = {"n_sub": n_sub, "n_subsets": n_subsets, "seed": seed}
    val_rows, _ = _sweep(val_problems, strat, param, grid, eval_kw, n_boot, seed)
    chosen = choose_value(val_rows)
    # The test sweep is computed only after the choice is fixed; reported, never used to pick.
    test_rows, test_results = _sweep(test_problems, strat, param, grid, eval_kw, n_boot, seed)
    test = test_results[chosen]
    return SelectionReport(
        strategy=strat.name,
        param=param,
        chosen=chosen,
        validation=val_rows,
        test=test,
        test_ci=test.ci(n_boot=n_boot, seed=seed),
        test_sweep=test_rows,
    )

"""Evaluator cost of RR.Top-K vs RR.All (docs/method.md#evaluator-cost-ratio; paper §4.2: ~0.69 of RR.All's calls at
K=8 with N=64 on MATH, same accuracy).

RR.All scores all N candidates; RR.Top-K scores only the members of the K largest answer
clusters, so its cost ratio is (members of the top-K clusters) / N. Prints, per K, the cost
ratio and accuracy of RR.Top-K next to Maj1, RR.All and Pass@N on the same candidates.

Input: a real candidate store (``--store candidates.jsonl [--scores scores.jsonl]``; the
default picks the largest finished ``samples_test`` store under outputs/ if any), else a
synthetic MATH-like set (``--synthetic``): per problem a solve rate p ~ Beta(0.6, 0.8),
wrong answers drawn from a Zipf(``--zipf``) over 1..``--max-wrong`` distinct wrong values,
4% no-answer samples, evaluator scores S_cls ~ Beta(a, b) for correct and Beta(b, a) for
wrong samples with (a, b) = ``--score-beta``. The cost ratio depends only on how answers
spread over clusters (the Zipf tail); accuracies on the evaluator's separation. Without
scores (a store with no score store) only cost ratios are printed.

    .venv/bin/python benchmarks/rerank_cost.py --synthetic --problems 500 --n 64
    .venv/bin/python benchmarks/rerank_cost.py --synthetic --zipf 0.7 --max-wrong 64
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mathft.rerank.candidates import ProblemCandidates, build_problem_candidates
from mathft.rerank.metrics import evaluate_strategy

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n_problems: int, n: int, seed: int = 0, zipf_s: float = 1.3, max_wrong: int = 40,
              beta: tuple[float, float] = (3.0, 2.0)) -> list[ProblemCandidates]:
    """MATH-like candidates with answer clusters and correlated evaluator scores (doc above)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_problems):
        p = rng.beta(0.6, 0.8)
        n_wrong = int(rng.integers(1, max_wrong + 1))
        zipf = 1.0 / np.arange(1, n_wrong + 1) ** zipf_s
        zipf /= zipf.sum()
        answers: list[str | None] = []
        correct: list[bool] = []
        scores: list[float] = []
        for _ in range(n):
            u = rng.random()
            if u < 0.04:
                answers.append(None)
                correct.append(False)
                scores.append(float(rng.beta(1.5, 5)))
            elif u < 0.04 + 0.96 * p:
                answers.append("gold")
                correct.append(True)
                scores.append(float(rng.beta(*beta)))
            else:
                answers.append(f"w{int(rng.choice(n_wrong, p=zipf))}")
                correct.append(False)
                scores.append(float(rng.beta(beta[1], beta[0])))
        clusters = _exact_clusters(answers)
        out.append(ProblemCandidates.from_lists(answers, correct, clusters, scores, f"syn/{i}"))
    return out


def _exact_clusters(answers: Sequence[str | None]) -> list[int | None]:
    ids: dict[str, int] = {}
    return [None if a is None else ids.setdefault(a, len(ids)) for a in answers]


def find_store() -> Path | None:
    """The largest finished ``samples_test`` candidate store under outputs/ (None if none)."""
    found = [p for p in (ROOT / "outputs").glob("**/samples_test/*/candidates.jsonl")
             if (p.parent / "DONE.json").exists()]
    return max(found, key=lambda p: p.stat().st_size) if found else None


def load_store(store: Path, scores: Path | None) -> list[ProblemCandidates]:
    """Candidates (clustered with the project grader) and optional S_cls from a score store."""
    from mathft.sampling.store import CandidateStore, ScoreStore

    sc = ScoreStore(scores).load() if scores else None
    return build_problem_candidates(CandidateStore(store).load(), sc)


def report(problems: list[ProblemCandidates], ks: Sequence[int], source: str) -> None:
    n = min(pc.n for pc in problems)
    scored = all(pc.scores is not None for pc in problems)
    print(f"source: {source}; problems: {len(problems)}; N = {n}; "
          f"mean clusters/problem: {np.mean([pc.n_clusters for pc in problems]):.1f}")
    base = [("Pass@N", "pass_at_n", {}), ("Maj1", "maj1", {})]
    if scored:
        base.append(("RR.All", "rr_all", {}))
    print(f"{'strategy':<12} {'accuracy':>9} {'cost ratio':>11}")
    for label, name, kw in base:
        r = evaluate_strategy(problems, name, **kw)
        print(f"{label:<12} {r.accuracy:>9.3f} {r.cost_ratio:>11.3f}")
    for k in ks:
        r = evaluate_strategy(problems, "rr_topk", k=k) if scored else None
        cost = r.cost_ratio if r else float(np.mean(
            [sum(len(m) for m in pc.members[:k]) / pc.n for pc in problems]))
        acc = f"{r.accuracy:>9.3f}" if r else f"{'-':>9}"
        print(f"{'RR.Top-' + str(k):<12} {acc} {cost:>11.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, help="candidates.jsonl (default: search outputs/)")
    ap.add_argument("--scores", type=Path, help="scores.jsonl of an evaluator on --store")
    ap.add_argument("--synthetic", action="store_true", help="ignore stores; synthetic set")
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12, 16])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--zipf", type=float, default=1.3, help="synthetic: wrong-answer Zipf s")
    ap.add_argument("--max-wrong", type=int, default=40, help="synthetic: distinct wrong values")
    ap.add_argument("--score-beta", type=float, nargs=2, default=[3.0, 2.0],
                    help="synthetic: S_cls ~ Beta(a, b) if correct, Beta(b, a) if wrong")
    a = ap.parse_args()
    store = None if a.synthetic else (a.store or find_store())
    if store is None:
        problems = synthetic(a.problems, a.n, a.seed, a.zipf, a.max_wrong, tuple(a.score_beta))
        source = (f"synthetic (zipf {a.zipf}, <= {a.max_wrong} wrong values, "
                  f"S_cls Beta{tuple(a.score_beta)})")
    else:
        problems, source = load_store(store, a.scores), str(store)
    report(problems, a.k, source)


if __name__ == "__main__":
    main()

"""Sample problems into a candidate store, graded, resumably (docs/method.md#decoding, docs/design.md#stores).

Pending (problem, sample_idx) pairs are those not yet in the store; they are generated in
batches of ``params.batch_size`` rows (sorted by prompt length so a problem's samples
share a batch), graded against the gold answer, and appended after every batch: a killed
run loses at most one batch, and rerunning the same call completes the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from mathft.data.templates import format_prompt
from mathft.grading import grade
from mathft.records import Candidate, Problem
from mathft.sampling.engine import Request, SamplingEngine, SamplingParams, sample_seed
from mathft.sampling.store import CandidateStore

GradeFn = Callable[[str, "str | None"], "tuple[str | None, bool]"]


def default_grader() -> GradeFn:
    """``mathft.grading.grade``: (text, gold) -> (extracted answer, correct)."""
    return grade


def default_prompt(problem: Problem) -> str:
    """The SSFT prompt of docs/method.md#ssft."""
    return format_prompt(problem.problem)


@dataclass
class SampleStats:
    """What one :func:`sample_to_store` call did."""

    requested: int = 0
    skipped: int = 0
    generated: int = 0
    correct: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


def sample_to_store(
    engine: SamplingEngine,
    problems: Sequence[Problem],
    store: CandidateStore,
    params: SamplingParams,
    prompt_fn: Callable[[Problem], str] = default_prompt,
    model_id: str = "",
    config_hash: str | None = None,
    progress: bool = True,
    grade_fn: GradeFn | None = None,
    done: Collection[tuple[str, int]] = (),
    on_append: Callable[[int], None] | None = None,
) -> SampleStats:
    """Fill ``store`` with ``params.n`` graded samples per problem, skipping stored ones.

    ``config_hash`` defaults to the store's; it must match the store's meta sidecar.
    ``done``: keys stored elsewhere, skipped too (a worker's rows already in the step's
    store); ``on_append(rows)`` is called after each append (progress of a worker).
    """
    chash = config_hash if config_hash is not None else store.config_hash
    if chash is None or chash != store.config_hash:
        raise ValueError(
            f"config hash {chash} does not match store {store.path} "
            f"({store.config_hash}); open the store with this run's config hash"
        )
    ids = [p.uid for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError("problem uids must be unique")
    grade = grade_fn or default_grader()
    done = store.existing_keys() | set(done)
    stats = SampleStats(requested=len(problems) * params.n)
    todo: list[tuple[Problem, int, str]] = []
    for p in problems:
        prompt = prompt_fn(p)
        for j in range(params.n):
            if (p.uid, j) in done:
                stats.skipped += 1
            else:
                todo.append((p, j, prompt))
    todo.sort(key=lambda t: -len(t[2]))  # similar lengths together; stable keeps problem order
    sampling = params.to_dict()
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="sampling", unit="sample")
    t0 = time.perf_counter()
    reqs = [Request(pr, sample_seed(params.seed, p.uid, j)) for p, j, pr in todo]
    cands: list[Candidate] = []

    def flush() -> None:
        store.append(cands)
        stats.generated += len(cands)
        if bar is not None:
            bar.update(len(cands))
        if on_append is not None:
            on_append(len(cands))
        cands.clear()

    try:
        # the engine streams samples as they finish; rows are appended every batch_size
        for i, g in engine.stream(reqs, params):
            p, j, _ = todo[i]
            ans, ok = grade(g.text, p.answer)
            cands.append(
                Candidate(
                    problem_id=p.uid,
                    sample_idx=j,
                    text=g.text,
                    answer=ans,
                    correct=bool(ok),
                    model_id=model_id,
                    sampling=sampling,
                    config_hash=chash,
                    n_tokens=g.n_tokens,
                )
            )
            stats.correct += bool(ok)
            stats.new_tokens += g.n_tokens
            if len(cands) >= params.batch_size:
                flush()
        if cands:
            flush()
    finally:
        stats.seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return stats

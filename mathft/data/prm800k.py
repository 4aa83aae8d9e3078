"""PRM800K -> SSFT examples in "PRM800K style" (docs/data.md#prm800k-conversion).

One solution per problem, kept only when the labeled trajectory finished with a final
answer (``finish_reason == "solution"``), every chosen step is rated >= ``min_rating``
(a config option, default 0; human-written steps carry no rating and pass), and its final
answer is equivalent to the ground truth (:func:`mathft.grading.is_equiv`). The trajectory
follows ``chosen_completion`` at each step, or ``human_completion`` where the labeler wrote
one. Steps are joined by newlines; the last one ends with ``# Answer\\n\\n<answer>``.
MATH500 problems are removed (by normalized text) after the quality filters. The ground
truth and ``uid`` come from MATH (matched by normalized problem text), so a PRM800K
example shares its uid with the MATH example of the same problem; ``source`` tells them
apart. Problems outside MATH get ``prm800k/<sha1 of the text>``.

Two inputs: the official raw jsonl (one record per labeled trajectory) and the derived
stepwise parquet (one row per rated candidate step). In the parquet the chosen trajectory
is the chain of ``is_preferred_response`` rows (human rows included) and a finished one
ends with an ``is_solution`` row whose ``# Answer`` part was moved to the ``answer`` column;
a problem labeled more than once appears as several consecutive row blocks, each starting
again at an empty ``responses`` prefix.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mathft.data.errors import DataError
from mathft.data.sources import StepRow, read_math, read_prm800k_raw, read_prm800k_stepwise
from mathft.data.splits import math500_keys, normalize_problem_text
from mathft.grading import is_equiv
from mathft.records import Problem, SolutionExample

__all__ = [
    "ConversionReport", "Trajectory", "conversion_report", "convert_trajectories", "final_answer",
    "math_index", "prm800k_examples", "raw_trajectories", "stepwise_trajectories",
]

ANSWER_SEP = "\n\n# Answer\n\n"
_ANSWER_LINE = re.compile(r"(?:^|\n)#[ \t]*Answer[ \t]*\n\s*(\S[^\n]*)\s*$")


def final_answer(text: str) -> str | None:
    """The PRM800K final answer: the line after the closing ``# Answer`` marker.

    Stricter than :func:`mathft.grading.extract_answer` (which takes whichever of the last
    ``\\boxed{}`` and ``# Answer`` comes last): only a trailing ``# Answer`` line counts here,
    since a finished PRM800K trajectory must end with one.
    """
    m = _ANSWER_LINE.search(text.rstrip())
    return m.group(1).strip() if m else None


@dataclass(frozen=True)
class Trajectory:
    """The chosen path of one PRM800K labeling: step texts and their human ratings."""

    problem: str
    steps: tuple[str, ...]  # the last step of a finished one ends with "# Answer\n\n<ans>"
    ratings: tuple[int | None, ...]  # None for human-written steps
    finish_reason: str  # raw: as labeled; stepwise: "solution" | "found_error" | "give_up"
    ground_truth: str | None
    origin: str  # "file:line" (raw) or "file:rows a-b" (stepwise)

    @property
    def text(self) -> str:
        """The solution in PRM800K style: steps joined by newlines."""
        return "\n".join(self.steps)


def raw_trajectories(records: Sequence[tuple[int, dict[str, Any]]], file: str = "<raw>"
                     ) -> list[Trajectory]:
    """Chosen trajectories of raw PRM800K records (validated by ``read_prm800k_raw``)."""
    out = []
    for line, rec in records:
        steps: list[str] = []
        ratings: list[int | None] = []
        for step in rec["label"]["steps"]:
            human, chosen = step.get("human_completion"), step.get("chosen_completion")
            if human is not None:
                steps.append(human["text"])
                ratings.append(None)
            elif chosen is not None:
                comp = step["completions"][chosen]
                steps.append(comp["text"])
                ratings.append(comp.get("rating"))
            else:
                break  # the labeler stopped here (error found or gave up)
        q = rec["question"]
        out.append(Trajectory(
            problem=q["problem"], steps=tuple(steps), ratings=tuple(ratings),
            finish_reason=rec["label"]["finish_reason"],
            ground_truth=q.get("ground_truth_answer"), origin=f"{file}:{line}",
        ))
    return out


def _blocks(rows: Sequence[StepRow]) -> list[list[StepRow]]:
    """Split rows into labelings: a new block starts when the problem changes, the prefix
    shrinks, or a second preferred row appears at a depth that already has one."""
    blocks: list[list[StepRow]] = []
    preferred_depths: set[int] = set()
    for r in rows:
        cur = blocks[-1] if blocks else None
        depth = len(r.responses)
        if (cur is None or r.instruction != cur[-1].instruction
                or depth < len(cur[-1].responses)
                or (r.is_preferred_response and depth in preferred_depths)):
            blocks.append([r])
            preferred_depths = set()
        else:
            cur.append(r)
        if r.is_preferred_response:
            preferred_depths.add(depth)
    return blocks


def _block_trajectory(block: list[StepRow], file: str) -> Trajectory:
    origin = f"{file}:rows {block[0].row}-{block[-1].row}"
    chosen = sorted((r for r in block if r.is_preferred_response), key=lambda r: len(r.responses))
    steps: list[str] = []
    ratings: list[int | None] = []
    for r in chosen:
        if len(r.responses) != len(steps) or tuple(steps) != r.responses:
            raise DataError(
                f"preferred step at depth {len(r.responses)} does not extend the chosen path "
                f"(rows {origin})", file=file, line=r.row, field="responses",
                hint="each labeling must have one preferred row per step, in path order",
            )
        steps.append(r.next_response)
        ratings.append(None if r.is_human_response else r.rating)
    last = chosen[-1] if chosen else None
    if last is not None and last.is_solution and last.answer is not None:
        steps[-1] = steps[-1] + ANSWER_SEP + last.answer
        reason = "solution"
    else:
        pending = [r for r in block if len(r.responses) == len(steps)]
        reason = "found_error" if any(r.rating == -1 for r in pending) else "give_up"
    return Trajectory(problem=block[0].instruction, steps=tuple(steps), ratings=tuple(ratings),
                      finish_reason=reason, ground_truth=None, origin=origin)


def stepwise_trajectories(rows: Sequence[StepRow], file: str = "<stepwise>") -> list[Trajectory]:
    """Reconstruct the chosen trajectories from stepwise rows (ground truth left None).

    ``finish_reason`` is inferred: ``solution`` (ends in a preferred ``is_solution`` row),
    ``found_error`` (the pending step has a -1 candidate and none preferred) or ``give_up``.
    """
    return [_block_trajectory(b, file) for b in _blocks(rows)]


def math_index(problems: Sequence[Problem] | None = None) -> dict[str, Problem]:
    """Normalized problem text -> MATH problem (train + test; first uid wins on duplicates)."""
    index: dict[str, Problem] = {}
    for p in problems if problems is not None else read_math("train") + read_math("test"):
        index.setdefault(normalize_problem_text(p.problem), p)
    return index


@dataclass
class ConversionReport:
    """What happened to each trajectory (counts), for logs and the data README."""

    problems_in: int = 0
    trajectories: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    after_math500_filter: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"problems_in": self.problems_in, "trajectories": self.trajectories,
                "kept": self.kept, "dropped": dict(sorted(self.dropped.items())),
                "after_math500_filter": self.after_math500_filter}


def _uid(traj: Trajectory, gold: Problem | None) -> str:
    if gold is not None:
        return gold.uid
    digest = hashlib.sha1(normalize_problem_text(traj.problem).encode()).hexdigest()[:12]
    return f"prm800k/{digest}"


def convert_trajectories(
    trajectories: Sequence[Trajectory],
    *,
    min_rating: int = 0,
    index: dict[str, Problem] | None = None,
    test_keys: frozenset[str] | None = None,
    equiv_timeout: float = 30.0,
) -> tuple[list[SolutionExample], ConversionReport]:
    """Filter trajectories into one PRM800K-style :class:`SolutionExample` per problem.

    Drop reasons, checked in order: ``not_finished:<finish_reason>``, ``low_rating`` (a
    chosen step rated < ``min_rating``), ``no_ground_truth`` (neither the record nor the
    MATH index gives one), ``wrong_answer`` (not ``is_equiv`` to the ground truth),
    ``duplicate_problem`` (a problem already has a kept solution: the first one in input
    order wins), then ``math500`` (normalized text is a test problem). ``equiv_timeout``
    is generous on purpose: a timed-out comparison counts as "not equal", and the grader's
    first symbolic call (worker start, sympy import) can take seconds on a loaded machine,
    which would make the data set depend on machine load.
    """
    index = math_index() if index is None else index
    test_keys = math500_keys() if test_keys is None else test_keys
    rep = ConversionReport(
        problems_in=len({normalize_problem_text(t.problem) for t in trajectories}),
        trajectories=len(trajectories),
    )
    kept: dict[str, SolutionExample] = {}
    for t in trajectories:
        if t.finish_reason != "solution" or not t.steps:
            rep.dropped[f"not_finished:{t.finish_reason}"] += 1
            continue
        if any(r is not None and r < min_rating for r in t.ratings):
            rep.dropped["low_rating"] += 1
            continue
        key = normalize_problem_text(t.problem)
        gold = index.get(key)
        truth = t.ground_truth if t.ground_truth is not None else (gold and gold.answer)
        if truth is None:
            rep.dropped["no_ground_truth"] += 1
            continue
        if not is_equiv(final_answer(t.steps[-1]), truth, timeout=equiv_timeout):
            rep.dropped["wrong_answer"] += 1
            continue
        if key in kept:
            rep.dropped["duplicate_problem"] += 1
            continue
        kept[key] = SolutionExample(uid=_uid(t, gold), problem=t.problem, solution=t.text,
                                    answer=truth, style="prm800k", source="prm800k")
    rep.kept = len(kept)
    out = [ex for k, ex in kept.items() if k not in test_keys]
    rep.dropped["math500"] += rep.kept - len(out)
    rep.after_math500_filter = len(out)
    return out, rep


def prm800k_examples(
    fmt: str = "stepwise",
    splits: Sequence[str] = ("train", "test"),
    *,
    path: str | None = None,
    min_rating: int = 0,
) -> tuple[list[SolutionExample], ConversionReport]:
    """PRM800K SSFT examples from the shipped phase-1 parquet files (``fmt="stepwise"``,
    ``splits`` in order) or from a raw jsonl file (``fmt="raw"``, ``path`` or the samples)."""
    if fmt == "raw":
        trajs = raw_trajectories(read_prm800k_raw(path), str(path or "prm800k_raw_samples"))
    elif fmt == "stepwise":
        if path is not None:
            trajs = stepwise_trajectories(read_prm800k_stepwise(path=path), str(path))
        else:
            trajs = [t for s in splits
                     for t in stepwise_trajectories(read_prm800k_stepwise(s), f"phase1_{s}")]
    else:
        raise DataError(f"unknown PRM800K format {fmt!r}", field="prm800k_format",
                        hint="use 'stepwise' or 'raw'")
    return convert_trajectories(trajs, min_rating=min_rating)


def conversion_report() -> dict[str, Any]:
    """Conversion counts of every shipped PRM800K file (for logs and the report)."""
    out = {}
    for split in ("train", "test"):
        name = f"phase1_{split}.stepwise"
        _, rep = convert_trajectories(
            stepwise_trajectories(read_prm800k_stepwise(split), name))
        out[name] = rep.to_dict()
    out["raw_samples"] = prm800k_examples("raw")[1].to_dict()
    return out

"""Whether a cached step may be reused: verified outputs, and the plan of a dry run.

A ``DONE.json`` alone is not trusted: before reuse, a finished step's outputs are checked
against what its DONE record says (the model directory exists with weights; a store has the
recorded number of rows, all problems, the same N per problem, and no torn line). A damaged
step is named in a warning, its DONE record is set aside (``DONE.invalid.json``) and it is
computed again: training from scratch or from its kept checkpoint, a store resumed (a store
is only repaired once it is no longer finished). Files are never changed by the check.

Under :func:`planning` the step functions compute their keys and record a
:class:`PlannedStep` (reuse / resume / compute, and for compute what differs from the
nearest existing step of the same kind) instead of running anything.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathft.runs.cache import DONE, KEY, Step, config_hash, step, to_plain
from mathft.runs.keys import key_diff
from mathft.sampling.store import CandidateStore, ScoreStore, StoreError

log = logging.getLogger(__name__)

INVALID = "DONE.invalid.json"


@dataclass
class PlannedStep:
    """One line of a dry run. ``extra`` holds optional columns (e.g. work estimates)."""

    name: str
    hash: str
    action: str  # reuse | resume | compute
    note: str = ""
    dir: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        cols = [f"{self.name:<24}", self.hash, f"{self.action:<7}"]
        cols += [f"{k}={v}" for k, v in self.extra.items()]
        if self.note:
            cols.append(self.note)
        return "  ".join(cols)


_PLAN: ContextVar[list[PlannedStep] | None] = ContextVar("mathft_plan", default=None)


@contextmanager
def planning() -> Iterator[list[PlannedStep]]:
    """Within the block, step functions only plan: they append to the yielded list."""
    plan: list[PlannedStep] = []
    token = _PLAN.set(plan)
    try:
        yield plan
    finally:
        _PLAN.reset(token)


def is_planning() -> bool:
    return _PLAN.get() is not None


def model_problem(d: Path) -> str | None:
    """Why a finished training step's ``model/`` cannot be used, or None."""
    m = d / "model"
    if not (m / "config.json").is_file():
        return f"{m}/config.json is missing"
    if not any(p.suffix in (".safetensors", ".bin") for p in m.iterdir()):
        return f"{m} holds no weights (*.safetensors)"
    return None


def store_problem(path: Path, summary: dict[str, Any], scores: bool = False) -> str | None:
    """Why a finished store disagrees with its DONE record, or None (the file is not changed)."""
    if not path.is_file():
        return f"{path} is missing"
    try:
        store = ScoreStore(path, repair=False) if scores else CandidateStore(path, repair=False)
    except StoreError as e:
        return str(e)
    keys = store.existing_keys()
    if "rows" in summary and len(keys) != int(summary["rows"]):
        return f"{path} has {len(keys)} rows, its DONE record says {summary['rows']}"
    if not scores and "n" in summary:
        per = Counter(p for p, _ in keys)
        bad = sorted(p for p, c in per.items() if c != int(summary["n"]))
        if bad or len(per) != int(summary.get("problems", len(per))):
            return (f"{path} has {len(per)} problems with N per problem "
                    f"{sorted(set(per.values()))}, its DONE record says "
                    f"{summary.get('problems')} problems x N={summary['n']}")
    return None


def problem_of(st: Step, kind: str) -> str | None:
    """Why the finished step ``st`` must not be reused (None: reuse it)."""
    summary = st.summary()
    if kind == "model":
        return model_problem(st.dir)
    if kind == "samples":
        return store_problem(st.dir / "candidates.jsonl", summary)
    if kind == "scores":
        return store_problem(st.dir / "scores.jsonl", summary, scores=True)
    raise ValueError(kind)


def partial(d: Path, kind: str) -> bool:
    """Whether an unfinished step directory holds work a rerun resumes from."""
    if kind == "model":
        return (d / "ckpt" / "last.ckpt").exists()
    name = "scores.jsonl" if kind == "scores" else "candidates.jsonl"
    f = d / name
    parts = d / f"{name}.parts"  # rows of sampling/scoring workers (mathft.sampling.workers)
    return (f.is_file() and f.stat().st_size > 0) or \
        (parts.is_dir() and any(p.stat().st_size > 0 for p in parts.glob("*.jsonl")))


def invalidate(st: Step, why: str) -> None:
    """Set a damaged finished step's DONE record aside so the step runs again."""
    log.warning("%s %s: finished step is damaged (%s); computing it again", st.name, st.dir,
                why)
    os.replace(st.dir / DONE, st.dir / INVALID)


def nearest(root: Path, name: str, key: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The existing step of kind ``name`` whose key differs from ``key`` in the fewest
    entries: ``(hash, ["path: old → new", ...])``; None if there is none."""
    base = root / name
    if not base.is_dir():
        return None
    best: tuple[str, list[str]] | None = None
    for d in sorted(base.iterdir()):
        try:
            old = json.loads((d / KEY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        diff = key_diff(old, key)
        if diff and (best is None or len(diff) < len(best[1])):
            best = (d.name, diff)
    return best


def open_step(root: str | os.PathLike[str], name: str, key: dict[str, Any], kind: str,
              label: str = "") -> tuple[Step, bool]:
    """The step for ``key``: ``(step, planned)``. When planning, nothing is created and the
    step is recorded in the plan (``planned`` is True: the caller returns at once)."""
    plan = _PLAN.get()
    if plan is None:
        return step(root, name, key), False
    plain = to_plain(key)
    d = Path(root) / name / config_hash(plain, length=12)
    st = Step(name, plain, d)
    if any(p.dir == str(d) for p in plan):
        return st, True
    label = f"[{label}]" if label else ""
    note = label
    if st.done:
        why = problem_of(st, kind)
        action = "reuse" if why is None else ("resume" if partial(d, kind) else "compute")
        if why:
            note = f"{label} damaged: {why}".strip()
    elif d.is_dir() and partial(d, kind):
        action = "resume"
    else:
        action = "compute"
        near = nearest(Path(root), name, plain)
        what = (f"differs in {'; '.join(near[1][:6])}" + (" ..." if len(near[1]) > 6 else "")
                if near else f"no earlier {name} step")
        note = f"{label} {what}".strip()
    plan.append(PlannedStep(name, d.name, action, note, str(d)))
    return st, True


def reusable(st: Step, kind: str) -> bool:
    """True when ``st`` is finished and its outputs check out; a damaged one is invalidated."""
    if not st.done:
        return False
    why = problem_of(st, kind)
    if why is None:
        return True
    invalidate(st, why)
    return False


def remove_checkpoint(st: Step, keep: bool) -> None:
    """Drop a finished training step's resume checkpoint (optimizer state included)."""
    import shutil

    ckpt = st.dir / "ckpt"
    if keep or not ckpt.exists():
        return
    size = sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file())
    shutil.rmtree(ckpt, ignore_errors=True)
    log.info("%s: removed its resume checkpoint (%.1f MB; run.keep_checkpoints=true keeps it)",
             st.dir, size / 1e6)


def format_plan(plan: Sequence[PlannedStep]) -> str:
    return "\n".join(p.line() for p in plan)

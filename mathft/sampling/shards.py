"""Sharded sampling and scoring: a job array fills one store per shard, a merge assembles them.

``sampling.shard=I/N`` (``evaluator.score_shard=I/N`` for scores) makes a step work on the
``I``-th of ``N`` contiguous slices of its problems (0-based, sizes differ by at most one)
and write into its own step directory: the full step's key plus ``shard``. Rows carry the
FULL step's config hash, and each sample's seed depends only on (seed, problem, sample
index), so the union of the N shard stores is the unsharded store row for row. The merge
runs when the same step is requested without a shard and all N shards of one N are done:
it copies their rows, in problem order, into the full step instead of sampling again.

The paper's evaluator data (64 samples x 12k training problems) is then::

    python -m mathft.train stages=evaluator sampling.shard=0/8 ...   # ... up to 7/8, any order
    python -m mathft.train stages=evaluator ...                      # merges, then trains
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from mathft.io import atomic_write_json
from mathft.sampling.pins import PIN, same_weights
from mathft.sampling.store import CandidateStore, ScoreStore

T = TypeVar("T")
SHARD_KEY = "shard"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse(spec: Any) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; ``None``/``""`` -> ``None`` (unsharded)."""
    if spec is None or spec == "":
        return None
    m = _SPEC.match(str(spec))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"shard must be 'I/N' with 0 <= I < N (e.g. 0/4), got {spec!r}")
    return int(m.group(1)), int(m.group(2))


def select(items: Sequence[T], shard: tuple[int, int] | None) -> list[T]:
    """The shard's contiguous slice of ``items`` (all of them when unsharded)."""
    if shard is None:
        return list(items)
    i, n = shard
    q, r = divmod(len(items), n)
    start = i * q + min(i, r)
    return list(items[start : start + q + (i < r)])


def shard_key(full_key: dict[str, Any], full_hash: str, shard: tuple[int, int]) -> dict[str, Any]:
    """A shard step's key: the full step's key, its hash and ``I/N``."""
    return {**full_key, SHARD_KEY: f"{shard[0]}/{shard[1]}", "shard_of": full_hash}


def shard_dirs(full_dir: Path) -> dict[int, list[Path]]:
    """Done shard directories of the full step ``full_dir``, ``{N: [dir of shard 0..N-1]}``
    for every N whose shards are all done (siblings in the same step-name folder)."""
    found: dict[int, dict[int, Path]] = {}
    for d in full_dir.parent.iterdir():
        key_file = d / "key.json"
        if d == full_dir or not (d / "DONE.json").exists() or not key_file.exists():
            continue
        key = json.loads(key_file.read_text())
        if key.get("shard_of") != full_dir.name:
            continue
        i, n = parse(key[SHARD_KEY])  # type: ignore[misc]
        found.setdefault(n, {})[i] = d
    return {n: [by_i[i] for i in range(n)] for n, by_i in sorted(found.items())
            if len(by_i) == n}


def require_full(st: Any, what: str) -> None:
    """Refuse a shard's store where the full one is needed (training, metrics)."""
    if SHARD_KEY in getattr(st, "key", {}):
        raise ValueError(
            f"{what}: {st.dir} holds only shard {st.key[SHARD_KEY]}; run the same command "
            "without the shard setting once every shard is done, to merge them")


def merge_candidates(full_dir: Path, problem_ids: Sequence[str], *, config_hash: str,
                     model_id: str, sampling: dict[str, Any]) -> dict[str, Any] | None:
    """Assemble ``full_dir/candidates.jsonl`` from a complete set of done shards.

    Rows are appended in problem order, then sample index; returns a summary, or ``None``
    when no complete shard set exists. Raises if the shards do not cover ``problem_ids``.
    """
    sets = shard_dirs(full_dir)
    if not sets:
        return None
    n, dirs = max(sets.items())
    _merge_pins(dirs, full_dir, "candidates.jsonl")
    rows = [c for d in dirs for c in CandidateStore(d / "candidates.jsonl").load()]
    _check_cover(rows, problem_ids, full_dir)
    order = {p: k for k, p in enumerate(problem_ids)}
    rows.sort(key=lambda c: (order[c.problem_id], c.sample_idx))
    store = CandidateStore(full_dir / "candidates.jsonl", config_hash=config_hash,
                           model_id=model_id, sampling=sampling)
    done = store.existing_keys()
    store.append([c for c in rows if c.key not in done])
    return {"rows": len(store), "merged_from": [f"{d.parent.name}/{d.name}" for d in dirs],
            "shards": n}


def merge_scores(full_dir: Path, evaluator_id: str, keys: Sequence[tuple[str, int]]
                 ) -> dict[str, Any] | None:
    """Assemble ``full_dir/scores.jsonl`` from a complete set of done score shards."""
    sets = shard_dirs(full_dir)
    if not sets:
        return None
    n, dirs = max(sets.items())
    _merge_pins(dirs, full_dir, "scores.jsonl")
    scores: dict[tuple[str, int], float] = {}
    for d in dirs:
        scores.update(ScoreStore(d / "scores.jsonl").load())
    missing = [k for k in keys if k not in scores]
    if missing or len(scores) != len(keys):
        raise ValueError(f"{full_dir}: the {n} score shards hold {len(scores)} scores, "
                         f"expected {len(keys)} ({len(missing)} missing, e.g. {missing[:1]})")
    store = ScoreStore(full_dir / "scores.jsonl", evaluator_id)
    done = store.existing_keys()
    store.append([(p, i, scores[p, i]) for p, i in keys if (p, i) not in done])
    return {"scored": len(keys), "merged_from": [f"{d.parent.name}/{d.name}" for d in dirs],
            "shards": n}


def _merge_pins(dirs: Sequence[Path], full_dir: Path, store: str) -> None:
    """The shards (and rows the full store already holds) must come from one model's weights;
    the full step takes their pin."""
    has_rows = (full_dir / store).is_file() and (full_dir / store).stat().st_size > 0
    pin = same_weights([*dirs, full_dir] if has_rows else list(dirs), full_dir)
    if pin is not None:
        atomic_write_json(full_dir / PIN, pin)


def _check_cover(rows: Sequence[Any], problem_ids: Sequence[str], where: Path) -> None:
    keys = [(c.problem_id, c.sample_idx) for c in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{where}: shards overlap (duplicate candidate keys)")
    have, want = {c.problem_id for c in rows}, set(problem_ids)
    if have != want:
        raise ValueError(f"{where}: shards cover {len(have & want)} of {len(want)} problems "
                         f"(+{len(have - want)} foreign): not this step's problem set")

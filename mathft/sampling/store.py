"""Candidate and score stores: append-only JSON lines, crash-safe and resumable (docs/design.md#stores).

One record per (problem, sample). Appends write whole lines then ``flush`` + ``os.fsync``;
on open for writing, a trailing line without newline (a write torn by a crash) is truncated
away with a warning (``repair=False``, used to read finished stores and users' files, raises
instead and never changes the file), while any other malformed line, a record with a missing or wrong-typed field,
or a duplicate key raises :class:`StoreError` naming file, line and field. A sidecar
``<store>.meta.json`` (written atomically) pins model id, sampling params and config hash:
reopening with a different config hash raises instead of mixing samples of two configs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mathft.records import Candidate

log = logging.getLogger(__name__)

Key = tuple[str, int]

CANDIDATE_SCHEMA: dict[str, tuple[type, ...]] = {
    "problem_id": (str,),
    "sample_idx": (int,),
    "text": (str,),
    "answer": (str, type(None)),
    "correct": (bool,),
    "model_id": (str,),
    "sampling": (dict,),
    "config_hash": (str,),
    "n_tokens": (int,),
}
SCORE_SCHEMA: dict[str, tuple[type, ...]] = {
    "problem_id": (str,),
    "sample_idx": (int,),
    "score": (float, int),
    "evaluator_id": (str,),
}


class StoreError(ValueError):
    """A store file is corrupt or does not belong to this run."""


def _check_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:  # bool is an int subclass: not a count
        return False
    return isinstance(value, types)


def read_jsonl_records(
    path: Path, schema: Mapping[str, tuple[type, ...]], repair: bool = True
) -> list[dict[str, Any]]:
    """Parse and validate a store file; repair a torn trailing line (see module doc).

    Returns the records in file order. Raises :class:`StoreError` on a malformed line,
    a missing/wrong-typed field, or a duplicate ``(problem_id, sample_idx)``.
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        if not repair:
            line = data.count(b"\n") + 1
            raise StoreError(
                f"{path}:{line}: the last line is incomplete (an interrupted write?); the file "
                "was read without changing it: rerun the step that wrote it, or remove that "
                "line from a copy")
        log.warning(
            "%s: dropping a partial trailing line of %d bytes (interrupted write)",
            path,
            len(data) - keep,
        )
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        data = data[:keep]
    records, seen = [], {}
    for lineno, raw_bytes in enumerate(data.split(b"\n")[:-1], 1):
        try:
            raw = raw_bytes.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise StoreError(
                f"{path}:{lineno}: not UTF-8 (byte 0x{raw_bytes[e.start]:02x} at column "
                f"{e.start + 1}); stores are UTF-8 JSON lines: fix or remove this line"
            ) from None
        if not raw.strip():
            raise StoreError(f"{path}:{lineno}: empty line")
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StoreError(
                f"{path}:{lineno}: malformed JSON ({e.msg}); "
                "fix or remove this line, or start a new store"
            ) from None
        if not isinstance(rec, dict):
            raise StoreError(f"{path}:{lineno}: expected a JSON object")
        for name, types in schema.items():
            if name not in rec:
                raise StoreError(f"{path}:{lineno}: missing field {name!r}")
            if not _check_type(rec[name], types):
                raise StoreError(
                    f"{path}:{lineno}: field {name!r} has type "
                    f"{type(rec[name]).__name__}, expected "
                    f"{'/'.join(t.__name__ for t in types)}"
                )
        key = (rec["problem_id"], rec["sample_idx"])
        if key in seen:
            raise StoreError(f"{path}:{lineno}: duplicate key {key} (first at line {seen[key]})")
        seen[key] = lineno
        records.append(rec)
    return records


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file atomically (tmp file + fsync + os.replace)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _JsonlStore:
    """Append-only keyed JSON-lines file (shared by candidate and score stores)."""

    schema: Mapping[str, tuple[type, ...]] = {}

    def __init__(self, path: str | os.PathLike[str], *, repair: bool = True):
        self.path = Path(path)
        self.repair = repair
        if repair:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys: set[Key] = {
            (r["problem_id"], r["sample_idx"])
            for r in read_jsonl_records(self.path, self.schema, repair=repair)
        }

    def existing_keys(self) -> set[Key]:
        """Keys ``(problem_id, sample_idx)`` already stored (what a resumed run skips)."""
        return set(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def _append(self, rows: list[dict[str, Any]]) -> None:
        keys = [(r["problem_id"], r["sample_idx"]) for r in rows]
        dup = [k for k in keys if k in self._keys]
        if dup or len(set(keys)) != len(keys):
            raise StoreError(
                f"{self.path}: refusing to append duplicate keys "
                f"{dup or sorted(k for k in keys if keys.count(k) > 1)}"
            )
        for i, r in enumerate(rows):
            for name, types in self.schema.items():
                if name not in r or not _check_type(r[name], types):
                    raise StoreError(
                        f"{self.path}: new record {i} has a missing or wrong-typed field {name!r}"
                    )
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        self._keys.update(keys)

    def _records(self) -> list[dict[str, Any]]:
        return read_jsonl_records(self.path, self.schema, repair=self.repair)


def meta_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar of a store file: ``<store>.meta.json``."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


class CandidateStore(_JsonlStore):
    """Sampled candidates, one :class:`~mathft.records.Candidate` per line.

    Pass ``config_hash`` (and ``model_id``, ``sampling``) when writing: the first open
    writes the meta sidecar, later opens must match it. Opened without a hash, the store
    takes the sidecar's (appends must match it), or is read-only when there is none.
    """

    schema = CANDIDATE_SCHEMA

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        config_hash: str | None = None,
        model_id: str | None = None,
        sampling: Mapping[str, Any] | None = None,
        repair: bool = True,
    ):
        super().__init__(path, repair=repair)
        self.meta_file = meta_path(self.path)
        self.meta: dict[str, Any] | None = None
        if self.meta_file.exists():
            try:
                self.meta = json.loads(self.meta_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise StoreError(f"{self.meta_file}: malformed JSON ({e.msg})") from None
            if not isinstance(self.meta, dict) or not isinstance(self.meta.get("config_hash"), str):
                raise StoreError(f"{self.meta_file}: missing field 'config_hash'")
        if config_hash is not None:
            if self.meta is None:
                if len(self):
                    raise StoreError(
                        f"{self.path} has rows but no {self.meta_file.name}; "
                        "cannot tell which config wrote them: use a new store path"
                    )
                self.meta = {
                    "config_hash": config_hash,
                    "model_id": model_id,
                    "sampling": dict(sampling or {}),
                }
                atomic_write_text(self.meta_file, json.dumps(self.meta, indent=1, sort_keys=True))
            elif self.meta["config_hash"] != config_hash:
                raise StoreError(
                    f"{self.path} holds samples of config {self.meta['config_hash']} "
                    f"(model {self.meta.get('model_id')}), this run's config is {config_hash}: "
                    "refusing to mix them; write to a new store path"
                )

    @property
    def config_hash(self) -> str | None:
        return None if self.meta is None else self.meta["config_hash"]

    def append(self, candidates: Iterable[Candidate]) -> None:
        """Append a batch atomically (whole lines, fsync); duplicates raise."""
        rows = [c.to_dict() for c in candidates]
        if self.meta is None:
            raise StoreError(f"{self.path}: opened read-only (no config_hash given)")
        for r in rows:
            if r["config_hash"] != self.meta["config_hash"]:
                raise StoreError(
                    f"{self.path}: candidate {r['problem_id']}#{r['sample_idx']} has "
                    f"config hash {r['config_hash']}, store has {self.config_hash}"
                )
        self._append(rows)

    def load(self) -> list[Candidate]:
        """All candidates in file order (validated)."""
        fields = tuple(CANDIDATE_SCHEMA)
        return [Candidate(**{k: r[k] for k in fields}) for r in self._records()]

    def by_problem(self) -> dict[str, list[Candidate]]:
        """Candidates grouped by problem id, each list sorted by ``sample_idx``."""
        out: dict[str, list[Candidate]] = {}
        for c in self.load():
            out.setdefault(c.problem_id, []).append(c)
        for v in out.values():
            v.sort(key=lambda c: c.sample_idx)
        return out


def score_path(candidates_path: str | os.PathLike[str], evaluator_id: str) -> Path:
    """Where an evaluator's scores of a candidate store live: ``<stem>.scores.<id>.jsonl``."""
    p = Path(candidates_path)
    if not evaluator_id or "/" in evaluator_id or os.sep in evaluator_id:
        raise ValueError(f"evaluator_id must be a non-empty name without '/', got {evaluator_id!r}")
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(f"{stem}.scores.{evaluator_id}.jsonl")


class ScoreStore(_JsonlStore):
    """Evaluator scores S_cls (docs/method.md#evaluator-score) of stored candidates, one per (problem, sample)."""

    schema = SCORE_SCHEMA

    def __init__(self, path: str | os.PathLike[str], evaluator_id: str | None = None,
                 *, repair: bool = True):
        super().__init__(path, repair=repair)
        self.evaluator_id = evaluator_id
        if evaluator_id is not None:
            for r in self._records():
                if r["evaluator_id"] != evaluator_id:
                    raise StoreError(
                        f"{self.path}: holds scores of evaluator "
                        f"{r['evaluator_id']!r}, not {evaluator_id!r}"
                    )

    def append(self, scores: Iterable[tuple[str, int, float]]) -> None:
        """Append ``(problem_id, sample_idx, score)`` triples atomically."""
        if self.evaluator_id is None:
            raise StoreError(f"{self.path}: opened without an evaluator_id (read-only)")
        rows = [
            {
                "problem_id": p,
                "sample_idx": int(i),
                "score": float(s),
                "evaluator_id": self.evaluator_id,
            }
            for p, i, s in scores
        ]
        self._append(rows)

    def load(self) -> dict[Key, float]:
        """Scores keyed by ``(problem_id, sample_idx)``."""
        return {(r["problem_id"], r["sample_idx"]): float(r["score"]) for r in self._records()}

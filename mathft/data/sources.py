"""Readers for the data sources of docs/data.md#sources: MATH, MATH500, GSM8K, PRM800K (raw and stepwise).

Every reader takes an optional ``path`` (``.jsonl``, ``.jsonl.xz`` or ``.jsonl.gz``; parquet
for the stepwise PRM800K layout) so users can point at their own copy; the default is the
copy shipped in the package (``mathft/data/files``). Malformed input raises
:class:`~mathft.data.errors.DataError` naming file, line and field.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mathft.data.errors import DataError, require, type_name
from mathft.grading import extract_answer
from mathft.records import Problem

__all__ = [
    "DATA_DIR", "StepRow", "data_file", "iter_jsonl", "parse_level", "read_gsm8k", "read_math",
    "read_math500", "read_prm800k_raw", "read_prm800k_stepwise", "read_problems_jsonl",
]

DATA_DIR = Path(__file__).resolve().parent / "files"
"""The package's shipped copies of the data (see SOURCES.md for provenance)."""

PathLike = str | os.PathLike[str]

_DEFAULT_FILES = {
    ("math", "train"): "math_train.jsonl.xz",
    ("math", "test"): "math_test.jsonl.xz",
    ("math500", "test"): "math500_test.jsonl.xz",
    ("gsm8k", "train"): "gsm8k_train.jsonl.xz",
    ("gsm8k", "test"): "gsm8k_test.jsonl.xz",
    ("prm800k_raw", "samples"): "prm800k_raw_samples.jsonl.xz",
    ("prm800k_stepwise", "train"): "prm800k_phase1_train.stepwise.parquet",
    ("prm800k_stepwise", "test"): "prm800k_phase1_test.stepwise.parquet",
}


def data_file(source: str, split: str) -> Path:
    """Path of the shipped file for ``source``/``split``; DataError if there is none."""
    try:
        return DATA_DIR / _DEFAULT_FILES[(source, split)]
    except KeyError:
        known = sorted(s for (src, s) in _DEFAULT_FILES if src == source)
        raise DataError(
            f"no shipped file for split {split!r} of {source!r}", field="split",
            hint=f"use one of {known} or pass path=<your file>",
        ) from None


def _open_text(path: Path):  # noqa: ANN202 - a text file object
    # surrogateescape: a non-UTF-8 byte is reported with its line (see iter_jsonl)
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", errors="surrogateescape")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape")
    return open(path, encoding="utf-8", errors="surrogateescape")


def iter_jsonl(path: PathLike, expected: str = "JSON objects") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line of a (compressed) JSONL file.

    Raises DataError on a missing/unreadable file, a line that is not valid JSON (e.g. a
    truncated last line), a line that is not an object, or a file with no records.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path, hint="check the path in your data config")
    n = 0
    try:
        with _open_text(path) as f:
            for lineno, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    raw.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise DataError(
                        f"not UTF-8 (byte at column {e.start + 1})", file=path, line=lineno,
                        field=expected, hint="save the file as UTF-8") from None
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise DataError(
                        f"invalid JSON ({e.msg} at column {e.colno}); the line may be truncated",
                        file=path, line=lineno, field=expected,
                        hint="fix or remove this line (one JSON object per line)",
                    ) from None
                if not isinstance(rec, dict):
                    raise DataError(
                        f"expected a JSON object, got {type_name(rec)}", file=path, line=lineno,
                        field=expected, hint="each line must be one JSON object",
                    )
                n += 1
                yield lineno, rec
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as e:
        raise DataError(
            f"cannot read file ({e})", file=path, line=None, field=expected,
            hint="the file may be truncated or not in the format its suffix says",
        ) from None
    if n == 0:
        raise DataError(
            "file is empty (no records)", file=path, line=1, field=expected,
            hint="point the data config at a non-empty JSONL file",
        )


def parse_level(value: Any, *, file: PathLike, line: int) -> int | None:
    """MATH level: ``"Level 3"`` or ``3`` -> 3; ``"Level ?"`` (2 train rows) -> None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(?:Level\s*)?(\d+|\?)\s*", value)
        if m:
            return None if m.group(1) == "?" else int(m.group(1))
    raise DataError(
        f"cannot parse level {value!r}", file=file, line=line, field="level",
        hint='use "Level N", an integer N, or "Level ?"',
    )


def _frozen(items: list) -> tuple:
    return tuple(items)


@lru_cache(maxsize=16)
def _read_math_cached(path: str, split: str) -> tuple[Problem, ...]:
    out = []
    for i, (ln, rec) in enumerate(iter_jsonl(path, "problem, level, type, solution")):
        kw = {"file": path, "line": ln}
        problem = require(rec, "problem", str, **kw)
        solution = require(rec, "solution", str, **kw)
        subject = require(rec, "type", str, **kw)
        level = parse_level(require(rec, "level", (str, int), **kw), **kw)
        uid = require(rec, "unique_id", str, optional=True, **kw) or f"math/{split}/{i}"
        # None when the solution boxes nothing (train has one empty ``\\boxed{}``)
        answer = extract_answer(solution)
        out.append(Problem(uid=uid, problem=problem, answer=answer, solution=solution,
                           source="math", level=level, subject=subject))
    return _frozen(out)


def read_math(split: str = "train", path: PathLike | None = None) -> list[Problem]:
    """MATH (Hendrycks et al.) problems; gold answer = last ``\\boxed{}`` of ``solution``.

    Shipped: train 7,500, test 5,000. ``answer`` is None where the solution boxes nothing
    (one train row has an empty ``\\boxed{}``). ``subject`` = ``type``; ``level`` is an int
    (None for the 2 ``"Level ?"`` train rows); ``uid`` = ``unique_id``
    (``test/precalculus/807.json``), else ``math/<split>/<index>``.
    """
    p = str(path) if path is not None else str(data_file("math", split))
    return list(_read_math_cached(p, split))


@lru_cache(maxsize=8)
def _read_math500_cached(path: str) -> tuple[Problem, ...]:
    out = []
    for _, (ln, rec) in enumerate(iter_jsonl(path, "problem, answer, unique_id")):
        kw = {"file": path, "line": ln}
        level = require(rec, "level", (int, str), optional=True, **kw)
        out.append(Problem(
            uid=require(rec, "unique_id", str, **kw),
            problem=require(rec, "problem", str, **kw),
            answer=require(rec, "answer", str, **kw),
            solution=require(rec, "solution", str, optional=True, **kw),
            source="math500",
            level=None if level is None else parse_level(level, **kw),
            subject=require(rec, "subject", str, optional=True, **kw),
        ))
    return _frozen(out)


def read_problems_jsonl(path: PathLike) -> list[Problem]:
    """Your own problems: one JSON object per line (``.jsonl``, ``.jsonl.xz``, ``.jsonl.gz``).

    Fields: ``problem`` (string) and ``answer`` (string or number: the gold final answer,
    compared with the grader's equivalence), optional ``solution`` (string), ``level``
    (integer or ``"Level N"``) and ``id`` (string, unique; default ``<file stem>/<line>``).
    Usable as test, validation or evaluator-training problems (``eval.*.name=jsonl``).
    """
    p = Path(path)
    stem = p.name.split(".")[0]
    out, seen = [], {}
    for ln, rec in iter_jsonl(p, "problem, answer"):
        kw = {"file": p, "line": ln}
        answer = require(rec, "answer", (str, int, float), **kw)
        level = require(rec, "level", (int, str), optional=True, **kw)
        uid = require(rec, "id", str, optional=True, **kw) or f"{stem}/{ln}"
        if uid in seen:
            raise DataError(f"duplicate id {uid!r} (first at line {seen[uid]})", field="id",
                            hint="give every problem a unique id", **kw)
        seen[uid] = ln
        out.append(Problem(
            uid=uid, problem=require(rec, "problem", str, **kw), answer=str(answer),
            solution=require(rec, "solution", str, optional=True, **kw), source="jsonl",
            level=None if level is None else parse_level(level, **kw)))
    return out


def read_math500(path: PathLike | None = None) -> list[Problem]:
    """MATH500 (PRM800K ``math_splits/test.jsonl``): 500 problems with their ``answer`` field."""
    p = str(path) if path is not None else str(data_file("math500", "test"))
    return list(_read_math500_cached(p))


@lru_cache(maxsize=8)
def _read_gsm8k_cached(path: str, split: str) -> tuple[Problem, ...]:
    out = []
    for i, (ln, rec) in enumerate(iter_jsonl(path, "question, answer")):
        kw = {"file": path, "line": ln}
        question = require(rec, "question", str, **kw)
        solution = require(rec, "answer", str, **kw)
        m = re.search(r"####\s*(.+?)\s*$", solution)
        if m is None:
            raise DataError("no '#### <answer>' line in the answer", field="answer", **kw,
                            hint="GSM8K answers end with '#### N'")
        out.append(Problem(uid=f"gsm8k/{split}/{i}", problem=question,
                           answer=m.group(1).replace(",", ""), solution=solution,
                           source="gsm8k"))
    return _frozen(out)


def read_gsm8k(split: str = "train", path: PathLike | None = None) -> list[Problem]:
    """GSM8K problems (train 7,473 / test 1,319); answer = text after ``#### `` (commas removed).

    ``uid`` is ``gsm8k/<split>/<index>`` with index = record order in the file.
    """
    p = str(path) if path is not None else str(data_file("gsm8k", split))
    return list(_read_gsm8k_cached(p, split))


def _check_raw_prm(rec: dict, file: str, ln: int) -> None:
    """Validate the fields of one raw PRM800K record that the converter relies on."""
    kw = {"file": file, "line": ln}
    q = require(rec, "question", dict, **kw)
    require(q, "problem", str, field="question.problem", **kw)
    require(q, "ground_truth_answer", str, field="question.ground_truth_answer", optional=True,
            **kw)
    label = require(rec, "label", dict, **kw)
    require(label, "finish_reason", str, field="label.finish_reason", **kw)
    steps = require(label, "steps", list, field="label.steps", **kw)
    for j, step in enumerate(steps):
        sp = f"label.steps[{j}]"
        if not isinstance(step, dict):
            raise DataError(f"expected an object, got {type_name(step)}", field=sp, **kw)
        comps = require(step, "completions", list, field=f"{sp}.completions", optional=True, **kw)
        for k, c in enumerate(comps or []):
            cp = f"{sp}.completions[{k}]"
            require(c, "text", str, field=f"{cp}.text", **kw)
            require(c, "rating", int, field=f"{cp}.rating", optional=True, **kw)
        hc = require(step, "human_completion", dict, field=f"{sp}.human_completion",
                     optional=True, **kw)
        if hc is not None:
            require(hc, "text", str, field=f"{sp}.human_completion.text", **kw)
        cc = require(step, "chosen_completion", int, field=f"{sp}.chosen_completion",
                     optional=True, **kw)
        if cc is not None and not 0 <= cc < len(comps or []):
            raise DataError(f"index {cc} out of range for {len(comps or [])} completions",
                            field=f"{sp}.chosen_completion", **kw)


def read_prm800k_raw(path: PathLike | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Raw PRM800K records (official ``phase{1,2}_{train,test}.jsonl`` schema) as
    ``(line_number, record)``, validated; default: the 6 shipped sample rows."""
    p = str(path) if path is not None else str(data_file("prm800k_raw", "samples"))
    out = []
    for ln, rec in iter_jsonl(p, "question, label"):
        _check_raw_prm(rec, p, ln)
        out.append((ln, rec))
    return out


@dataclass(frozen=True)
class StepRow:
    """One row of the stepwise PRM800K layout: a rated candidate for the next step."""

    row: int  # 1-based row index in the parquet file (the "line" of error messages)
    instruction: str
    responses: tuple[str, ...]  # the chosen steps so far
    next_response: str  # the candidate step (its "# Answer" part is stripped into `answer`)
    answer: str | None
    is_human_response: bool
    is_solution: bool
    is_preferred_response: bool
    rating: int | None


_STEP_COLUMNS = {
    "instruction": "string", "responses": "list<string>", "next_response": "string",
    "answer": "string", "is_human_response": "bool", "is_solution": "bool",
    "is_preferred_response": "bool", "rating": "number",
}
_NULLABLE = {"answer", "rating"}


def _arrow_kind_ok(kind: str, typ: Any) -> bool:
    import pyarrow as pa

    if kind == "string":
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if kind == "list<string>":
        return (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and _arrow_kind_ok(
            "string", typ.value_type)
    if kind == "bool":
        return pa.types.is_boolean(typ)
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_null(typ)


@lru_cache(maxsize=4)
def _read_stepwise_cached(path: str) -> tuple[StepRow, ...]:
    """Read and validate column-wise (types from the schema, nulls and ratings vectorized)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise DataError("file not found", file=path, hint="check the path in your data config")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"cannot read parquet ({e})", file=path, field="instruction",
                        hint="the file may be truncated or not parquet") from None
    missing = [c for c in _STEP_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"missing column(s) {missing}", file=path, field=missing[0],
                        hint="the stepwise layout needs " + ", ".join(_STEP_COLUMNS))
    if table.num_rows == 0:
        raise DataError("file is empty (no rows)", file=path, line=1, field="instruction",
                        hint="point the data config at a non-empty parquet file")
    for c, kind in _STEP_COLUMNS.items():
        col = table.column(c)
        all_null_ok = c in _NULLABLE and pa.types.is_null(col.type)
        if not (all_null_ok or _arrow_kind_ok(kind, col.type)):
            raise DataError(f"expected {kind}, got column type {col.type}", file=path,
                            field=c, hint="write the column with the stepwise layout's type")
        if c not in _NULLABLE and col.null_count:
            first = pc.index(pc.is_null(col), True).as_py()
            raise DataError("null in a required column", file=path, line=first + 1, field=c,
                            hint="fill or drop this row")
    rating = table.column("rating")
    bad = pc.and_(pc.is_valid(rating),
                  pc.invert(pc.is_in(rating, value_set=pa.array([-1, 0, 1], rating.type))))
    if pc.any(bad).as_py():
        first = pc.index(bad, True).as_py()
        raise DataError(f"rating must be -1, 0, 1 or null, got {rating[first].as_py()!r}",
                        file=path, line=first + 1, field="rating")
    cols = {c: table.column(c).to_pylist() for c in _STEP_COLUMNS}
    return _frozen([
        StepRow(row=i + 1, instruction=cols["instruction"][i],
                responses=tuple(cols["responses"][i] or ()),
                next_response=cols["next_response"][i], answer=cols["answer"][i],
                is_human_response=cols["is_human_response"][i],
                is_solution=cols["is_solution"][i],
                is_preferred_response=cols["is_preferred_response"][i],
                rating=None if cols["rating"][i] is None else int(cols["rating"][i]))
        for i in range(table.num_rows)
    ])


def read_prm800k_stepwise(split: str = "train", path: PathLike | None = None) -> list[StepRow]:
    """PRM800K phase 1 in the derived one-row-per-rated-step parquet layout.

    Shipped: ``train`` 51,835 rows / 900 problems, ``test`` 5,449 rows / 101 problems.
    """
    p = str(path) if path is not None else str(data_file("prm800k_stepwise", split))
    return list(_read_stepwise_cached(p))

"""Bad input -> DataError naming file, line and field (never a bare KeyError/JSONDecodeError)."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from mathft.data.errors import DataError
from mathft.data.sources import (
    read_gsm8k,
    read_math,
    read_math500,
    read_prm800k_raw,
    read_prm800k_stepwise,
)

GOOD_MATH = {"problem": "1+1?", "level": "Level 1", "type": "Prealgebra",
             "solution": "$\\boxed{2}$", "unique_id": "train/prealgebra/1.json"}


def _lines(path: Path, lines: list[str]) -> str:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return str(path)


def _expect(fn, path: str, line: int | None, field: str) -> DataError:
    with pytest.raises(DataError) as info:
        fn(path=path)
    err = info.value
    where = f"{path}:{line}" if line is not None else path
    assert str(err).startswith(where + ":"), str(err)
    assert f"field '{field}'" in str(err), str(err)
    assert (err.file, err.line, err.field) == (path, line, field)
    assert not isinstance(err, KeyError)
    return err


def test_missing_field(tmp_path: Path) -> None:
    bad = dict(GOOD_MATH)
    del bad["solution"]
    p = _lines(tmp_path / "m.jsonl", [json.dumps(GOOD_MATH), json.dumps(bad)])
    err = _expect(lambda path: read_math("train", path=path), p, 2, "solution")
    assert "missing" in str(err) and "add 'solution'" in str(err)
    p = _lines(tmp_path / "g.jsonl", [json.dumps({"question": "q"})])
    _expect(lambda path: read_gsm8k("train", path=path), p, 1, "answer")
    m500 = {"problem": "x", "solution": "s", "subject": "A", "level": 1, "unique_id": "u"}
    p = _lines(tmp_path / "t.jsonl", [json.dumps(m500)])
    _expect(read_math500, p, 1, "answer")


def test_truncated_line(tmp_path: Path) -> None:
    full = json.dumps(GOOD_MATH)
    p = _lines(tmp_path / "m.jsonl", [full, full, full[: len(full) // 2]])
    err = _expect(lambda path: read_math("train", path=path), p, 3,
                  "problem, level, type, solution")
    assert "truncated" in str(err)
    # a truncated .xz stream is reported too (no line: the decompressor fails)
    data = lzma.compress((full + "\n").encode() * 50)
    xz = tmp_path / "m.jsonl.xz"
    xz.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot read file"):
        read_math("train", path=xz)


def test_wrong_type(tmp_path: Path) -> None:
    bad = dict(GOOD_MATH, problem=["not", "a", "string"])
    p = _lines(tmp_path / "m.jsonl", [json.dumps(GOOD_MATH), "", json.dumps(bad)])
    err = _expect(lambda path: read_math("train", path=path), p, 3, "problem")
    assert "expected string, got list" in str(err)
    p = _lines(tmp_path / "l.jsonl", [json.dumps(dict(GOOD_MATH, level="Hard"))])
    _expect(lambda path: read_math("train", path=path), p, 1, "level")
    p = _lines(tmp_path / "a.jsonl", ["[1, 2]"])
    _expect(lambda path: read_gsm8k("train", path=path), p, 1, "question, answer")


def test_empty_file(tmp_path: Path) -> None:
    p = _lines(tmp_path / "e.jsonl", [])
    err = _expect(lambda path: read_math("test", path=path), p, 1,
                  "problem, level, type, solution")
    assert "empty" in str(err)
    p = _lines(tmp_path / "blank.jsonl", ["", "  "])
    _expect(lambda path: read_gsm8k("test", path=path), p, 1, "question, answer")
    with pytest.raises(DataError, match="file not found"):
        read_math("train", path=tmp_path / "missing.jsonl")


def test_raw_prm800k_nested_fields(tmp_path: Path) -> None:
    rows = [r for _, r in read_prm800k_raw()]
    bad = json.loads(json.dumps(rows[0]))
    bad["label"]["steps"][2]["completions"][0]["rating"] = "good"
    p = _lines(tmp_path / "r.jsonl", [json.dumps(rows[1]), json.dumps(bad)])
    err = _expect(read_prm800k_raw, p, 2, "label.steps[2].completions[0].rating")
    assert "expected integer, got string" in str(err)
    bad = json.loads(json.dumps(rows[0]))
    del bad["label"]["finish_reason"]
    _expect(read_prm800k_raw, _lines(tmp_path / "f.jsonl", [json.dumps(bad)]), 1,
            "label.finish_reason")
    bad = json.loads(json.dumps(rows[0]))
    bad["label"]["steps"][0]["chosen_completion"] = 7
    _expect(read_prm800k_raw, _lines(tmp_path / "c.jsonl", [json.dumps(bad)]), 1,
            "label.steps[0].chosen_completion")


def test_stepwise_parquet_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = read_prm800k_stepwise("test")[:6]
    cols = {k: [getattr(r, k) for r in rows] for k in (
        "instruction", "next_response", "answer", "is_human_response", "is_solution",
        "is_preferred_response", "rating")}
    cols["responses"] = [list(r.responses) for r in rows]

    def write(name: str, c: dict) -> str:
        path = tmp_path / name
        pq.write_table(pa.table(c), path)
        return str(path)

    _expect(read_prm800k_stepwise, write("nocol.parquet", {k: v for k, v in cols.items()
                                                           if k != "is_solution"}),
            None, "is_solution")
    _expect(read_prm800k_stepwise, write("type.parquet", dict(cols, rating=["1"] * 6)),
            None, "rating")
    _expect(read_prm800k_stepwise, write("null.parquet", dict(
        cols, next_response=cols["next_response"][:4] + [None, "x"])), 5, "next_response")
    _expect(read_prm800k_stepwise, write("val.parquet", dict(
        cols, rating=[1, 1, 2, None, 1, 1])), 3, "rating")
    _expect(read_prm800k_stepwise, write("empty.parquet", {
        k: pa.array([], pa.table(cols).column(k).type) for k in cols}), 1, "instruction")
    trunc = tmp_path / "trunc.parquet"
    trunc.write_bytes(Path(write("ok.parquet", cols)).read_bytes()[:200])
    _expect(read_prm800k_stepwise, str(trunc), None, "instruction")

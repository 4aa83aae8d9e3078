"""Source readers: shipped counts, field parsing, path overrides (docs/data.md#sources)."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from mathft.data.sources import (
    data_file,
    parse_level,
    read_gsm8k,
    read_math,
    read_math500,
    read_prm800k_raw,
    read_prm800k_stepwise,
)


def test_math_counts_and_fields() -> None:
    train, test = read_math("train"), read_math("test")
    assert (len(train), len(test)) == (7500, 5000)
    assert len({p.uid for p in train + test}) == 12500
    p = next(p for p in train if p.uid == "train/algebra/0.json")
    assert p.answer == "0" and p.level == 5 and p.subject == "Algebra" and p.source == "math"
    # the two "Level ?" rows of the original release
    assert sorted(p.uid for p in train if p.level is None) == [
        "train/geometry/377.json", "train/geometry/471.json"]
    assert {p.level for p in train + test} == {1, 2, 3, 4, 5, None}
    # every answer is the last \boxed{} of the solution; only empty boxes give None
    no_answer = [p.uid for p in train + test if p.answer is None]
    assert no_answer == ["train/number_theory/7115.json", "train/number_theory/7117.json"]
    assert all("\\boxed{}" in p.solution for p in train if p.answer is None)


def test_math500_is_a_subset_of_math_test() -> None:
    m500 = read_math500()
    assert len(m500) == 500 and len({p.uid for p in m500}) == 500
    test = {p.uid: p for p in read_math("test")}
    assert all(p.uid in test and test[p.uid].problem == p.problem for p in m500)
    assert {p.level for p in m500} == {1, 2, 3, 4, 5}
    assert all(p.answer for p in m500)


def test_gsm8k() -> None:
    train, test = read_gsm8k("train"), read_gsm8k("test")
    assert (len(train), len(test)) == (7473, 1319)
    assert test[0].uid == "gsm8k/test/0" and test[0].answer == "18"
    assert train[5].uid == "gsm8k/train/5"
    assert all("," not in p.answer and p.answer.strip() == p.answer for p in train + test)
    assert all(p.solution.rstrip().endswith(p.answer) or "," in p.solution.split("####")[-1]
               for p in test)


@pytest.mark.parametrize(("value", "want"), [("Level 3", 3), ("Level ?", None), (4, 4),
                                             ("5", 5)])
def test_parse_level(value: object, want: int | None) -> None:
    assert parse_level(value, file="f", line=1) == want


def _write(path: Path, rows: list[dict], xz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if xz:
        with lzma.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("xz", [False, True])
def test_path_override(tmp_path: Path, xz: bool) -> None:
    name = "mine.jsonl.xz" if xz else "mine.jsonl"
    rows = [{"problem": "1+1?", "level": "Level 1", "type": "Prealgebra",
             "solution": "It is $\\boxed{2}$."},
            {"problem": "2+2?", "level": "Level ?", "type": "Prealgebra",
             "solution": "$\\boxed{\\frac{8}{2}}$", "unique_id": "mine/2"}]
    probs = read_math("train", path=_write(tmp_path / name, rows, xz))
    assert [(p.uid, p.answer, p.level) for p in probs] == [
        ("math/train/0", "2", 1), ("mine/2", "\\frac{8}{2}", None)]
    g = read_gsm8k("test", path=_write(tmp_path / ("g" + name), [
        {"question": "q", "answer": "a\n#### 1,234"}], xz))
    assert g[0].answer == "1234" and g[0].uid == "gsm8k/test/0"


def test_prm800k_raw_and_stepwise_shapes() -> None:
    raw = read_prm800k_raw()
    assert [ln for ln, _ in raw] == [1, 2, 3, 4, 5, 6]
    assert [r["label"]["finish_reason"] for _, r in raw] == [
        "solution", "found_error", "solution", "solution", "give_up", "solution"]
    tr, te = read_prm800k_stepwise("train"), read_prm800k_stepwise("test")
    assert (len(tr), len(te)) == (51835, 5449)
    assert len({r.instruction for r in tr}) == 900 and len({r.instruction for r in te}) == 101
    assert {r.rating for r in tr} == {-1, 0, 1, None}
    assert all(r.rating is None for r in tr if r.is_human_response)
    assert data_file("math", "train").is_file()

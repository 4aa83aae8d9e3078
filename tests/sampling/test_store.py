"""Candidate/score stores: round trip, crash repair, corruption errors, config pinning (docs/design.md#stores)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mathft.records import Candidate
from mathft.sampling.hashing import config_hash
from mathft.sampling.store import CandidateStore, ScoreStore, StoreError, meta_path, score_path

H = "abc123"


def cand(pid: str, i: int, correct: bool = False, h: str = H) -> Candidate:
    return Candidate(pid, i, f"text {pid} {i} \\boxed{{{i}}}", str(i), correct, "m", {"n": 4}, h, 7)


def test_round_trip_and_by_problem(tmp_path: Path) -> None:
    s = CandidateStore(tmp_path / "c.jsonl", config_hash=H, model_id="m", sampling={"n": 4})
    s.append([cand("b", 1), cand("a", 0, True)])
    s.append([cand("b", 0), cand("a", 1)])
    again = CandidateStore(tmp_path / "c.jsonl")  # read-only reopen
    assert again.existing_keys() == {("a", 0), ("a", 1), ("b", 0), ("b", 1)}
    assert again.load()[0] == cand("b", 1)
    grouped = again.by_problem()
    assert [c.sample_idx for c in grouped["b"]] == [0, 1]
    assert grouped["a"][0] == cand("a", 0, True)
    assert json.loads(meta_path(s.path).read_text())["model_id"] == "m"
    again.append([cand("c", 0)])  # reopened without a hash: appends must match the meta's
    with pytest.raises(StoreError, match="config hash zz"):
        again.append([cand("c", 1, h="zz")])
    with pytest.raises(StoreError, match="read-only"):
        CandidateStore(tmp_path / "fresh.jsonl").append([cand("c", 0)])


def test_duplicates_refused_on_append_and_on_load(tmp_path: Path) -> None:
    s = CandidateStore(tmp_path / "c.jsonl", config_hash=H)
    s.append([cand("a", 0)])
    with pytest.raises(StoreError, match="duplicate"):
        s.append([cand("a", 0)])
    with pytest.raises(StoreError, match="duplicate"):
        s.append([cand("a", 1), cand("a", 1)])
    assert len(CandidateStore(s.path)) == 1  # nothing of a refused batch was written
    line = s.path.read_text()
    s.path.write_text(line + line)
    with pytest.raises(StoreError, match=r"c\.jsonl:2: duplicate key"):
        CandidateStore(s.path)


def test_partial_trailing_line_is_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = CandidateStore(tmp_path / "c.jsonl", config_hash=H)
    s.append([cand("a", 0), cand("a", 1)])
    full = s.path.read_bytes()
    torn = json.dumps(cand("a", 2).to_dict()).encode()[:25]
    s.path.write_bytes(full + torn)  # a crash in the middle of a write
    with caplog.at_level(logging.WARNING):
        s2 = CandidateStore(s.path, config_hash=H)
    assert "partial trailing line" in caplog.text
    assert s.path.read_bytes() == full
    assert s2.existing_keys() == {("a", 0), ("a", 1)}
    s2.append([cand("a", 2)])
    assert [c.sample_idx for c in CandidateStore(s.path).load()] == [0, 1, 2]


def test_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    s = CandidateStore(tmp_path / "c.jsonl", config_hash=H)
    s.append([cand("a", 0), cand("a", 1), cand("a", 2)])
    lines = s.path.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:30] + "\n"
    s.path.write_text("".join(lines))
    with pytest.raises(StoreError, match=r"c\.jsonl:2: malformed JSON"):
        CandidateStore(s.path)


@pytest.mark.parametrize(
    ("field", "value", "msg"),
    [
        ("sample_idx", "3", "'sample_idx' has type str"),
        ("correct", 1, "'correct' has type int"),
        ("n_tokens", True, "'n_tokens' has type bool"),
        ("answer", 5, "'answer' has type int"),
        ("problem_id", None, "missing field 'problem_id'"),
    ],
)
def test_bad_field_names_line_and_field(tmp_path: Path, field: str, value, msg: str) -> None:
    p = tmp_path / "c.jsonl"
    recs = [cand("a", 0).to_dict(), cand("a", 1).to_dict()]
    if value is None:
        del recs[1][field]
    else:
        recs[1][field] = value
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(StoreError, match=rf"c\.jsonl:2: .*{msg}"):
        CandidateStore(p)


def test_config_hash_mismatch_refused(tmp_path: Path) -> None:
    s = CandidateStore(tmp_path / "c.jsonl", config_hash=H, model_id="m")
    s.append([cand("a", 0)])
    with pytest.raises(StoreError, match="refusing to mix"):
        CandidateStore(s.path, config_hash="other")
    with pytest.raises(StoreError, match="config hash other"):
        s.append([cand("a", 1, h="other")])
    meta_path(s.path).unlink()
    with pytest.raises(StoreError, match="no .*meta.json"):
        CandidateStore(s.path, config_hash=H)


def test_score_store(tmp_path: Path) -> None:
    cpath = tmp_path / "run" / "candidates.jsonl"
    sp = score_path(cpath, "ev1")
    assert sp == tmp_path / "run" / "candidates.scores.ev1.jsonl"
    s = ScoreStore(sp, "ev1")
    s.append([("a", 0, 0.25), ("a", 1, 1)])
    with pytest.raises(StoreError, match="duplicate"):
        s.append([("a", 0, 0.5)])
    sp.write_bytes(sp.read_bytes() + b'{"problem_id": "a", "sam')
    s2 = ScoreStore(sp, "ev1")
    assert s2.load() == {("a", 0): 0.25, ("a", 1): 1.0}
    with pytest.raises(StoreError, match="evaluator 'ev1', not 'ev2'"):
        ScoreStore(sp, "ev2")
    sp.write_text(sp.read_text().replace("0.25", '"x"'))
    with pytest.raises(StoreError, match=r"scores\.ev1\.jsonl:1: field 'score'"):
        ScoreStore(sp)
    with pytest.raises(ValueError):
        score_path(cpath, "a/b")


def test_config_hash_is_canonical() -> None:
    from omegaconf import OmegaConf

    a = {"model": "m", "sampling": {"n": 4, "top_p": 0.95, "stop": ("x",)}}
    b = {"sampling": {"stop": ["x"], "top_p": 0.95, "n": 4}, "model": "m"}
    assert config_hash(a) == config_hash(b) == config_hash(OmegaConf.create(b))
    assert len(config_hash(a)) == 16
    assert config_hash(a) != config_hash({**a, "model": "m2"})
    with pytest.raises(TypeError):
        config_hash({"x": object()})

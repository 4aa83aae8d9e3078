"""Corrupted inputs (issue 6): each fails with an error naming what and where, and nothing
already saved is overwritten; a torn trailing store line is repaired instead."""

from __future__ import annotations

import copy
import hashlib
import json
import lzma
import os
import signal
from pathlib import Path

import pytest
from _proc import ROOT, ckpt_ready, cli, done, run, run_and_kill, step_dirs
from hydra import compose, initialize_config_dir

from mathft.data.errors import DataError
from mathft.records import Candidate
from mathft.runs.lifecycle import CONF_DIR
from mathft.sampling.store import CandidateStore, ScoreStore, StoreError

RAW = ROOT / "mathft" / "data" / "files" / "prm800k_raw_samples.jsonl.xz"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(root: Path) -> dict[Path, tuple[str, int]]:
    """sha256 and mtime of every file under ``root``."""
    return {p: (_sha(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _cands(n: int) -> list[Candidate]:
    return [Candidate(problem_id=f"p{i // 2}", sample_idx=i % 2, text=f"t{i} \\boxed{{{i}}}",
                      answer=str(i), correct=i % 3 == 0, model_id="m", sampling={"n": 2},
                      config_hash="h", n_tokens=3) for i in range(n)]


# --- half-written / corrupt candidate and score lines ----------------------------------


def test_torn_last_candidate_line_is_repaired_then_resumed(tmp_path):
    path = tmp_path / "candidates.jsonl"
    CandidateStore(path, config_hash="h", model_id="m").append(_cands(6))
    whole = path.read_bytes()
    with open(path, "ab") as f:  # a crash in the middle of the 7th line
        f.write(json.dumps(_cands(7)[6].to_dict())[:25].encode())
    store = CandidateStore(path, config_hash="h", model_id="m")
    assert len(store) == 6 and path.read_bytes() == whole
    store.append(_cands(8)[6:])
    keys = [c.key for c in CandidateStore(path).load()]
    assert len(keys) == len(set(keys)) == 8


@pytest.mark.parametrize("kind", ["candidates", "scores"])
def test_corrupt_middle_line_names_file_and_line_and_is_not_rewritten(tmp_path, kind):
    path = tmp_path / f"{kind}.jsonl"
    if kind == "candidates":
        CandidateStore(path, config_hash="h", model_id="m").append(_cands(6))
        reopen = lambda: CandidateStore(path, config_hash="h", model_id="m")  # noqa: E731
    else:
        ScoreStore(path, "ev").append([(f"p{i}", 0, 0.5) for i in range(6)])
        reopen = lambda: ScoreStore(path, "ev")  # noqa: E731
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][: len(lines[2]) // 2]  # half a record, newline kept: not a torn tail
    path.write_bytes(b"\n".join(lines))
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match=rf"{path}:3\b"):
        reopen()
    assert _snapshot(tmp_path) == before


def test_wrong_typed_field_names_the_field(tmp_path):
    path = tmp_path / "candidates.jsonl"
    CandidateStore(path, config_hash="h", model_id="m").append(_cands(4))
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["sample_idx"] = "one"
    lines[1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match=rf"{path}:2.*sample_idx"):
        CandidateStore(path, config_hash="h", model_id="m")


# --- data files: missing, bad row --------------------------------------------------------


def _data_cfg(*overrides: str):  # noqa: ANN202 - DictConfig
    # CONF_DIR's package registers the schemas conf/ names (stages/schema_ssft ...)
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=["model=tiny", "logger=csv", *overrides]).data


def test_data_file_with_bad_row_names_file_line_field(tmp_path):
    """data.prm800k_path -> a raw PRM800K file whose 3rd row has a non-string step text."""
    from mathft.data.mixtures import ssft_examples_from_config

    rows = [json.loads(x) for x in lzma.open(RAW, "rt").read().splitlines()[:3]]
    bad = copy.deepcopy(rows[2])
    bad["label"]["steps"][0]["completions"][0]["text"] = 7
    path = tmp_path / "prm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], rows[1], bad]))
    before = _snapshot(tmp_path)
    cfg = _data_cfg("data=prm800k", f"data.prm800k_path={path}", "data.prm800k_format=raw")
    with pytest.raises(DataError) as e:
        ssft_examples_from_config(cfg, "train")
    assert (e.value.file, e.value.line) == (str(path), 3)
    assert e.value.field == "label.steps[0].completions[0].text"
    assert str(e.value).startswith(f"{path}:3: field 'label.steps[0].completions[0].text'")
    assert _snapshot(tmp_path) == before


def test_data_config_pointing_at_missing_file(tmp_path):
    from mathft.data.mixtures import ssft_examples_from_config

    missing = tmp_path / "nope" / "prm.parquet"
    cfg = _data_cfg(f"data.prm800k_path={missing}")
    with pytest.raises(DataError, match=rf"{missing}: file not found"):
        ssft_examples_from_config(cfg, "train")


def test_evaluate_with_missing_store_names_path_and_keeps_outputs(tmp_path):
    """Real ``python -m mathft.evaluate`` with stores.test -> a missing file: non-zero exit,
    the error names the path and the config key; the existing greedy store is untouched."""
    greedy = tmp_path / "kept" / "candidates.jsonl"
    CandidateStore(greedy, config_hash="h", model_id="m").append(_cands(4))
    before = _snapshot(tmp_path / "kept")
    missing = tmp_path / "gone" / "candidates.jsonl"
    proc = run(cli("mathft.evaluate", tmp_path, "e", f"stores.test={missing}",
                   f"stores.greedy={greedy}"), timeout=300)
    assert proc.returncode != 0
    assert f"store {missing} does not exist (check stores.*)" in proc.stderr
    failed = json.loads((tmp_path / "runs" / "e" / "failed.json").read_text())
    assert str(missing) in failed["error"]
    assert _snapshot(tmp_path / "kept") == before
    assert not missing.parent.exists()


# --- real entry points on corrupted step outputs (slow) -----------------------------------

# max_steps far beyond the kill point: the first run is killed mid-training, never finishes
TRAIN = ("model=tiny", "data.limit_train=16", "data.limit_val=4", "generator.max_length=64",
         "generator.val_examples=2", "generator.batch_size=2", "run.ckpt_every_n_steps=1",
         "generator.max_steps=200")


@pytest.fixture(scope="module")
def truncated_ckpt_rerun(tmp_path_factory):  # noqa: ANN201 - (ckpt, snapshots, process)
    """An unfinished generator step (``mathft.train`` SIGKILLed after its 2nd step's
    checkpoint) whose last.ckpt was then cut short, and the rerun of the same command on it."""
    tmp = tmp_path_factory.mktemp("truncated")
    rc, _ = run_and_kill(cli("mathft.train", tmp, "a", *TRAIN), ckpt_ready(tmp, "generator", 2))
    assert rc == -signal.SIGKILL
    (gen,) = step_dirs(tmp, "generator")
    assert not (gen / "DONE.json").exists() and not (gen / "model").exists()
    ckpt = gen / "ckpt" / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    before = _snapshot(gen)
    proc = run(cli("mathft.train", tmp, "b", *TRAIN))
    failed = tmp / "runs" / "b" / "failed.json"
    error = json.loads(failed.read_text())["error"] if failed.exists() else ""
    return ckpt, before, _snapshot(gen), proc, error


@pytest.mark.slow
def test_truncated_checkpoint_fails_and_overwrites_nothing(truncated_ckpt_rerun):
    _, before, after, proc, _ = truncated_ckpt_rerun
    assert proc.returncode != 0
    assert after == before


@pytest.mark.slow
def test_truncated_checkpoint_error_names_the_file(truncated_ckpt_rerun):
    ckpt, _, _, _, error = truncated_ckpt_rerun
    assert str(ckpt) in error  # the exception itself, not a 'Restoring states from' log line


@pytest.mark.slow
def test_sample_rerun_on_corrupt_store(tmp_path):
    """``mathft.sample`` over an unfinished store: a corrupt middle line stops it with
    file:line (store untouched); a torn last line is dropped and the store completed."""
    args = ("model=tiny", "generator.path=tiny", "eval.greedy=false", "eval.test.limit=3",
            "eval.test.levels=null", "sampling.n=2", "sampling.max_new_tokens=8",
            "sampling.batch_size=2")
    assert run(cli("mathft.sample", tmp_path, "a", *args)).returncode == 0
    (st,) = step_dirs(tmp_path, "samples_test")
    store = st / "candidates.jsonl"
    good = store.read_bytes()
    (st / "DONE.json").unlink()
    lines = good.split(b"\n")
    store.write_bytes(b"\n".join([*lines[:1], lines[1][:20], *lines[2:]]))
    before = _snapshot(st)
    proc = run(cli("mathft.sample", tmp_path, "b", *args))
    assert proc.returncode != 0 and f"{store}:2" in proc.stderr, proc.stderr[-3000:]
    assert _snapshot(st) == before
    # torn tail: the last record is half written (no newline), the rest intact
    store.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:30])
    os.sync()
    assert run(cli("mathft.sample", tmp_path, "c", *args)).returncode == 0
    rows = [json.loads(x) for x in store.read_text().splitlines()]
    keys = {(r["problem_id"], r["sample_idx"]) for r in rows}
    assert len(rows) == len(keys) == 6 and done(st)["rows"] == 6

"""Fast checks of the reuse layer: store reads that never repair, metrics guards, config
validation, the jsonl problem reader, few-shot stop strings in sampling, checkpoint cleanup."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir

from mathft.data.errors import DataError
from mathft.data.sources import read_problems_jsonl
from mathft.records import Candidate, Problem
from mathft.runs.cache import step
from mathft.runs.lifecycle import CONF_DIR
from mathft.sampling.store import CandidateStore, StoreError


def _cfg(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("pipeline", overrides=list(overrides))


def _cand(pid: str, j: int, h: str = "h") -> Candidate:
    return Candidate(pid, j, "x \\boxed{1}", "1", True, "m", {}, h, 3)


def test_non_utf8_store_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    good = json.dumps(_cand("p", 0).to_dict()).encode() + b"\n"
    f.write_bytes(good + b'{"problem_id": "\xff\xfe"}\n' + good * 1000)
    with pytest.raises(StoreError) as e:
        CandidateStore(f, repair=False).load()
    msg = str(e.value)
    assert msg.startswith(f"{f}:2: not UTF-8 (byte 0xff at column 17)") and len(msg) < 300


def test_read_only_store_never_truncates(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    store = CandidateStore(f, config_hash="h", model_id="m")
    store.append([_cand("p", 0), _cand("p", 1)])
    data = f.read_bytes()[:-7]
    f.write_bytes(data)
    with pytest.raises(StoreError, match=":2: the last line is incomplete"):
        CandidateStore(f, repair=False)
    assert f.read_bytes() == data
    assert len(CandidateStore(f, config_hash="h")) == 1  # a writer (unfinished store) repairs


def test_metrics_refuse_zero_problems_and_unequal_n() -> None:
    from mathft.rerank.candidates import build_problem_candidates
    from mathft.runs.report import cell_metrics

    rr = _cfg().rerank
    with pytest.raises(ValueError, match="0 problems"):
        cell_metrics(rr, [])
    pcs = build_problem_candidates([_cand("a", 0), _cand("a", 1), _cand("b", 0)])
    with pytest.raises(ValueError, match=r"different numbers of samples N \[1, 2\]"):
        cell_metrics(rr, pcs)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["generator.max_steps=0"], "generator.max_steps: must be >= 1, got 0"),
    (["generator.warmup_ratio=1.5"], "generator.warmup_ratio: must be in [0.0, 1.0], got 1.5"),
    (["sampling.n=-1"], "sampling.n must be >= 1"),
    (["sampling.temperature=0", "sampling.n=4"], "sampling.temperature must be > 0"),
    (["objective.name=foo"], "objective.name must be one of"),
    (["trainer.precision=bf17"], "trainer.precision: unknown precision 'bf17'"),
    (["eval.test.path=/x.jsonl"], "eval.test.path: is read only with eval.test.name=jsonl"),
    (["eval.val.name=jsonl"], "eval.val.path: eval.*.name=jsonl needs the problem file's path"),
    (["stages=sequential", "generator.sequential_steps=[1,2]"],
     "generator.sequential_steps: 2 entries for 3 stages"),
    (["evaluator.init=gen"], "evaluator.init: expected one of ['base', 'generator']"),
])
def test_validation_names_the_key(overrides: list[str], expected: str) -> None:
    from mathft.runs.validate import ConfigError, validate

    with pytest.raises(ConfigError) as e:
        validate(_cfg("run.cache_dir=/x", *overrides))
    assert expected in str(e.value)


def test_shipped_configs_validate() -> None:
    from mathft.runs.validate import validate

    for ov in ([], ["experiment=smoke"], ["scale=paper"], ["stages=sequential"],
               ["stages=evaluator"], ["recipe=fewshot"], ["experiment=table6_cross_model"],
               ["finetune=lora"], ["prompt=zero_shot_chat"], ["data=math_prm800k_weighted"]):
        validate(_cfg("run.cache_dir=/x", *ov))


def test_jsonl_problems_and_their_errors(tmp_path: Path) -> None:
    f = tmp_path / "mine.jsonl"
    f.write_text('{"problem": "1+1?", "answer": 2, "level": "Level 1"}\n'
                 '{"problem": "2+2?", "answer": "4", "solution": "\\\\boxed{4}", "id": "q2"}\n')
    ps = read_problems_jsonl(f)
    assert ps == [Problem("mine/1", "1+1?", "2", None, "jsonl", 1),
                  Problem("q2", "2+2?", "4", "\\boxed{4}", "jsonl", None)]
    for line, msg in (('{"answer": 1}', f"{f}:2: field 'problem': missing required field"),
                      ('{"problem": "x", "answer": [1]}', f"{f}:2: field 'answer': expected"),
                      ('{"problem": "x", "answer": 1, "id": "q2"}', "duplicate id 'q2'"),
                      ('{"problem": "x", "answer": 1, "level": "hard"}', "field 'level'"),
                      ('{"problem": "\xff", "answer": 1}', f"{f}:2: field 'problem, answer': "
                                                           "not UTF-8 (byte at column 14)")):
        f.write_bytes(('{"problem": "2+2?", "answer": "4", "id": "q2"}\n' + line + "\n")
                      .encode("utf-8", errors="surrogateescape").replace(b"\xc3\xbf", b"\xff"))
        with pytest.raises(DataError) as e:
            read_problems_jsonl(f)
        assert msg in str(e.value)


class Scripted(torch.nn.Module):
    """A 'model' whose every row continues with the same tokens (stops when told to)."""

    def __init__(self, tok: Any, text: str):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(vocab_size=len(tok))
        self.ids = tok(text, add_special_tokens=False)["input_ids"]

    def generate(self, input_ids: torch.Tensor, stopping_criteria: Any = (), **kw: Any) -> Any:
        out = input_ids
        for t in self.ids:
            out = torch.cat([out, torch.full((out.shape[0], 1), t)], 1)
            if stopping_criteria and bool(stopping_criteria[0](out, None).all()):
                break
        return out


def test_few_shot_sample_stops_at_its_stop_string(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mathft.models.loading import load_tokenizer
    from mathft.runs import steps

    tok = load_tokenizer("embedded:smollm2-135m", padding_side="left")
    model = Scripted(tok, " We add: 1+1 is 2, so the answer is 2.\n\nProblem:\nWhat is 3+3?")
    monkeypatch.setattr(steps, "load_for_inference", lambda path, cfg: (model, tok))
    cfg = _cfg("prompt=fewshot_math", "prompt.k=1", f"run.cache_dir={tmp_path}",
               "sampling.n=2", "sampling.max_new_tokens=64", "sampling.stop_on_answer=false",
               "sampling.engine=hf")  # the scripted model stands in for HF generate
    st = steps.sample(cfg, "p", "base:x", cfg.model, [Problem("u1", "What is 1+1?", "2")],
                      cfg.sampling, "test")
    rows = CandidateStore(st.dir / "candidates.jsonl", repair=False).load()
    assert [r.text for r in rows] == [" We add: 1+1 is 2, so the answer is 2."] * 2
    assert json.loads((st.dir / "key.json").read_text())["sampling.stop"] == ["\n\nProblem:"]
    zero = _cfg("prompt=zero_shot", f"run.cache_dir={tmp_path}")
    assert steps.decoding(zero, zero.sampling)["stop"] == []


def test_finished_training_step_drops_its_checkpoint_unless_kept(tmp_path: Path) -> None:
    from mathft.runs.reuse import remove_checkpoint

    for keep in (True, False):
        st = step(tmp_path, "generator", {"keep": keep})
        (st.dir / "ckpt").mkdir()
        (st.dir / "ckpt" / "last.ckpt").write_bytes(b"x" * 100)
        remove_checkpoint(st, keep=keep)
        assert (st.dir / "ckpt").exists() == keep


def test_worker_parts_without_rows_are_not_partial_work(tmp_path: Path) -> None:
    """A step whose worker part stores hold only their meta sidecars (a run killed before a
    worker's first row) has nothing to resume: dry runs say compute, pins may re-pin."""
    from mathft.runs.reuse import partial

    parts = tmp_path / "candidates.jsonl.parts"
    parts.mkdir()
    (parts / "w0.jsonl.meta.json").write_text('{"config_hash": "x"}')
    (parts / "w0.jsonl").write_text("")
    assert not partial(tmp_path, "samples")
    (parts / "w0.jsonl").write_text('{"row": 1}\n')
    assert partial(tmp_path, "samples")

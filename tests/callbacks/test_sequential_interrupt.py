"""A real interruption: SIGKILL of a training subprocess in stage 2, then resume; and an
interruption in the middle of the in-run sampling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from seqft_harness import N_PROBLEMS, N_SAMPLES, StopRun, read_batches, run

from mathft.sampling.store import CandidateStore

HARNESS = Path(__file__).with_name("seqft_harness.py")
TOTAL = 8  # steps (3, 3, 2)


def _python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(HARNESS), *args], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_sigkill_in_stage2_then_resume(tmp_path, reference_run):
    killed = _python(str(tmp_path), "--kill-at", "4")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "ckpt" / "last.ckpt").exists()
    assert not (tmp_path / "generator").exists()
    store = tmp_path / "candidates" / "stage1.jsonl"
    n_sampled = len(CandidateStore(store).load())
    assert n_sampled == N_PROBLEMS * N_SAMPLES
    done = _python(str(tmp_path), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_batches(tmp_path)
    pids = [r["pid"] for r in rows]
    first, second = pids[0], pids[-1]
    assert first != second
    assert [r["step"] for r in rows if r["pid"] == second] == list(range(4, TOTAL))
    assert [r["stage"] for r in rows if r["pid"] == second] == [1, 1, 2, 2]
    keys = [(c.problem_id, c.sample_idx) for c in CandidateStore(store).load()]
    assert len(keys) == len(set(keys)) == n_sampled  # stage-1 sampling not redone
    from transformers import AutoModelForCausalLM

    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "generator")
    ref = reference_run[2].model
    for (name, a), b in zip(ref.named_parameters(), exported.parameters()):
        assert torch.equal(a, b), name


def test_interrupted_sampling_resumes_without_resampling(tmp_path, reference_run, monkeypatch):
    """Stop the run inside the stage-2 sampling (after its first batch of 8): the resumed run
    completes the store (8 + 4 rows, each once) and ends with the reference's weights."""
    from mathft.sampling.prefix import PrefixEngine  # the in-run engine (auto)

    original = PrefixEngine.stream

    def flaky(self, requests, params):
        for k, out in enumerate(original(self, requests, params)):
            if k == 8:  # the first append (batch_size 8 rows) has landed
                raise StopRun("killed while sampling")
            yield out

    monkeypatch.setattr(PrefixEngine, "stream", flaky)
    with pytest.raises(StopRun):
        run(tmp_path)
    store = tmp_path / "candidates" / "stage1.jsonl"
    assert len(CandidateStore(store).load()) == 8
    monkeypatch.setattr(PrefixEngine, "stream", original)
    trainer, module, stages = run(tmp_path, resume=True)
    assert trainer.global_step == TOTAL
    keys = [(c.problem_id, c.sample_idx) for c in CandidateStore(store).load()]
    assert len(keys) == len(set(keys)) == N_PROBLEMS * N_SAMPLES
    ref_store = {(c.problem_id, c.sample_idx): c.text for c in CandidateStore(
        reference_run[0] / "candidates" / "stage1.jsonl").load()}
    assert {(c.problem_id, c.sample_idx): c.text for c in CandidateStore(store).load()} == ref_store
    for a, b in zip(reference_run[2].model.parameters(), module.model.parameters()):
        assert torch.equal(a, b)

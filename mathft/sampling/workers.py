"""Multi-process sampling: a sampling step's problems over W spawned processes (``sampling.workers``).

On a CPU one decoding process gains little from a second thread (SmolLM2-135M, prefix engine:
+16% from 1 to 2 threads, docs/sampling.md), while two processes of one thread each decode
independently. :func:`sample_in_workers` therefore

- splits the problems into W balanced contiguous slices (:func:`mathft.sampling.shards.select`,
  as ``sampling.shard`` does);
- starts W processes (``spawn``), each with ``torch.set_num_threads(max(1, cores // W))``;
  each loads the model once (``job.load``), builds its engine and runs
  :func:`~mathft.sampling.runner.sample_to_store` over its slice into its own part store
  ``<store>.parts/w<i>.jsonl`` (same config hash, appended every ``sampling.batch_size`` rows,
  so ``batch_size`` is per worker);
- when every worker is done, appends the parts' rows to the step's store in problem order
  (one write + fsync) and removes the parts.

A sample depends only on (seed, problem, sample index) (:mod:`mathft.sampling.draw`), so the
merged store holds the rows of a one-process run, field for field; only the line order
differs (problem order here, finishing order there). Resume: a rerun first moves the rows of
any earlier run's parts (whatever its W) into the store, then each worker skips what is
stored. A worker that fails stops the others, and its exception and traceback are raised in
the parent (:class:`WorkerError`). Workers die with their parent (``PR_SET_PDEATHSIG`` on
Linux, else a parent watchdog), so a killed run leaves no process writing to its parts.
"""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import threading
import time
import traceback
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mathft.records import Problem
from mathft.sampling.engine import SamplingParams
from mathft.sampling.runner import SampleStats
from mathft.sampling.store import CandidateStore, meta_path

log = logging.getLogger(__name__)

AUTO = "auto"


class WorkerError(RuntimeError):
    """A sampling worker failed; the message holds its exception and traceback."""


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads not counted; at least 1)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    cores: int | None = None
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    if not cores:
        try:
            pairs, phys = set(), "0"
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    pairs.add((phys, line.split(":", 1)[1].strip()))
            cores = len(pairs) or None
        except OSError:
            cores = None
    logical = os.cpu_count() or allowed
    per_core = max(1, logical // cores) if cores else 1  # hardware threads per core
    return max(1, allowed // per_core)


def parse_workers(setting: Any) -> int | None:
    """``sampling.workers``: ``auto`` (None) or a positive int; anything else raises."""
    if setting is None or str(setting).strip().lower() == AUTO:
        return None
    try:
        w = int(setting)
        ok = not isinstance(setting, bool) and str(w) == str(setting).strip() and w >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"sampling.workers must be 'auto' or an integer >= 1, got {setting!r}")
    return w


def resolve_workers(setting: Any, engine: str, n_problems: int, device: str = "cpu") -> int:
    """How many processes sample a step: ``auto`` is one per physical core for the ``prefix``
    engine on a CPU with more than one problem, else 1; an int forces it. Never more than
    the problems."""
    w = parse_workers(setting)
    if w is None:
        w = physical_cores() if engine == "prefix" and device == "cpu" and n_problems > 1 else 1
    return max(1, min(w, n_problems))


def threads_per_worker(workers: int) -> int:
    """Torch threads of each of ``workers`` processes: the physical cores shared out."""
    return max(1, physical_cores() // workers)


@dataclass(frozen=True)
class WorkerJob:
    """What every worker needs, picklable: module-level callables (or partials of them),
    importable without Lightning (a worker imports what it unpickles: keep its start cheap).

    ``load() -> (model, tokenizer)``, called once per worker; ``prompt(problem, tokenizer)``.
    """

    load: Callable[[], tuple[Any, Any]]
    engine: str
    precision: str
    params: SamplingParams
    prompt: Callable[[Problem, Any], str]
    model_id: str
    config_hash: str
    engine_kwargs: dict[str, Any] | None = None


def built_prompt(builder: Any, problem: Problem, tokenizer: Any) -> str:
    """``builder.build(problem.problem, tokenizer=tokenizer)``, for a pickled ``WorkerJob.prompt``
    (``functools.partial(built_prompt, builder)``) of a :mod:`mathft.data.prompts` builder."""
    return builder.build(problem.problem, tokenizer=tokenizer)


def parts_dir(store_path: Path) -> Path:
    """Where the workers' part stores of ``store_path`` live."""
    return store_path.with_name(store_path.name + ".parts")


def absorb_parts(store: CandidateStore, problem_ids: Sequence[str]) -> int:
    """Append the rows of every part store of ``store`` that it lacks, in problem order then
    sample index, and remove the parts; returns the rows appended."""
    d = parts_dir(store.path)
    if not d.is_dir():
        return 0
    files = sorted(d.glob("*.jsonl"))
    rows = [c for f in files for c in CandidateStore(f).load()]
    order = {p: k for k, p in enumerate(problem_ids)}
    foreign = sorted({c.problem_id for c in rows if c.problem_id not in order})
    if foreign:
        raise ValueError(f"{d}: part stores hold problems of another problem set "
                         f"(e.g. {foreign[0]!r}); remove {d} to start over")
    done = store.existing_keys()
    new = sorted((c for c in rows if c.key not in done),
                 key=lambda c: (order[c.problem_id], c.sample_idx))
    if new:
        store.append(new)  # one write + fsync; parts stay until it has landed
    for f in files:
        f.unlink()
        meta_path(f).unlink(missing_ok=True)
    for f in d.iterdir():  # tmp files of a torn sidecar write
        f.unlink()
    d.rmdir()
    return len(new)


def sample_in_workers(job: WorkerJob, problems: Sequence[Problem], store: CandidateStore,
                      workers: int, progress: bool = True, poll_s: float = 0.5) -> SampleStats:
    """Sample ``problems`` into ``store`` with ``workers`` processes (see module doc)."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    ids = [p.uid for p in problems]
    absorb_parts(store, ids)  # an earlier (killed) run's rows, whatever its W
    done = store.existing_keys()
    threads = threads_per_worker(workers)
    d = parts_dir(store.path)
    d.mkdir(exist_ok=True)
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    procs, slices = [], []
    from mathft.sampling.shards import select

    for i in range(workers):
        part = select(problems, (i, workers))
        slices.append(part)
        keys = {k for k in done if k[0] in {p.uid for p in part}}
        procs.append(ctx.Process(
            target=_worker_main, name=f"mathft-sampling-{i}", daemon=True,
            args=(job, i, workers, part, keys, str(d / f"w{i}.jsonl"), threads, os.getpid(),
                  messages)))
    log.info("sampling %d problems in %d worker processes x %d threads", len(problems),
             workers, threads)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(problems) * job.params.n - len(done), desc="sampling",
                   unit="sample")
    stats: dict[int, SampleStats] = {}

    def handle(kind: str, i: int, payload: Any) -> None:
        if kind == "rows" and bar is not None:
            bar.update(payload)
        elif kind == "done":
            stats[i] = payload
        elif kind == "error":
            raise WorkerError(f"sampling worker {i}/{workers} ({_span(slices[i])}) failed: "
                              f"{payload[0]}\n--- worker {i} traceback ---\n{payload[1]}")

    try:
        for p in procs:
            p.start()
        checked = time.monotonic()
        while len(stats) < workers:
            try:
                handle(*messages.get(timeout=poll_s))
            except queue_mod.Empty:
                pass
            if time.monotonic() - checked < poll_s:
                continue
            checked = time.monotonic()
            for i, p in enumerate(procs):
                if i in stats or p.is_alive():
                    continue
                while i not in stats:  # its last messages may still be in the queue
                    try:
                        handle(*messages.get(timeout=1.0))
                    except queue_mod.Empty:
                        raise WorkerError(
                            f"sampling worker {i}/{workers} ({_span(slices[i])}) exited with "
                            f"code {p.exitcode} before finishing (killed, or out of memory?); "
                            "rerun to resume from its stored rows") from None
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=30)
        if bar is not None:
            bar.close()
    absorb_parts(store, ids)
    out = SampleStats(requested=len(problems) * job.params.n)
    for s in stats.values():
        out.skipped += s.skipped
        out.generated += s.generated
        out.correct += s.correct
        out.new_tokens += s.new_tokens
    out.seconds = time.perf_counter() - t0
    return out


def _span(part: Sequence[Problem]) -> str:
    return f"problems {part[0].uid} .. {part[-1].uid}" if part else "no problems"


def _die_with_parent(parent: int) -> None:
    """Exit when the parent dies (SIGKILL included): the kernel's parent-death signal on
    Linux, and a watchdog thread everywhere."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _worker_main(job: WorkerJob, index: int, workers: int, problems: Sequence[Problem],
                 done: Collection[tuple[str, int]], part: str, threads: int, parent: int,
                 messages: Any) -> None:
    """One worker: load the model once, sample its slice into its part store."""
    _die_with_parent(parent)
    try:
        import torch

        torch.set_num_threads(threads)
        from mathft.sampling.engine import make_engine
        from mathft.sampling.runner import sample_to_store

        model, tok = job.load()
        model.eval()
        engine = make_engine(job.engine, model, tok, precision=job.precision,
                             **dict(job.engine_kwargs or {}))
        store = CandidateStore(part, config_hash=job.config_hash, model_id=job.model_id,
                               sampling=job.params.to_dict())
        stats = sample_to_store(engine, problems, store, job.params,
                                prompt_fn=lambda p: job.prompt(p, tok), model_id=job.model_id,
                                config_hash=job.config_hash, progress=False, done=done,
                                on_append=lambda n: messages.put(("rows", index, n)))
        messages.put(("done", index, stats))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        messages.put(("error", index, (f"{type(e).__name__}: {e}", traceback.format_exc())))
        raise SystemExit(1) from None


__all__ = ["WorkerError", "WorkerJob", "absorb_parts", "parse_workers", "physical_cores",
           "resolve_workers", "sample_in_workers", "threads_per_worker"]

"""Multi-process sampling: a sampling step's problems over W spawned processes (``sampling.workers``).

On a CPU one decoding process gains little from a second thread (SmolLM2-135M, prefix engine:
+16% from 1 to 2 threads, docs/sampling.md), while two processes of one thread each decode
independently. :func:`sample_in_workers` therefore

- splits the problems into W balanced contiguous slices (:func:`mathft.sampling.shards.select`,
  as ``sampling.shard`` does);
- starts W processes (``forkserver`` with torch and transformers preloaded, else ``spawn``),
  each with ``torch.set_num_threads(max(1, cores // W))``;
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mathft.records import Problem
from mathft.sampling.engine import SamplingParams
from mathft.sampling.factory import make_engine
from mathft.sampling.runner import SampleStats, sample_to_store
from mathft.sampling.shards import select
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


def parse_workers(setting: Any, name: str = "sampling.workers") -> int | None:
    """``sampling.workers`` (or the setting ``name``): ``auto`` (None) or a positive int;
    anything else raises."""
    if setting is None or str(setting).strip().lower() == AUTO:
        return None
    try:
        w = int(setting)
        ok = not isinstance(setting, bool) and str(w) == str(setting).strip() and w >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be 'auto' or an integer >= 1, got {setting!r}")
    return w


def resolve_workers(setting: Any, n_problems: int, *, parallel: bool = True,
                    name: str = "sampling.workers") -> int:
    """How many processes work on a step's ``n_problems``: ``auto`` is one per physical core
    where ``parallel`` (the sampling step: the ``prefix`` engine on the CPU; scoring: always,
    its models are on the CPU) and there is more than one problem, else 1; an int forces it.
    Never more than the problems."""
    w = parse_workers(setting, name)
    if w is None:
        w = physical_cores() if parallel and n_problems > 1 else 1
    return max(1, min(w, n_problems))


def balanced_groups(weights: Sequence[float], parts: int) -> list[list[int]]:
    """Indices of ``weights`` in ``parts`` groups with about equal sums (largest first, each
    to the lightest group), each group in index order; none is empty when
    ``len(weights) >= parts``."""
    groups: list[list[int]] = [[] for _ in range(parts)]
    sums = [0.0] * parts
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        k = min(range(parts), key=lambda k: (sums[k], len(groups[k])))
        groups[k].append(i)
        sums[k] += weights[i]
    return [sorted(g) for g in groups]


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


def run_workers(fn: Callable[..., Any], payloads: Sequence[Any], *, what: str,
                spans: Sequence[str], total: int = 0, unit: str = "row", progress: bool = True,
                poll_s: float = 0.5, cpu: list[float] | None = None,
                threads: int | None = None, exit_wait_s: float = 60.0) -> list[Any]:
    """Run ``fn(payload, report)`` in one spawned process per payload; their results in order.

    ``fn`` is a module-level function (pickled by name); ``report(n)`` advances the progress
    bar by ``n`` of ``total``. Each process has ``torch.set_num_threads(threads_per_worker)``
    and dies with this one. The first failure stops the others and raises :class:`WorkerError`
    with the worker's exception and traceback; ``spans[i]`` names worker i's share of the work.
    ``cpu``, when given, receives each worker's CPU seconds (its own process time);
    ``threads``: torch threads per worker (default :func:`threads_per_worker`);
    ``exit_wait_s``: how long finished workers may take to exit before they are terminated.
    """
    workers = len(payloads)
    threads = threads or threads_per_worker(workers)
    ctx = _context()
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, name=f"mathft-{what}-{i}", daemon=True,
                         args=(fn, payload, i, threads, os.getpid(), messages))
             for i, payload in enumerate(payloads)]
    log.info("%s in %d worker processes x %d threads", what, workers, threads)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=what, unit=unit)
    results: dict[int, Any] = {}
    cpu_s: dict[int, float] = {}

    def handle(kind: str, i: int, payload: Any) -> None:
        if kind == "rows" and bar is not None:
            bar.update(payload)
        elif kind == "done":
            results[i], cpu_s[i] = payload
        elif kind == "error":
            raise WorkerError(f"{what} worker {i}/{workers} ({spans[i]}) failed: "
                              f"{payload[0]}\n--- worker {i} traceback ---\n{payload[1]}")

    try:
        for proc in procs:
            proc.start()
        checked = time.monotonic()
        while len(results) < workers:
            try:
                handle(*messages.get(timeout=poll_s))
            except queue_mod.Empty:
                pass
            if time.monotonic() - checked < poll_s:
                continue
            checked = time.monotonic()
            for i, proc in enumerate(procs):
                if i in results or proc.is_alive():
                    continue
                while i not in results:  # its last messages may still be in the queue
                    try:
                        handle(*messages.get(timeout=1.0))
                    except queue_mod.Empty:
                        raise WorkerError(
                            f"{what} worker {i}/{workers} ({spans[i]}) exited with code "
                            f"{proc.exitcode} before finishing (killed, or out of memory?); "
                            "rerun to resume from its stored rows") from None
    finally:
        # Finished workers exit on their own: wait for them, so that their exit handlers
        # release what they registered (a semaphore terminated mid-teardown is reported as
        # leaked at shutdown); after a failure, or past the wait, stop the rest.
        for proc in procs:
            if len(results) == workers:
                proc.join(timeout=exit_wait_s)
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=30)
        messages.close()
        messages.join_thread()
        if bar is not None:
            bar.close()
    log.info("%s: worker CPU seconds %s", what, [round(cpu_s[i], 1) for i in range(workers)])
    if cpu is not None:
        cpu[:] = [cpu_s[i] for i in range(workers)]
    return [results[i] for i in range(workers)]


def sample_in_workers(job: WorkerJob, problems: Sequence[Problem], store: CandidateStore,
                      workers: int, progress: bool = True) -> SampleStats:
    """Sample ``problems`` into ``store`` with ``workers`` processes (see module doc)."""
    t0 = time.perf_counter()
    ids = [p.uid for p in problems]
    absorb_parts(store, ids)  # an earlier (killed) run's rows, whatever its W
    done = store.existing_keys()
    d = parts_dir(store.path)
    d.mkdir(exist_ok=True)
    slices = [select(problems, (i, workers)) for i in range(workers)]
    payloads = [(job, part, {k for k in done if k[0] in {p.uid for p in part}},
                 str(d / f"w{i}.jsonl")) for i, part in enumerate(slices)]
    stats = run_workers(_sample_slice, payloads, what="sampling",
                        spans=[_span(part) for part in slices],
                        total=len(problems) * job.params.n - len(done), unit="sample",
                        progress=progress)
    absorb_parts(store, ids)
    out = SampleStats(requested=len(problems) * job.params.n)
    for s in stats:
        out.skipped += s.skipped
        out.generated += s.generated
        out.correct += s.correct
        out.new_tokens += s.new_tokens
    out.seconds = time.perf_counter() - t0
    return out


def _span(part: Sequence[Problem]) -> str:
    return f"problems {part[0].uid} .. {part[-1].uid}" if part else "no problems"


def _sample_slice(payload: tuple[Any, ...], report: Callable[[int], None]) -> SampleStats:
    """A sampling worker: load the model once, sample its problems into its part store."""
    job, problems, done, part = payload
    model, tok = job.load()
    model.eval()
    engine = make_engine(job.engine, model, tok, precision=job.precision,
                         **dict(job.engine_kwargs or {}))
    store = CandidateStore(part, config_hash=job.config_hash, model_id=job.model_id,
                           sampling=job.params.to_dict())
    return sample_to_store(engine, problems, store, job.params,
                           prompt_fn=lambda p: job.prompt(p, tok), model_id=job.model_id,
                           config_hash=job.config_hash, progress=False, done=done,
                           on_append=report)


PRELOAD = ("torch", "transformers", "mathft.models.loading", "mathft.data.prompts",
           "mathft.grading", "mathft.sampling.factory", "mathft.sampling.scoring",
           "mathft.sampling.workers")
"""Imported once by the fork server, so that a worker starts in well under a second instead
of importing torch and transformers again (seconds of CPU per worker)."""


def _context() -> Any:
    """``forkserver`` (modules preloaded, no threads started before a fork) where the platform
    has it, else ``spawn``; never a plain fork of a process whose torch may run threads."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(owner: int) -> None:
    """Exit when the process that started the workers (``owner``) dies, SIGKILL included: the
    kernel's parent-death signal on Linux (the fork server exits with its owner), and a
    watchdog thread everywhere."""
    parent = os.getppid()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if not _alive(owner):
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent or not _alive(owner):
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _worker_main(fn: Callable[..., Any], payload: Any, index: int, threads: int, parent: int,
                 messages: Any) -> None:
    """One worker process: ``fn(payload, report)``; its result or error goes to the parent."""
    _die_with_parent(parent)
    try:
        torch.set_num_threads(threads)
        result = fn(payload, lambda n: messages.put(("rows", index, n)))
        messages.put(("done", index, (result, time.process_time())))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        messages.put(("error", index, (f"{type(e).__name__}: {e}", traceback.format_exc())))
        raise SystemExit(1) from None


__all__ = ["WorkerError", "WorkerJob", "absorb_parts", "parse_workers", "physical_cores",
           "resolve_workers", "run_workers", "sample_in_workers", "threads_per_worker",
           "balanced_groups"]

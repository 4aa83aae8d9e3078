"""Helpers the sampling-worker tests hand to spawned processes (importable by module name)."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def failing_load():
    """A model loader that fails inside the worker."""
    raise OSError("no weights in /nowhere (raised inside the worker on purpose)")


def slow_exit_worker(payload: int, report) -> int:
    """A worker that creates a semaphore (the lock of ``tqdm.auto``, which a model load's
    progress bar creates) and then takes a while to exit: a finaliser that runs before the
    lock's own (as a slow teardown would) keeps the semaphore registered for 1.5 s."""
    import time
    from multiprocessing import util

    from tqdm.auto import tqdm

    for _ in tqdm(range(2), file=sys.stderr):
        pass
    util.Finalize(None, time.sleep, args=(1.5,), exitpriority=100)
    report(1)
    return 2 * payload


def compose_cfg(tmp: Path, cache: Path, *extra: str):
    """The real pipeline config on the tiny model, the base model as generator."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pipeline", overrides=[
            "model=tiny", "logger=csv", "generator.train=false", f"run.cache_dir={cache}",
            "sampling.engine=prefix", "sampling.precision=float32", "sampling.n=2",
            "sampling.temperature=0.3",  # peaked draws: the random model is fast to sample
            "sampling.max_new_tokens=16", "sampling.batch_size=4", "eval.test.limit=4",
            "eval.test.levels=null", *extra], return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(tmp / "job")
    HydraConfig.instance().set_config(cfg)
    return cfg


def sample(tmp: Path, cache: Path, *extra: str):
    """Run the test sampling step (as the pipeline does)."""
    from mathft.runs import steps

    cfg = compose_cfg(tmp, cache, *extra)
    problems = steps.problem_set(cfg, "test")
    return steps.sample(cfg, "tiny", "base:tiny", cfg.model, problems, cfg.sampling, "test")


if __name__ == "__main__" and sys.argv[1:] == ["slow-exit"]:  # the semaphore test's subprocess
    from mathft.sampling.workers import run_workers

    print(run_workers(slow_exit_worker, [1, 2], what="t", spans=["a", "b"], progress=False))
elif __name__ == "__main__":  # the kill test's subprocess: tmp cache overrides...
    sample(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])

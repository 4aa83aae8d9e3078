"""Fixtures of the pipeline tests.

``tiny_sweep`` runs one 2-job multirun (``objective.normalize=vocab,pair``: two evaluators
over one generator and one set of samples) into a fresh step cache once per session; the
other tests read its outputs or rerun against its cache (where every step is reused).
"""

from __future__ import annotations

import pytest
from pipeline_cli import TINY, Sweep, cli


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    tmp = tmp_path_factory.mktemp("sweep")
    cache, sweep_dir = tmp / "cache", tmp / "multirun"
    proc = cli("mathft.pipeline",
               ["-m", *TINY, "objective.normalize=vocab,pair", f"run.cache_dir={cache}",
                f"hydra.sweep.dir={sweep_dir}"], tmp)
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: p.name) \
        if sweep_dir.exists() else []
    return Sweep(proc, tmp, cache, sweep_dir, jobs)

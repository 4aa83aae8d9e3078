"""Step directories keyed by the hash of the config that produced them (docs/design.md#steps-and-the-step-cache).

Each pipeline step (SSFT generator, candidate store, evaluator, scores, metrics) writes into
``<cache_root>/<step>/<hash>/``; the hash covers exactly the config that determines the
step's output, including the keys of the steps it consumes. A sweep therefore reuses what
an earlier sweep computed (one SSFT generator for several re-ranking cells). A step is
complete when its ``DONE.json`` marker exists; an incomplete directory is resumed, never
trusted.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from mathft.io import atomic_write_json
from mathft.sampling.hashing import config_hash

DONE = "DONE.json"
KEY = "key.json"


def to_plain(cfg: Any) -> Any:
    """A config (OmegaConf or plain) as JSON-ready plain Python, interpolations resolved."""
    if isinstance(cfg, DictConfig | ListConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    if isinstance(cfg, Mapping):
        return {str(k): to_plain(v) for k, v in cfg.items()}
    if isinstance(cfg, list | tuple):
        return [to_plain(v) for v in cfg]
    return cfg


@dataclass(frozen=True)
class Step:
    """One step's directory: ``root/<name>/<hash>``, its key config and completion marker."""

    name: str
    key: dict[str, Any]
    dir: Path

    @property
    def hash(self) -> str:
        return self.dir.name

    @property
    def done(self) -> bool:
        return (self.dir / DONE).exists()

    def mark_done(self, summary: Mapping[str, Any] | None = None) -> None:
        """Record completion (atomically) with an optional summary of the outputs."""
        atomic_write_json(self.dir / DONE, dict(summary or {}))

    @contextmanager
    def locked(self) -> Iterator[Step]:
        """Hold this step's exclusive lock (``flock`` on ``<dir>/.lock``) while computing it.

        Parallel jobs (joblib/SLURM launchers, two sweeps on one cache) that need the same
        step then compute it once: the second waits, finds ``DONE.json`` and reuses it,
        instead of both appending to one store or overwriting one checkpoint. The OS drops
        the lock when its process dies (kill -9 included).
        """
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def summary(self) -> dict[str, Any]:
        """The summary recorded by :meth:`mark_done` (empty if not done)."""
        path = self.dir / DONE
        return json.loads(path.read_text()) if path.exists() else {}


def step(root: str | os.PathLike[str], name: str, key: Any) -> Step:
    """The step directory for ``key`` (created, with its key written for inspection)."""
    plain = to_plain(key)
    d = Path(root) / name / config_hash(plain, length=12)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / KEY).exists():
        atomic_write_json(d / KEY, plain)
    return Step(name, plain, d)

"""Which weights a store's rows come from: pinned at the first row, checked on resume and merge.

A sample or score step is keyed by the *key* of the model it reads (the training step's
hash), not by its weights. Two trainings under one key can differ: a generator whose
directory was deleted and trained again with another thread count or torch build, or a
partial store carried to another machine that trained its own copy. A resumed or merged
store would then mix rows of two models under one key, silently. So the step that writes a
store records ``weights.json`` (sha256 of the model's weight files,
:func:`~mathft.models.export.weights_digest`) before its first row; a resume, and the merge
of shards, refuses different weights and says what to do (docs/design.md#weights-pins).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from mathft.io import atomic_write_json
from mathft.models.export import weights_digest

PIN = "weights.json"


class WeightsMismatch(RuntimeError):
    """A store's rows so far come from other weights than the model now under the same key."""


def read_pin(step_dir: Path) -> dict[str, str | None] | None:
    """The pin of ``step_dir`` (``{"model", "sha256"}``), or None if it has none."""
    f = step_dir / PIN
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def pin_weights(step_dir: Path, model_path: str | os.PathLike[str], role: str,
                has_rows: bool) -> str | None:
    """Pin the weights of ``model_path`` to ``step_dir`` (first compute) or check them (resume).

    ``has_rows``: the step already holds rows; only then can a different pin be wrong (an empty
    step is re-pinned). Returns the digest. Raises :class:`WeightsMismatch`.
    """
    digest = weights_digest(model_path)
    old = read_pin(step_dir)
    if old is not None and has_rows and old.get("sha256") != digest:
        raise WeightsMismatch(
            f"{step_dir}: its rows so far were computed by {role} weights "
            f"sha256:{_short(old.get('sha256'))} ({old.get('model')}), but the {role} under the "
            f"same key at {model_path} now has sha256:{_short(digest)}: it was trained again "
            "and came out different (another thread count, torch build or machine). Refusing "
            f"to mix rows of two models: move {step_dir} away to compute the step afresh, or "
            f"restore the {role} that wrote it.")
    if old is None or old.get("sha256") != digest:
        atomic_write_json(step_dir / PIN, {"model": str(model_path), "sha256": digest})
    return digest


def same_weights(dirs: Sequence[Path], where: Path | str, what: str = "its shards"
                 ) -> dict[str, str | None] | None:
    """The common pin of the step directories ``dirs`` (shards merged into ``where``, or the
    stores one cell reads from one generator); raises :class:`WeightsMismatch` when two were
    computed by different weights. Directories without a pin are not compared."""
    pins = {d: read_pin(d) for d in dirs}
    digests = {p.get("sha256") for p in pins.values() if p is not None}
    if len(digests) > 1:
        listing = ", ".join(f"{d.parent.name}/{d.name}: sha256:"
                            f"{_short(p.get('sha256') if p else None)}" for d, p in pins.items())
        raise WeightsMismatch(
            f"{where}: {what} were computed by different weights under one key ({listing}): "
            "the model was trained again and came out different; recompute the steps whose "
            "weights differ from the model you keep")
    return next((p for p in pins.values() if p is not None), None)


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "none (not a local weights directory)"


__all__ = ["PIN", "WeightsMismatch", "pin_weights", "read_pin", "same_weights"]

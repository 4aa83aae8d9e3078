"""Stable config hashes: a store records which config produced its samples."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def _plain(obj: Any) -> Any:
    """OmegaConf containers / tuples -> JSON-ready plain Python; other types are an error."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(obj, DictConfig | ListConfig):
            return _plain(OmegaConf.to_container(obj, resolve=True))
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"config keys must be strings to hash, got {k!r}")
            out[k] = _plain(v)
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot hash config value of type {type(obj).__name__}: {obj!r}")


def config_hash(cfg: Mapping[str, Any] | list[Any], length: int = 16) -> str:
    """First ``length`` hex digits of sha256 over canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(_plain(cfg), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]

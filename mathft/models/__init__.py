"""Models: loading (hub id, local dir, embedded GGUF, tiny), SSFT / evaluator modules, export.

Public names are imported lazily so that ``import mathft.models`` stays cheap and cycle-free.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_model_and_tokenizer": "mathft.models.loading",
    "load_tokenizer": "mathft.models.loading",
    "resolve_model_path": "mathft.models.loading",
    "setup_tokenizer": "mathft.models.loading",
    "apply_finetune": "mathft.models.loading",
    "build_tiny_model": "mathft.models.tiny",
    "SSFTModule": "mathft.models.ssft",
    "export_generator": "mathft.models.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mathft.models' has no attribute {name!r}")

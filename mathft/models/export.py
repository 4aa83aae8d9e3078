"""Export a fine-tuned generator as a plain Hugging Face directory (safetensors only).

``merge_lora=True`` (default) merges LoRA adapters into a copy of the base weights so that plain
``AutoModelForCausalLM.from_pretrained(out_dir)`` loads it; ``merge_lora=False`` writes a peft
adapter directory instead (load with ``PeftModel.from_pretrained(base, out_dir)``). The directory
is written to a temporary sibling and renamed into place, so readers never see a partial export.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from mathft.io import replace_dir
from mathft.models.loading import is_peft_model

EXPORT_META = "mathft_export.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def weights_digest(model_dir: str | os.PathLike) -> str | None:
    """sha256 over a saved model's weight files (``*.safetensors``/``*.bin``, name order).

    ``None`` when ``model_dir`` is not a local directory holding weights (a hub id: it is
    named by its id). Two trainings of one step key give the same digest only if they gave
    the same weights bit for bit.
    """
    d = Path(model_dir)
    files = sorted(p for p in d.iterdir() if p.suffix in WEIGHT_SUFFIXES) if d.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def _unwrap(module_or_model: Any) -> torch.nn.Module:
    import pytorch_lightning as pl

    if isinstance(module_or_model, pl.LightningModule):
        model = getattr(module_or_model, "model", None)
        if not isinstance(model, torch.nn.Module):
            raise TypeError("LightningModule has no `.model` language model to export")
        return model
    if not isinstance(module_or_model, torch.nn.Module):
        raise TypeError(f"expected a model or SSFTModule, got {type(module_or_model).__name__}")
    return module_or_model


def export_generator(
    module_or_model: Any,
    tokenizer: Any,
    out_dir: str | os.PathLike,
    merge_lora: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write model (merged or adapter) + tokenizer + ``mathft_export.json`` to ``out_dir``.

    The training model is not modified (merging works on a deep copy).
    """
    model = _unwrap(module_or_model)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)
    was_training = model.training
    # gradient checkpointing turns the KV cache off for training (loading.py); an exported model
    # is for inference, so it is saved with the cache on
    config = getattr(model, "config", None)
    use_cache = getattr(config, "use_cache", None)
    try:
        model.eval()
        if use_cache is False:
            config.use_cache = True
        peft = is_peft_model(model)
        if peft and merge_lora:
            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(str(tmp), safe_serialization=True)
            kind = "merged"
        elif peft:
            model.save_pretrained(str(tmp), safe_serialization=True)
            kind = "adapter"
        else:
            model.save_pretrained(str(tmp), safe_serialization=True)
            kind = "full"
        tokenizer.save_pretrained(str(tmp))
        meta = {"kind": kind, "padding_side": tokenizer.padding_side, **(metadata or {})}
        (tmp / EXPORT_META).write_text(json.dumps(meta, indent=2, default=str))
        replace_dir(tmp, out)
    finally:
        model.train(was_training)
        if use_cache is False:
            config.use_cache = False
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out

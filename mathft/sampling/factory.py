"""Which sampling engine a run uses, and building it (``sampling.engine``/``precision``).

The engines (:mod:`~mathft.sampling.prefix`, :mod:`~mathft.sampling.hf`,
:mod:`~mathft.sampling.vllm_engine`) build on the shared types of
:mod:`mathft.sampling.engine`; this module sits above them all. Importing it imports torch and
transformers (vLLM itself only when a ``vllm`` engine is built).
"""

from __future__ import annotations

from typing import Any

from mathft.sampling import vllm_engine
from mathft.sampling.engine import ENGINES, SamplingEngine, compute_dtype
from mathft.sampling.hf import HFEngine
from mathft.sampling.prefix import PrefixEngine


def _check_kind(kind: str) -> None:
    if kind not in ENGINES:
        raise ValueError(f"unknown sampling engine {kind!r} (sampling.engine); choose one of {ENGINES}")


def resolve_engine(kind: str, precision: str = "auto", model_dtype: str = "float32",
                   model: Any = None) -> dict[str, str]:
    """The engine and compute dtype that :func:`make_engine` will use (part of the samples' key).

    ``auto`` is vLLM where its GPU build is installed with a CUDA device and the model is a
    path or hub id, else ``prefix`` (also where only vLLM's CPU build is installed: on the CPU
    ``prefix`` is the faster engine, docs/sampling.md#vllm). The dtype follows
    :func:`~mathft.sampling.engine.compute_dtype`.
    """
    _check_kind(kind)
    if kind == "auto":
        kind = "vllm" if vllm_engine.vllm_on_gpu() and (model is None or isinstance(model, str)) \
            else "prefix"
    return {"engine": kind, "dtype": compute_dtype(kind, precision, model_dtype)}


def resolve_in_memory_engine(kind: str, precision: str = "auto",
                             model_dtype: str = "float32") -> dict[str, str]:
    """:func:`resolve_engine` for a model held in memory (sampling inside a training run, e.g.
    the sequential stages' candidates): vLLM loads a checkpoint itself, so ``vllm`` and
    ``auto`` both resolve to ``prefix`` there; ``hf`` and ``prefix`` stay."""
    _check_kind(kind)
    return resolve_engine("prefix" if kind in ("auto", "vllm") else kind, precision, model_dtype)


def make_engine(kind: str, model: Any, tokenizer: Any = None, precision: str = "auto",
                model_dtype: str = "float32", **kwargs: Any) -> SamplingEngine:
    """Build an engine: ``prefix`` (shared-prompt continuous batching over a transformers
    decoder; the default), ``hf`` (plain ``generate``, the reference), ``vllm`` (``model`` is
    a path, hub id or ``embedded:<name>``; it runs in the dtype :func:`resolve_engine` keys,
    from ``precision`` and the checkpoint's ``model_dtype``), or ``auto`` (see
    :func:`resolve_engine`)."""
    resolved = resolve_engine(kind, precision, model_dtype, model=model)
    kind = resolved["engine"]
    if kind == "prefix":
        return PrefixEngine(model, tokenizer, precision=precision, **kwargs)
    if kind == "hf":
        return HFEngine(model, tokenizer, **kwargs)
    return vllm_engine.VLLMEngine(model, tokenizer, dtype=resolved["dtype"], **kwargs)


__all__ = ["make_engine", "resolve_engine", "resolve_in_memory_engine"]

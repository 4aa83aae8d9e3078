"""A decode-step forward for Llama-style decoders, used by the ``prefix`` engine.

At one token per row, a transformers forward spends a large share of a CPU's time outside
the matmuls: module dispatch, keyword plumbing, and separate q/k/v and gate/up projections
(small matmuls run below the machine's peak). This forward reads the same weights, runs the
same RMSNorm and rotary modules and calls the same attention as the engine's HF path. It
fuses q/k/v into one matmul and gate/up into another, so greedy outputs stay equal to HF
``generate`` (tested). It applies only to models whose layers all have the Llama layout and
no sliding window: Llama/SmolLM2, Qwen2, Mistral without a window. Others (Gemma 3) use the
HF modules.

On a CPU with AMX tiles, a bf16 model's linear layers run through oneDNN with their weights
reordered once into its blocked layout (:class:`PackedLinear`): at the 16-256 rows of a
decode step ``F.linear`` starts from the plain weight layout on every call and reaches a
quarter to a third of the one-thread bf16 peak, the packed call about half. The packed
matmul computes the same products in another summation order (bf16 inputs, fp32
accumulation), so samples agree with the unpacked step up to bf16 rounding, as they do
across CPUs (benchmarks/README.md, "Intel Xeon with AMX").
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mathft import hardware

SUPPORTED = ("llama", "qwen2", "mistral")


def packing_available(dtype: torch.dtype) -> bool:
    """Whether :class:`PackedLinear` is used for weights of ``dtype``: bf16 on a CPU with AMX
    tiles and torch's oneDNN linear ops (measured faster there at every decode shape)."""
    return (dtype == torch.bfloat16 and torch.backends.mkldnn.is_available()
            and hardware.amx_tiles() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


class PackedLinear:
    """``y = x W^T + b`` with ``W`` reordered once into oneDNN's layout (or plain
    ``F.linear`` where :func:`packing_available` is false)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, packed: bool):
        w = weight.detach()
        self.packed = packed
        self.weight = torch.ops.mkldnn._reorder_linear_weight(w, 64) if packed else w
        self.bias = bias.detach() if bias is not None else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


def _cat(mods: list[Any], attr: str) -> torch.Tensor | None:
    parts = [getattr(m, attr) for m in mods]
    if all(p is None for p in parts):
        return None
    return torch.cat([p if p is not None else torch.zeros(m.out_features, dtype=mods[0].weight.dtype)
                      for p, m in zip(parts, mods)])


class FusedDecoder:
    """Fused weights of one model; :meth:`step` returns next-token logits ``[rows, vocab]``."""

    def __init__(self, model: Any, pack: bool | None = None):
        self.model = model
        self.base = model.model
        dtype = model.lm_head.weight.dtype
        self.packed = packing_available(dtype) if pack is None else pack

        def lin(w: torch.Tensor, b: torch.Tensor | None = None) -> PackedLinear:
            return PackedLinear(w, b, self.packed)

        self.layers = []
        for layer in self.base.layers:
            a, m = layer.self_attn, layer.mlp
            qkv = [a.q_proj, a.k_proj, a.v_proj]
            gu = [m.gate_proj, m.up_proj]
            self.layers.append((
                layer, lin(torch.cat([p.weight for p in qkv]).contiguous(), _cat(qkv, "bias")),
                lin(a.o_proj.weight, a.o_proj.bias),
                lin(torch.cat([p.weight for p in gu]).contiguous(), _cat(gu, "bias")),
                lin(m.down_proj.weight, m.down_proj.bias),
                a.q_proj.out_features, a.k_proj.out_features, m.gate_proj.out_features))
        self.head = lin(model.lm_head.weight, getattr(model.lm_head, "bias", None))

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
            read = [getattr(a, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")] + \
                [getattr(m, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
            # plain linears only: reading a LoRA-wrapped projection's weight would drop its adapter
            if any(type(p) is not torch.nn.Linear for p in read):
                return False
        head = getattr(model, "lm_head", None)
        return hasattr(base, "rotary_emb") and type(head) is torch.nn.Linear

    def step(self, batch: Any, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """One token per row: ``ids`` and ``pos`` are ``[rows]``."""
        x = self.base.embed_tokens(ids)
        cos, sin = self.base.rotary_emb(x[:, None], position_ids=pos[:, None])
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # [rows, 1, d]
        rows = x.shape[0]
        for layer, qkv_proj, o_proj, gu_proj, down_proj, nq, nk, ni in self.layers:
            a = layer.self_attn
            qkv = qkv_proj(layer.input_layernorm(x))
            d = a.head_dim
            q = qkv[:, :nq].view(rows, -1, d)
            k = qkv[:, nq : nq + nk].view(rows, -1, d)
            v = qkv[:, nq + nk :].view(rows, -1, d)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
            keys, values = batch.update(k[:, :, None], v[:, :, None], a.layer_idx)
            att = batch.attend(a, q[:, :, None], keys, values, a.scaling, None)
            x = x + o_proj(att.reshape(rows, -1))
            gu = gu_proj(layer.post_attention_layernorm(x))
            x = x + down_proj(layer.mlp.act_fn(gu[:, :ni]) * gu[:, ni:])
        return self.head(self.base.norm(x)).float()


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


__all__ = ["FusedDecoder", "PackedLinear", "packing_available"]

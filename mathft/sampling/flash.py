"""Attention that also returns its log-sum-exp, for merging partial softmaxes.

The prefix engine and the prefix scorer both split a row's attention into parts (the
shared prompt, the row's own tokens) and merge the parts by their log-sum-exps
(docs/sampling.md, "The `prefix` engine" and "Scoring"). On CPU both use torch's fused
flash kernel, which returns the log-sum-exp and reads grouped key/value heads in place;
elsewhere a plain matmul softmax computes the same thing.
"""

from __future__ import annotations

import torch


def flash_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, *,
              attn_mask: torch.Tensor | None = None,
              causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention ``[B, H, Lq, d]`` and its fp32 log-sum-exp ``[B, H, Lq]``.

    ``k`` and ``v`` may have ``H / g`` heads (grouped queries); ``attn_mask`` is additive
    (0 or -inf, broadcast to ``[B, H, Lq, Lk]``); ``causal`` lets query ``i`` see keys
    ``0..i`` (torch's ``is_causal``: top-left aligned).
    """
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, attn_mask=attn_mask, scale=scale)[:2]
        return out, lse
    return matmul_lse(q, k, v, scale, attn_mask=attn_mask, causal=causal)


def matmul_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, *,
               attn_mask: torch.Tensor | None = None,
               causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`flash_lse` by plain matmuls and an fp32 softmax (devices without the kernel)."""
    if k.shape[1] != q.shape[1]:
        g = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)).float() * scale
    if attn_mask is not None:
        s = s + attn_mask
    if causal:
        s = s.masked_fill(torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool,
                                     device=q.device).triu(1), float("-inf"))
    lse = s.logsumexp(-1)
    return torch.matmul((s - lse.unsqueeze(-1)).exp().to(v.dtype), v), lse

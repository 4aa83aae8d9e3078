"""Next-token draws for temperature + top-p sampling with per-sample, counter-based noise.

A sample's draw at decoding step ``t`` is ``argmax(logits / T + G)`` over the nucleus (the
smallest most-likely token set holding ``top_p`` of the mass), where ``G[v]`` is Gumbel noise
computed from ``(seed, t, v)`` by an integer hash. The draw is therefore an exact sample of
the truncated softmax that depends only on the sample's own seed and logits: not on the
batch it is decoded in, the rows around it, or the order rows are admitted in (what a
continuous-batching engine needs for resumable, reproducible stores). Noise is computed only
for nucleus tokens, so a step costs ``O(batch x top_k_hint)`` beyond the softmax.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _signed(x: int) -> int:
    """A 64-bit constant as the signed int64 torch stores."""
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)
_GOLDEN = _signed(0x9E3779B97F4A7C15)


def _lsr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 values (torch's ``>>`` is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser (int64 arithmetic wraps modulo 2**64)."""
    z = (z ^ _lsr(z, 30)) * _M1
    z = (z ^ _lsr(z, 27)) * _M2
    return z ^ _lsr(z, 31)


def uniform_noise(seeds: torch.Tensor, steps: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Uniforms in (0, 1), one per ``(row seed, row step, token id)``; ``tokens`` is ``[rows, k]``."""
    base = _mix(seeds.to(torch.int64) + _GOLDEN * (steps.to(torch.int64) + 1))
    h = _mix(base.unsqueeze(-1) ^ (tokens.to(torch.int64) * _GOLDEN))
    return (_lsr(h, 40).to(torch.float64) + 0.5) / float(1 << 24)


def draw_tokens(
    logits: torch.Tensor,
    seeds: torch.Tensor,
    steps: torch.Tensor,
    temperature: float,
    top_p: float,
    greedy: bool,
    top_k_hint: int = 256,
) -> torch.Tensor:
    """Next token per row of ``logits`` ``[rows, vocab]``.

    ``seeds`` and ``steps`` (int64, one per row) index each row's noise; greedy is argmax.
    """
    if greedy:
        return logits.argmax(-1)
    scaled = logits.float() / temperature
    rows, vocab = scaled.shape
    if top_p >= 1.0:
        return _pick(scaled, torch.arange(vocab).expand(rows, vocab), None, seeds, steps)
    lse = scaled.logsumexp(-1, keepdim=True)  # no full-vocabulary softmax is materialised
    top, cand = scaled.topk(min(top_k_hint, vocab), dim=-1)
    vals = (top - lse).exp()
    picked = _pick(scaled, cand, _nucleus(vals, top_p), seeds, steps)
    short = (vals.sum(-1) < top_p).nonzero().flatten()
    if len(short):  # nucleus wider than the hint (a flat distribution): sort those rows fully
        top, cand = scaled[short].sort(dim=-1, descending=True)
        vals = (top - lse[short]).exp()
        picked[short] = _pick(scaled[short], cand, _nucleus(vals, top_p), seeds[short],
                              steps[short])
    return picked


def _nucleus(sorted_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Mask of the smallest prefix of each row's sorted probabilities with mass >= top_p."""
    keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
    keep[:, 0] = True
    return keep


def _pick(scaled: torch.Tensor, cand: torch.Tensor, keep: torch.Tensor | None,
          seeds: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Gumbel-max over the candidate token ids ``cand`` (masked by ``keep``) of each row."""
    gumbel = -torch.log(-torch.log(uniform_noise(seeds, steps, cand))).float()
    score = scaled.gather(-1, cand) + gumbel
    if keep is not None:
        score = score.masked_fill(~keep, float("-inf"))
    return cand.gather(-1, score.argmax(-1, keepdim=True)).squeeze(-1)


__all__ = ["draw_tokens", "uniform_noise"]

"""The fused CPU attention with log-sum-exp against its plain-matmul twin (the non-CPU path)."""

import pytest
import torch

from mathft.sampling.flash import flash_lse, matmul_lse


def _reference(q, k, v, scale, mask):
    """Attention spelled out per head, grouped heads repeated, in float64."""
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1).double(), v.repeat_interleave(g, 1).double()
    s = q.double() @ k.transpose(-1, -2) * scale + mask.double()
    return torch.softmax(s, -1) @ v, s.logsumexp(-1)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
@pytest.mark.parametrize("causal", [False, True])
def test_flash_and_matmul_paths_agree(kv_heads: int, causal: bool) -> None:
    gen = torch.Generator().manual_seed(kv_heads + 10 * causal)
    b, h, lq, lk, d = 3, 4, 5, 9, 16
    q = torch.randn(b, h, lq, d, generator=gen)
    k = torch.randn(b, kv_heads, lk, d, generator=gen)
    v = torch.randn(b, kv_heads, lk, d, generator=gen)
    # an additive mask hiding a different key per row, broadcast over heads
    mask = torch.zeros(b, 1, lq, lk)
    for r in range(b):
        mask[r, :, :, 3 + r] = float("-inf")  # query 0 always sees key 0
    full = mask.clone()
    if causal:  # query i sees keys 0..i (torch's is_causal)
        full = full.masked_fill(torch.ones(lq, lk, dtype=torch.bool).triu(1), float("-inf"))
    want_out, want_lse = _reference(q, k, v, 0.25, full)
    for fn in (flash_lse, matmul_lse):
        out, lse = fn(q, k, v, 0.25, attn_mask=mask, causal=causal)
        assert lse.dtype == torch.float32
        torch.testing.assert_close(out.double(), want_out, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(lse.double(), want_lse, atol=1e-5, rtol=1e-5)

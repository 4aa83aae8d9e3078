"""What this machine's CPU can do fast, and the defaults that follow from it.

bf16 matmuls pay on CPUs with AMX tiles or AVX512-BF16 (several times fp32's throughput);
elsewhere they are several times *slower* than fp32. Training precision (``trainer.precision``)
and sampling precision (``sampling.precision=auto``) are therefore chosen from the CPU, not
assumed. The chosen value is resolved when the config is composed, so it is part of every
step key that depends on it.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def amx_tiles() -> bool:
    """Whether this CPU has AMX tiles (torch's own probe; False where torch lacks it)."""
    import torch

    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def fast_bf16() -> bool:
    """Whether this CPU has bf16 matmul kernels worth using (AMX tiles or AVX512-BF16)."""
    import torch

    return amx_tiles() or bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def auto_precision() -> str:
    """Lightning precision for CPU training: ``bf16-mixed`` where bf16 is fast, else ``32-true``."""
    return "bf16-mixed" if fast_bf16() else "32-true"


def register_resolvers() -> None:
    """``${mathft.auto_precision:}`` in the configs (conf/trainer/cpu.yaml)."""
    if not OmegaConf.has_resolver("mathft.auto_precision"):
        OmegaConf.register_new_resolver("mathft.auto_precision", auto_precision)

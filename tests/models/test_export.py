"""Export -> plain from_pretrained (or peft adapter) -> identical logits; loader behaviour."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mathft.models.export import EXPORT_META, export_generator
from mathft.models.loading import load_model_and_tokenizer, resolve_model_path, torch_dtype
from mathft.models.ssft import SSFTModule

LORA = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def _perturb_lora(model: torch.nn.Module) -> None:
    """LoRA B starts at zero (adapter = identity); make it non-trivial so merging matters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _logits(model, tok) -> torch.Tensor:
    batch = tok(["Problem:\nWhat is 1+1?\n\nSolution:", "x"], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_export_full_roundtrip(tmp_path):
    module = SSFTModule({"name_or_path": "tiny", "seed": 3})
    out = export_generator(module, module.tokenizer, tmp_path / "gen")
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.pad_token_id == module.tokenizer.pad_token_id
    torch.testing.assert_close(_logits(reloaded, tok), _logits(module.model, tok), rtol=0, atol=0)
    assert json.loads((out / EXPORT_META).read_text())["kind"] == "full"
    assert list(out.glob("*.safetensors")) and not list(out.glob("*.bin"))
    # re-export replaces atomically: no temporary directories left behind
    export_generator(module, module.tokenizer, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


@pytest.mark.parametrize("finetune", [None, LORA], ids=["full", "lora"])
def test_export_of_a_checkpointed_model_keeps_the_kv_cache(tmp_path, finetune):
    """model.gradient_checkpointing turns use_cache off for training; the exported model (for
    sampling) has it on, and the training model keeps it off."""
    model, tok = load_model_and_tokenizer("tiny", finetune=finetune, gradient_checkpointing=True)
    assert model.config.use_cache is False
    out = export_generator(model, tok, tmp_path / "gen")
    assert json.loads((out / "config.json").read_text())["use_cache"] is True
    assert model.config.use_cache is False


def test_export_lora_merged_and_adapter(tmp_path):
    from peft import PeftModel

    model, tok = load_model_and_tokenizer("tiny", seed=3, finetune=LORA)
    _perturb_lora(model)
    ref = _logits(model, tok)
    base_only, _ = load_model_and_tokenizer("tiny", seed=3)
    assert not torch.allclose(ref, _logits(base_only, tok), atol=1e-3)  # adapter changes outputs

    merged_dir = export_generator(model, tok, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(_logits(merged, tok), ref, rtol=1e-5, atol=1e-5)
    assert isinstance(model, PeftModel)  # training model left unmerged

    adapter_dir = export_generator(model, tok, tmp_path / "adapter", merge_lora=False)
    assert (adapter_dir / "adapter_config.json").exists()
    assert json.loads((adapter_dir / EXPORT_META).read_text())["kind"] == "adapter"
    base, _ = load_model_and_tokenizer("tiny", seed=3)
    reloaded = PeftModel.from_pretrained(base, adapter_dir)
    torch.testing.assert_close(_logits(reloaded, tok), ref, rtol=1e-6, atol=1e-6)


def test_embedded_cache_is_plain_and_reused(smollm2_dir):
    from pathlib import Path

    d = Path(smollm2_dir)
    assert (d / "config.json").exists() and list(d.glob("*.safetensors"))
    assert not list(d.parent.glob(".smollm2-135m.tmp-*"))
    assert resolve_model_path("embedded:smollm2-135m") == smollm2_dir
    assert resolve_model_path("some/hub-id") == "some/hub-id"
    with pytest.raises(ValueError, match="unknown embedded model"):
        resolve_model_path("embedded:nope")


def test_loader_options():
    model, tok = load_model_and_tokenizer("tiny", padding_side="left", dtype="bf16",
                                          gradient_checkpointing=True)
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.is_gradient_checkpointing
    with pytest.raises(ValueError, match="dtype"):
        torch_dtype("float8")
    with pytest.raises(ValueError, match="padding_side"):
        load_model_and_tokenizer("tiny", padding_side="middle")
    with pytest.raises(ValueError, match="finetune.method"):
        load_model_and_tokenizer("tiny", finetune={"method": "qlora"})

"""The SSFT loss with the LM head applied only at labelled positions equals the full-logits loss
(value and gradients), for plain, packed, LoRA and soft-capped (Gemma-style) models."""

from __future__ import annotations

import pytest
import torch

from mathft.data.collate import IGNORE_INDEX, SSFTCollator, pack_examples, tokenize_examples
from mathft.models.loading import apply_finetune
from mathft.models.ssft import _split_head, completion_loss, completion_loss_terms, model_inputs
from mathft.models.tiny import build_tiny_model


def _full(model, batch):
    return completion_loss_terms(model(**model_inputs(batch)).logits, batch["labels"])


def _assert_same_loss_and_grads(model, batch):
    assert _split_head(model) is not None  # the fast path is the one under test
    params = [p for p in model.parameters() if p.requires_grad]
    s_fast, n_fast = completion_loss(model, batch)
    g_fast = torch.autograd.grad(s_fast, params, allow_unused=True)
    s_full, n_full = _full(model, batch)
    g_full = torch.autograd.grad(s_full, params, allow_unused=True)
    assert int(n_fast) == int(n_full) > 0
    torch.testing.assert_close(s_fast, s_full, atol=1e-4, rtol=1e-5)
    for a, b in zip(g_fast, g_full):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("packed", [False, True])
def test_labelled_head_equals_full_logits(make_examples, tokenizer, packed):
    model = build_tiny_model(tokenizer, seed=2)
    toks, _ = tokenize_examples(make_examples(5), tokenizer)
    if packed:
        batch = SSFTCollator(tokenizer.pad_token_id, packed=True)(
            pack_examples(toks, max_length=3 * max(len(t) for t in toks)))
    else:
        batch = SSFTCollator(tokenizer.pad_token_id)(toks)
    assert (batch["labels"] == IGNORE_INDEX).any()  # prompts/padding are really skipped
    _assert_same_loss_and_grads(model, batch)


def test_labelled_head_lora(make_examples, tokenizer):
    model = apply_finetune(build_tiny_model(tokenizer, seed=3),
                           {"method": "lora", "r": 4, "dropout": 0.0})
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # non-zero adapters, so a path that skipped them would differ
            torch.nn.init.normal_(p, std=0.2)
    batch = SSFTCollator(tokenizer.pad_token_id)(tokenize_examples(make_examples(3), tokenizer)[0])
    _assert_same_loss_and_grads(model, batch)


def test_labelled_head_applies_final_logit_softcap(make_examples, tokenizer):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
        final_logit_softcapping=0.02, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(4)
    model = Gemma3ForCausalLM(cfg)
    batch = SSFTCollator(tokenizer.pad_token_id)(tokenize_examples(make_examples(3), tokenizer)[0])
    _assert_same_loss_and_grads(model, batch)
    # negative control: a cap this small changes the loss, so ignoring it would be caught
    model.config.final_logit_softcapping = None
    uncapped, capped = completion_loss(model, batch)[0], _full_capped(model, batch, 0.02)[0]
    assert abs(float(uncapped - capped)) > 0.1  # >> the 1e-4 tolerance above


def _full_capped(model, batch, cap):
    logits = model(**model_inputs(batch)).logits
    return completion_loss_terms(torch.tanh(logits / cap) * cap, batch["labels"])


def test_rescaled_heads_take_the_full_logits_path(tokenizer):
    model = build_tiny_model(tokenizer, seed=5)
    model.config.logit_scale = 0.25
    assert _split_head(model) is None


def test_no_labelled_position_gives_zero(tokenizer):
    model = build_tiny_model(tokenizer, seed=6)
    ids = torch.tensor([[5, 6, 7, 8]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "labels": torch.full_like(ids, IGNORE_INDEX)}
    loss_sum, count = completion_loss(model, batch)
    assert int(count) == 0 and float(loss_sum) == 0.0

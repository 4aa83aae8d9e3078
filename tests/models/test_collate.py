"""Completion-only masking, truncation, packing (no cross-attention, same loss) and batching."""

from __future__ import annotations

import logging

import pytest
import torch

from mathft.data.collate import (
    IGNORE_INDEX,
    LengthGroupedBatchSampler,
    SSFTCollator,
    pack_examples,
    tokenize_example,
    tokenize_examples,
)
from mathft.data.templates import format_prompt
from mathft.models.ssft import completion_loss_terms, model_inputs
from mathft.models.tiny import build_tiny_model


def test_prompt_masked_target_kept(tokenizer, examples):
    ex = examples[1]
    tok, truncated = tokenize_example(ex, tokenizer)
    assert not truncated
    n_prompt = len(tokenizer(format_prompt(ex.problem))["input_ids"])
    assert tok.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    target = tok.labels[n_prompt:]
    assert IGNORE_INDEX not in target
    assert target == tok.input_ids[n_prompt:]
    assert target[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(target[:-1]) == " " + ex.solution


def test_truncation_counted_and_warned_once(make_examples, tokenizer, caplog):
    exs = make_examples(4, reps=8)
    lengths = [len(tokenize_example(e, tokenizer)[0]) for e in exs]
    limit = sorted(lengths)[1]
    n_prompt = len(tokenizer(format_prompt(exs[0].problem))["input_ids"])
    with caplog.at_level(logging.WARNING, logger="mathft.data.collate"):
        toks, stats = tokenize_examples(exs, tokenizer, max_length=limit)
        _, stats_tiny = tokenize_examples(exs[:1], tokenizer, max_length=n_prompt)
    assert stats.truncated == sum(n > limit for n in lengths) >= 2
    assert all(len(t) <= limit for t in toks) and len(toks) == 4
    assert stats_tiny.dropped == 1  # only prompt tokens left: no target, dropped
    assert sum("truncated" in r.message for r in caplog.records) == 2  # one warning per call


def test_overlong_drop_keeps_only_whole_examples(make_examples, tokenizer, caplog):
    exs = make_examples(4, reps=8)
    full = [tokenize_example(e, tokenizer)[0] for e in exs]
    limit = sorted(len(t) for t in full)[1]
    with caplog.at_level(logging.WARNING, logger="mathft.data.collate"):
        toks, stats = tokenize_examples(exs, tokenizer, max_length=limit, overlong="drop")
    fits = [t for t in full if len(t) <= limit]
    assert toks == fits and len(fits) >= 1 and stats.truncated == 4 - len(fits)
    # every kept example ends with its EOS: nothing was cut
    assert all(t.labels[-1] == tokenizer.eos_token_id for t in toks)
    assert any("left out (overlong=drop)" in r.message for r in caplog.records)
    with pytest.raises(ValueError, match="overlong must be one of"):
        tokenize_example(exs[0], tokenizer, max_length=limit, overlong="cut")


def test_collator_pads_right_and_masks_padding(tokenizer, examples):
    toks, _ = tokenize_examples(examples, tokenizer)
    b = SSFTCollator(tokenizer.pad_token_id)(toks)
    for r, t in enumerate(toks):
        n = len(t)
        assert b["attention_mask"][r, :n].all() and not b["attention_mask"][r, n:].any()
        assert (b["labels"][r, n:] == IGNORE_INDEX).all()
    assert int(b["num_tokens"]) == sum(len(t) for t in toks)


def test_pad_token_missing_tokenizer_batches(make_examples, smollm2_dir):
    from transformers import AutoTokenizer

    from mathft.models.loading import setup_tokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tok.pad_token = None
    assert tok.pad_token_id is None
    with pytest.raises(ValueError, match="pad_token_id"):
        SSFTCollator(tok.pad_token_id)
    setup_tokenizer(tok)
    assert tok.pad_token_id == tok.eos_token_id
    assert len(tok) == len(AutoTokenizer.from_pretrained(smollm2_dir))  # no new embedding row
    toks, _ = tokenize_examples(make_examples(3), tok)
    b = SSFTCollator(tok.pad_token_id)(toks)
    # pad == eos, yet each example's final eos is still a target
    for r, t in enumerate(toks):
        assert b["labels"][r, len(t) - 1] == tok.eos_token_id


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_unpacked(make_examples, tokenizer, attn):
    model = build_tiny_model(tokenizer, seed=1, attn_implementation=attn).eval()
    toks, _ = tokenize_examples(make_examples(6), tokenizer)
    packs = pack_examples(toks, max_length=3 * max(len(t) for t in toks))
    assert any(len(p) > 1 for p in packs)
    plain = SSFTCollator(tokenizer.pad_token_id)(toks)
    packed = SSFTCollator(tokenizer.pad_token_id, packed=True)(packs)
    assert "attention_mask" not in packed
    with torch.no_grad():
        lp = model(**model_inputs(plain)).logits
        lk = model(**model_inputs(packed)).logits
    s1, n1 = completion_loss_terms(lp, plain["labels"])
    s2, n2 = completion_loss_terms(lk, packed["labels"])
    assert n1 == n2 == sum(t.n_target for t in toks)
    assert torch.allclose(s1 / n1, s2 / n2, atol=1e-5, rtol=0)
    row = {t.uid: i for i, t in enumerate(toks)}
    for r, pack in enumerate(packs):
        c = 0
        for t in pack:
            n = len(t)
            torch.testing.assert_close(lk[r, c : c + n], lp[row[t.uid], :n], atol=1e-4, rtol=1e-4)
            c += n
    # negative control: without restarting positions, examples see each other -> logits differ
    leaky = dict(packed, position_ids=torch.arange(packed["input_ids"].size(1)).expand_as(
        packed["input_ids"]))
    with torch.no_grad():
        ll = model(**model_inputs(leaky)).logits
    s3, _ = completion_loss_terms(ll, packed["labels"])
    assert not torch.allclose(s3 / n2, s1 / n1, atol=1e-4)


def test_pack_examples_fits_and_keeps_all(make_examples, tokenizer):
    toks, _ = tokenize_examples(make_examples(10), tokenizer)
    limit = 2 * max(len(t) for t in toks)
    packs = pack_examples(toks, limit, seed=3)
    assert sorted(t.uid for p in packs for t in p) == sorted(t.uid for t in toks)
    assert all(sum(len(t) for t in p) <= limit for p in packs)
    assert len(packs) < len(toks)
    with pytest.raises(ValueError, match="max_length"):
        pack_examples(toks, 4)


def test_length_grouped_sampler_covers_and_groups():
    lengths = [5, 100, 7, 98, 6, 99, 8, 97]
    s = LengthGroupedBatchSampler(lengths, 2, seed=0, mega_batch_mult=10)
    batches = list(s)
    assert len(batches) == len(s) == 4
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 3 for b in batches)
    assert list(s) == batches  # deterministic for a given seed and epoch
    shards = [list(LengthGroupedBatchSampler(lengths, 3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 2  # global batches of 6: no example lost
    assert not set(sum(shards[0], [])) & set(sum(shards[1], []))
    assert sorted(sum(shards[0], []) + sum(shards[1], [])) == list(range(8))

"""Scoring stored candidates: one forward pass, padding/batch invariance, resume (docs/method.md#evaluator-score)."""

from __future__ import annotations

import math

import pytest
import torch

from mathft.data.templates import format_evaluator_prompt
from mathft.models.evaluator import EvaluatorModule, label_token_ids
from mathft.sampling.scoring import score_batch, score_store, score_texts
from mathft.sampling.store import CandidateStore, ScoreStore


def _items(make_problems, make_candidates):
    probs = make_problems(3)
    cands = make_candidates(probs, n=4, long=0)
    for j, c in enumerate(cands["p1"]):
        c.text += " Let us double-check." * (3 * j)   # varied lengths -> real padding
    return probs, cands, [(probs[c.problem_id].problem, c.text) for cs in cands.values()
                          for c in cs]


def test_score_is_s_cls_at_last_token(tokenizer, tiny_model, make_problems, make_candidates):
    probs, cands, items = _items(make_problems, make_candidates)
    pos, neg = label_token_ids(tokenizer)
    got = score_texts(tiny_model, tokenizer, items[:2], batch_size=2)
    for (p, s), g in zip(items[:2], got):
        ids = torch.tensor([tokenizer(format_evaluator_prompt(p, s))["input_ids"]])
        with torch.no_grad():
            last = tiny_model(ids).logits[0, -1]
        want = math.exp(last[pos]) / (math.exp(last[pos]) + math.exp(last[neg]))
        assert g == pytest.approx(want, abs=1e-6)


def test_padding_side_and_batch_composition_do_not_matter(tokenizer, tiny_model, make_problems,
                                                          make_candidates):
    _, _, items = _items(make_problems, make_candidates)
    ref = torch.tensor(score_texts(tiny_model, tokenizer, items, batch_size=1))
    assert len(set(ref.tolist())) > 6   # the candidates really differ
    for bs in (3, 16):
        for side in ("left", "right"):
            got = torch.tensor(score_texts(tiny_model, tokenizer, items, batch_size=bs,
                                           padding_side=side))
            assert torch.allclose(got, ref, atol=1e-5), (bs, side, (got - ref).abs().max())
    # one row alone vs next to a much longer row
    pos, neg = label_token_ids(tokenizer)
    short, long_ = ([5, 6, 7], list(range(100, 160)))
    alone = score_batch(tiny_model, [short], tokenizer.pad_token_id, pos, neg, "left")
    both = score_batch(tiny_model, [long_, short], tokenizer.pad_token_id, pos, neg, "left")
    assert both[1] == pytest.approx(alone[0], abs=1e-5)


def _stores(tmp_path, cands):
    cstore = CandidateStore(tmp_path / "cands.jsonl", config_hash="h", model_id="gen")
    cstore.append([c.__class__(**{**c.to_dict(), "config_hash": "h"})
                   for cs in cands.values() for c in cs])
    return cstore


class _FailAfter(torch.nn.Module):
    """Wraps a model; raises on forward call number ``n + 1`` (a crash mid-run)."""

    def __init__(self, model, n):
        super().__init__()
        self.model, self.n = model, n

    def forward(self, **kw):
        if self.n == 0:
            raise RuntimeError("simulated crash")
        self.n -= 1
        return self.model(**kw)


def test_score_store_resumes(tokenizer, tiny_model, make_problems, make_candidates, tmp_path):
    probs, cands, _ = _items(make_problems, make_candidates)
    cstore = _stores(tmp_path, cands)
    out = tmp_path / "scores.jsonl"
    with pytest.raises(RuntimeError, match="simulated crash"):
        score_store(_FailAfter(tiny_model, 2), tokenizer, cstore, probs, out, batch_size=5,
                    evaluator_id="ev", progress=False)
    assert len(ScoreStore(out)) == 10   # two batches were appended before the crash
    stats = score_store(tiny_model, tokenizer, tmp_path / "cands.jsonl", probs, out,
                        batch_size=5, evaluator_id="ev", progress=False)
    assert stats == {"scored": 2, "skipped": 10, "truncated": 0}
    resumed = ScoreStore(out).load()
    fresh = tmp_path / "fresh.jsonl"
    score_store(tiny_model, tokenizer, cstore, probs, fresh, batch_size=4, evaluator_id="ev",
                progress=False)
    ref = ScoreStore(fresh).load()
    assert resumed.keys() == ref.keys() == {c.key for cs in cands.values() for c in cs}
    assert all(abs(resumed[k] - ref[k]) < 1e-5 for k in ref)
    # nothing left: a rerun scores nothing
    again = score_store(tiny_model, tokenizer, cstore, probs, ScoreStore(out, "ev"),
                        progress=False)
    assert again["scored"] == 0


def test_score_store_accepts_module_and_checks_inputs(tokenizer, tiny_model, make_problems,
                                                      make_candidates, tmp_path):
    probs, cands, _ = _items(make_problems, make_candidates)
    module = EvaluatorModule(tiny_model, tokenizer=tokenizer)
    out = tmp_path / "s.jsonl"
    stats = score_store(module, tokenizer, cands, probs, out, evaluator_id="ev", progress=False,
                        max_length=40)
    assert stats["scored"] == 12 and stats["truncated"] > 0
    scores = ScoreStore(out).load()
    assert all(0.0 < v < 1.0 for v in scores.values())
    # the module's own template is used by default
    custom = EvaluatorModule(tiny_model, tokenizer=tokenizer,
                             template="Q: {problem}\nA: {solution}\nThe answer above is")
    score_store(custom, tokenizer, cands, probs, tmp_path / "c.jsonl", evaluator_id="c",
                progress=False, max_length=40)
    other = ScoreStore(tmp_path / "c.jsonl").load()
    assert all(abs(other[k] - scores[k]) > 1e-6 for k in scores)
    with pytest.raises(ValueError, match="no problem text"):
        score_store(tiny_model, tokenizer, cands, {"p0": probs["p0"]}, tmp_path / "x.jsonl",
                    evaluator_id="ev", progress=False)
    with pytest.raises(ValueError, match="evaluator_id"):
        score_store(tiny_model, tokenizer, cands, probs, tmp_path / "y.jsonl", progress=False)
    with pytest.raises(ValueError, match="not 'other'"):
        score_store(tiny_model, tokenizer, cands, probs, ScoreStore(out, "ev"),
                    evaluator_id="other", progress=False)


def _varied_items(make_problems, make_candidates):
    """Many candidates per problem with very different lengths, a problem with one candidate,
    and two identical candidates (their common prefix is the whole prompt)."""
    probs, cands, items = _items(make_problems, make_candidates)
    for j, c in enumerate(cands["p2"]):
        c.text = ("So " * (7 * j)) + c.text
    items = [(probs[c.problem_id].problem, c.text) for cs in cands.values() for c in cs]
    items += [("What is 9 + 9?", "It is 18.")]  # alone
    items += [("What is 8 + 8?", "It is $\\boxed{16}$.")] * 2  # identical
    return items


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_prefix_path_equals_plain(kind, tokenizer, tiny_model, make_problems, make_candidates):
    """The shared-prefix path gives the plain path's S_cls (GQA, q/k/v biases, any batch)."""
    from mathft.sampling.scoring import PrefixScorer, prefix_supported

    model = tiny_model
    if kind == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(1)
        model = Qwen2ForCausalLM(Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)).eval()
    assert prefix_supported(model)
    items = _varied_items(make_problems, make_candidates)
    ref = torch.tensor(score_texts(model, tokenizer, items, batch_size=4, method="plain"))
    assert len(set(ref.tolist())) > 10
    for bs in (1, 3, 16):
        got = torch.tensor(score_texts(model, tokenizer, items, batch_size=bs, method="prefix"))
        assert torch.allclose(got, ref, atol=1e-5, rtol=0), (bs, (got - ref).abs().max())
    # small windows: prefixes are prefilled and dropped a few problems at a time
    from mathft.data.evaluator_data import encode_many

    ids, _ = encode_many(tokenizer, items, 1024)
    scorer = PrefixScorer(model, label_token_ids(tokenizer), tokenizer.pad_token_id,
                          window_rows=3)
    got = torch.zeros(len(ids), dtype=torch.float64)
    seen = []
    for chunk, scores in scorer.batches(ids, [p for p, _ in items], 2):
        got[chunk] = torch.tensor(scores, dtype=torch.float64)
        seen += chunk
    assert sorted(seen) == list(range(len(ids)))
    assert torch.allclose(got.float(), ref, atol=1e-5, rtol=0)


def test_bfloat16_scores_follow_fp32(tokenizer, tiny_model, make_problems, make_candidates):
    """evaluator.score_precision=bfloat16 (auto on CPUs with fast bf16 kernels): both paths run
    in bf16 (the prefix path's fp32 log-sum-exps are cast for the merge) and give the fp32
    scores up to bf16 rounding."""
    import copy

    items = _varied_items(make_problems, make_candidates)
    ref = torch.tensor(score_texts(tiny_model, tokenizer, items, batch_size=4, method="plain"))
    bf16 = copy.deepcopy(tiny_model).to(torch.bfloat16)
    for method in ("prefix", "plain"):
        got = torch.tensor(score_texts(bf16, tokenizer, items, batch_size=4, method=method))
        assert torch.allclose(got, ref, atol=1e-2, rtol=0), (method, (got - ref).abs().max())


def test_prefix_path_is_used_where_it_applies(tokenizer, tiny_model):
    from mathft.sampling.scoring import prefix_supported

    assert not prefix_supported(_FailAfter(tiny_model, 1))  # a wrapper: the plain path
    items = [("What is 1 + 1?", "2"), ("What is 1 + 1?", "3")]
    with pytest.raises(ValueError, match="prefix scoring does not support"):
        score_texts(_FailAfter(tiny_model, 9), tokenizer, items, method="prefix")
    with pytest.raises(ValueError, match="method"):
        score_texts(tiny_model, tokenizer, items, method="fast")
    assert tiny_model.config._attn_implementation == "sdpa"
    score_texts(tiny_model, tokenizer, items, method="prefix")
    assert tiny_model.config._attn_implementation == "sdpa"  # restored


def test_score_workers_equal_one_process_and_resume(tokenizer, tiny_model, make_problems,
                                                    make_candidates, tmp_path):
    """2 scoring processes give the scores of one; a killed run's part scores are kept."""
    import functools

    from mathft.models.loading import load_model_and_tokenizer
    from mathft.sampling.scoring import ScoreJob, score_in_workers, score_parts_dir

    probs, cands, _ = _items(make_problems, make_candidates)
    tiny_model.save_pretrained(tmp_path / "ev")
    tokenizer.save_pretrained(tmp_path / "ev")
    all_c = [c for cs in cands.values() for c in cs]
    ref_path = tmp_path / "ref.jsonl"
    score_store(tiny_model, tokenizer, all_c, probs, ref_path, batch_size=3, evaluator_id="ev",
                progress=False)
    ref = ScoreStore(ref_path).load()
    out = ScoreStore(tmp_path / "s.jsonl", "ev")
    part = ScoreStore(score_parts_dir(out.path) / "w0.jsonl", "ev")  # as a killed worker left it
    part.append([(*all_c[5].key, ref[all_c[5].key])])
    job = ScoreJob(load=functools.partial(load_model_and_tokenizer, str(tmp_path / "ev")),
                   batch_size=3)
    stats = score_in_workers(job, all_c, probs, out, 2, progress=False)
    assert stats == {"scored": 11, "skipped": 1, "truncated": 0}
    got = ScoreStore(out.path).load()
    # the killed run's score first (kept at the start), then the rest in candidate order
    assert list(got) == [all_c[5].key] + [c.key for c in all_c if c.key != all_c[5].key]
    assert got.keys() == ref.keys() and max(abs(got[k] - ref[k]) for k in ref) < 1e-5
    assert not score_parts_dir(out.path).exists()


def test_label_logits_keep_fp32_resolution_on_a_bf16_model(tokenizer, tiny_model):
    """S_cls's logits come from the LM head's two label rows applied in fp32 (Eq. 7): a bf16
    head would round l+ and l- to 8 mantissa bits and tie candidates re-ranking must order."""
    import copy

    from mathft.models.evaluator import label_logits

    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    pos, neg = label_token_ids(tokenizer)
    w = model.get_output_embeddings().weight[[pos, neg]]
    torch.manual_seed(0)
    # 64 candidates of one problem: nearby last hidden states, label logits near 16
    wf = w.float()
    base = wf.sum(0) * 16 / (wf.sum(0) @ wf.T).mean()
    h = (base + 0.02 * base.abs().mean() * torch.randn(64, w.shape[1])).to(torch.bfloat16)
    two = label_logits(model, h, (pos, neg))
    assert two.dtype == torch.float32
    assert torch.allclose(two, h.float() @ wf.T, atol=1e-4, rtol=1e-5)
    bf16_head = torch.nn.functional.linear(h, w).float()
    assert bf16_head.abs().min() > 8   # logits where bf16's step is 1/16 or more
    assert len(set((two[:, 0] - two[:, 1]).tolist())) == 64
    assert len(set((bf16_head[:, 0] - bf16_head[:, 1]).tolist())) < 32
    model.config.final_logit_softcapping = 4.0   # Gemma's final soft-capping is applied
    capped = label_logits(model, h, (pos, neg))
    assert torch.allclose(capped, torch.tanh(two / 4.0) * 4.0, atol=1e-5)

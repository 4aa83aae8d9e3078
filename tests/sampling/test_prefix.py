"""The shared-prefix continuous-batching engine against the HF reference engine."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from mathft.sampling.draw import draw_tokens
from mathft.sampling.engine import Request, SamplingParams, compute_dtype, sample_seed
from mathft.sampling.factory import resolve_engine
from mathft.sampling.fused import FusedDecoder, PackedLinear, packing_available
from mathft.sampling.hf import HFEngine
from mathft.sampling.prefix import PrefixEngine

PROMPTS = [
    "Problem:\nWhat is $1+1$?\n\nSolution:",
    "Problem:\nCompute $\\frac{3}{4}+\\frac{1}{4}$ and simplify the result.\n\nSolution:",
    "Problem:\nSolve $x^2=4$.\n\nSolution:",
]


def _texts(gens) -> list[str]:
    return [g.text for g in gens]


def test_greedy_equals_hf_generate(tiny_model, tok) -> None:
    p = SamplingParams(greedy=True, max_new_tokens=16, batch_size=8, stop_on_answer=False)
    reqs = [Request(x) for x in PROMPTS]
    ref = HFEngine(tiny_model, tok).generate_requests(reqs, p)
    fused = PrefixEngine(tiny_model, tok, precision="float32")
    assert fused.fused is not None  # Llama layout: the fused decode step
    out = fused.generate_requests(reqs, p)
    assert _texts(out) == _texts(ref)
    plain = PrefixEngine(tiny_model, tok, precision="float32", fused=False)
    assert _texts(plain.generate_requests(reqs, p)) == _texts(ref)
    assert [g.n_tokens for g in out] == [g.n_tokens for g in ref]


def test_first_token_can_end_a_sample(tiny_model, tok) -> None:
    """The token drawn at admission is checked like any other: max_new_tokens=1 gives one
    token, and an end token first gives an empty sample (no step decodes past it)."""
    eng = PrefixEngine(tiny_model, tok, precision="float32")
    reqs = [Request(x) for x in PROMPTS]
    one = SamplingParams(greedy=True, max_new_tokens=1, batch_size=4, stop_on_answer=False)
    out = eng.generate_requests(reqs, one)
    assert [g.n_tokens for g in out] == [1, 1, 1]
    assert _texts(out) == _texts(HFEngine(tiny_model, tok).generate_requests(reqs, one))
    first = [tok.encode(g.text, add_special_tokens=False)[0] for g in out]
    eng.tok = copy.copy(tok)
    eng.tok.eos_token = tok.convert_ids_to_tokens(first[0])
    ended = eng.generate_requests(reqs[:1], SamplingParams(greedy=True, max_new_tokens=8,
                                                           batch_size=4, stop_on_answer=False))
    assert ended[0].n_tokens == 0 and ended[0].finish_reason == "eos"


def test_gemma3_sliding_window_equals_hf(tok) -> None:
    """Gemma 3's local layers (window 6 < prompt + generation) and global layers, greedy."""
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                           num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=16, sliding_window=6, max_position_embeddings=256,
                           layer_types=["sliding_attention", "sliding_attention",
                                        "full_attention", "sliding_attention"],
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id)
    model = Gemma3ForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)  # peaked logits: no near-ties in the argmax
    p = SamplingParams(greedy=True, max_new_tokens=12, batch_size=4, stop_on_answer=False)
    reqs = [Request(x) for x in PROMPTS]
    ref = HFEngine(model, tok).generate_requests(reqs, p)
    eng = PrefixEngine(model, tok, precision="float32")
    assert eng.fused is None  # sliding-window layers: the model's own modules
    assert _texts(eng.generate_requests(reqs, p)) == _texts(ref)


def test_samples_do_not_depend_on_batch_or_admission_order(tiny_model, tok) -> None:
    eng = PrefixEngine(tiny_model, tok, precision="float32")
    reqs = [Request(x, sample_seed(3, str(i), j)) for i, x in enumerate(PROMPTS) for j in range(4)]
    wide = eng.generate_requests(reqs, SamplingParams(max_new_tokens=8, batch_size=64))
    # 2 rows at a time: prompts split into units, admitted one after another as rows finish
    narrow = eng.generate_requests(reqs[::-1], SamplingParams(max_new_tokens=8, batch_size=2))
    assert _texts(narrow[::-1]) == _texts(wide)
    assert len(set(_texts(wide))) > len(PROMPTS)  # the samples of one prompt differ


def test_stream_yields_every_request_once(tiny_model, tok) -> None:
    eng = PrefixEngine(tiny_model, tok, precision="float32")
    reqs = [Request(x, j) for x in PROMPTS for j in range(3)]
    seen = [i for i, _ in eng.stream(reqs, SamplingParams(max_new_tokens=5, batch_size=4))]
    assert sorted(seen) == list(range(len(reqs)))
    assert tiny_model.config._attn_implementation != "mathft_prefix"  # restored afterwards


def test_draw_is_per_row_and_exact() -> None:
    logits = torch.randn(6, 50) * 3
    seeds, steps = torch.arange(6) * 1000 + 7, torch.tensor([0, 1, 2, 3, 4, 5])
    a = draw_tokens(logits, seeds, steps, 0.9, 0.95, greedy=False)
    perm = torch.tensor([5, 3, 1, 0, 2, 4])
    b = draw_tokens(logits[perm], seeds[perm], steps[perm], 0.9, 0.95, greedy=False)
    assert torch.equal(a[perm], b)
    # frequencies follow the truncated softmax
    row = torch.tensor([[2.0, 1.0, 0.0, -3.0]]).repeat(20000, 1)
    picks = draw_tokens(row, torch.arange(20000), torch.zeros(20000, dtype=torch.long), 1.0, 1.0,
                        greedy=False)
    freq = torch.bincount(picks, minlength=4).float() / 20000
    assert torch.allclose(freq, row[0].softmax(-1), atol=0.015)


def test_resolve_engine() -> None:
    assert resolve_engine("prefix", "float32")["dtype"] == "float32"
    assert resolve_engine("hf", "auto", "float32") == {"engine": "hf", "dtype": "float32"}
    assert resolve_engine("auto")["engine"] in ("prefix", "vllm")
    with pytest.raises(ValueError, match="sampling.precision"):
        resolve_engine("prefix", "fp8")
    with pytest.raises(ValueError, match="sampling.engine"):
        resolve_engine("prefx")
    # the rule the prefix engine casts its model by (engine.compute_dtype) is the keyed one
    assert compute_dtype("hf", "auto", "torch.float32") == "float32"
    assert compute_dtype("prefix", "bfloat16", "float32") == "bfloat16"


def test_lora_wrapped_model_keeps_its_adapter(tiny_model, tok) -> None:
    """An unmerged LoRA model is not fused (that would drop the adapter) and samples equal
    the merged model's."""
    import copy

    from peft import LoraConfig, get_peft_model

    lora = get_peft_model(copy.deepcopy(tiny_model),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj", "up_proj"]))
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    p = SamplingParams(greedy=True, max_new_tokens=10, batch_size=4, stop_on_answer=False)
    reqs = [Request(x) for x in PROMPTS]
    eng = PrefixEngine(lora, tok, precision="float32")
    assert eng.fused is None
    merged = copy.deepcopy(lora).merge_and_unload().eval()
    ref = HFEngine(merged, tok).generate_requests(reqs, p)
    assert _texts(eng.generate_requests(reqs, p)) == _texts(ref)
    base = HFEngine(tiny_model, tok).generate_requests(reqs, p)
    assert _texts(ref) != _texts(base)  # the adapter matters


@pytest.mark.parametrize("fused", [True, False])
def test_bfloat16_decodes_like_hf_on_the_bf16_model(tiny_model, tok, fused: bool) -> None:
    """precision=bfloat16 (what ``auto`` picks on CPUs with AVX512-BF16 or AMX): the engine
    casts its copy of the model, decodes in bf16 (the fp32 log-sum-exps of the attention merge
    are cast back). Greedy, it starts like HF ``generate`` on the same bf16 model; the two
    sum in different orders, so in bf16 their paths may part after a few tokens (parity on
    real problems: docs/sampling.md#precision)."""
    model = copy.deepcopy(tiny_model)
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)  # peaked logits: bf16 rounding cannot flip the argmax
    p = SamplingParams(greedy=True, max_new_tokens=12, batch_size=4, stop_on_answer=False)
    reqs = [Request(x) for x in PROMPTS]
    eng = PrefixEngine(model, tok, precision="bfloat16", fused=fused)
    assert next(eng.model.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is not cast
    ref = HFEngine(copy.deepcopy(model).to(torch.bfloat16), tok).generate_requests(reqs, p)
    ids = [tok.encode(g.text, add_special_tokens=False)[:2] for g in ref]
    got = [tok.encode(g.text, add_special_tokens=False)[:2] for g in eng.generate_requests(reqs, p)]
    assert got == ids
    sampled = eng.generate_requests([Request(x, j) for x in PROMPTS for j in range(2)],
                                    SamplingParams(max_new_tokens=8, batch_size=4))
    assert len(sampled) == 6 and len({g.text for g in sampled}) > 1


@pytest.mark.skipif(not packing_available(torch.bfloat16),
                    reason="oneDNN weight packing is used only on CPUs with AMX tiles")
def test_packed_linears_compute_the_same_step(tiny_model, tok) -> None:
    """On AMX CPUs the bf16 fused step runs its linears with oneDNN-packed weights: each equals
    ``F.linear`` up to bf16 rounding, at every row count a decode step has, and greedy decoding
    starts like the unpacked step (same peaked model as above)."""
    torch.manual_seed(0)
    for rows in (1, 7, 64, 200):
        x = torch.randn(rows, 96, dtype=torch.bfloat16)
        w, b = torch.randn(80, 96, dtype=torch.bfloat16), torch.randn(80, dtype=torch.bfloat16)
        got, ref = PackedLinear(w, b, True)(x), F.linear(x, w, b)
        assert got.shape == ref.shape
        torch.testing.assert_close(got.float(), ref.float(), rtol=2e-2, atol=0.25)
    model = copy.deepcopy(tiny_model)
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    p = SamplingParams(greedy=True, max_new_tokens=12, batch_size=4, stop_on_answer=False)
    reqs = [Request(x) for x in PROMPTS]
    packed = PrefixEngine(model, tok, precision="bfloat16")
    assert packed.fused is not None and packed.fused.packed
    plain = PrefixEngine(model, tok, precision="bfloat16")
    plain.fused = FusedDecoder(plain.model, pack=False)
    first = [[tok.encode(g.text, add_special_tokens=False)[:2] for g in e.generate_requests(reqs, p)]
             for e in (packed, plain)]
    assert first[0] == first[1]


def test_unpacked_linear_is_f_linear() -> None:
    """Where packing is not used (fp32, or no AMX) the step's linears are exactly ``F.linear``."""
    x, w = torch.randn(5, 12), torch.randn(7, 12)
    assert torch.equal(PackedLinear(w, None, False)(x), F.linear(x, w))


def _decode_batch(lengths: list[int], rows_per_unit: int, layers: int = 1,
                  kvh: int = 2, d: int = 8, max_new: int = 12):
    """A decode-state batch: one unit per entry of ``lengths``, its rows that many tokens in,
    random prompt and generated caches (positions past a row's length hold junk)."""
    from mathft.sampling.prefix import _Batch, _Unit

    torch.manual_seed(0)
    batch = _Batch(capacity=len(lengths) * rows_per_unit, max_new=max_new)
    for u_i, n in enumerate(lengths):
        unit = _Unit(ids=list(range(3 + u_i)), requests=[])
        unit.keys = [torch.randn(kvh, 3 + u_i, d) for _ in range(layers)]
        unit.values = [torch.randn(kvh, 3 + u_i, d) for _ in range(layers)]
        for _ in range(rows_per_unit):
            batch.units.append(unit)
            unit.requests.append(len(batch.req))
            batch.req.append(len(batch.req))
            batch.tokens.append(list(range(n)))
            batch.done.append(None)
            batch.slot.append(None)
    batch.resegment()
    shape = (batch.capacity, kvh, max_new, d)
    batch.gen_k = [torch.randn(shape) for _ in range(layers)]
    batch.gen_v = [torch.randn(shape) for _ in range(layers)]
    batch.write_at = torch.tensor([len(t) - 1 for t in batch.tokens])
    return batch


def _attention_inputs(batch, heads: int = 4, d: int = 8):
    """Random queries for every row, the keys/values its cache holds, a layer-0 module."""
    from types import SimpleNamespace

    q = torch.randn(len(batch), heads, 1, d)
    used = int(batch.write_at.max()) + 1
    k, v = batch.gen_k[0][: len(batch), :, :used], batch.gen_v[0][: len(batch), :, :used]
    return q, k, v, SimpleNamespace(layer_idx=0)


@pytest.mark.parametrize("lengths,rows_per_unit", [([7, 2, 5], 3), ([9, 8, 8, 6, 3, 1], 1)])
def test_own_token_attention_per_unit_equals_one_masked_call(lengths: list[int],
                                                             rows_per_unit: int) -> None:
    """Each unit's rows attend to exactly their own tokens: the same output as the masked call
    over all rows padded to the longest (the sliding-window path, here with a window wider
    than any row, so that it masks only the padding), whether units get a call each or small
    ones share a masked call (the second case: one row per unit, as in greedy decoding)."""
    batch = _decode_batch(lengths, rows_per_unit=rows_per_unit)
    q, k, v, layer = _attention_inputs(batch)
    out = batch.attend(layer, q, k, v, 0.3, None)
    assert torch.allclose(out, batch.attend(layer, q, k, v, 0.3, 10_000), atol=1e-5)
    # and it reads nothing past a unit's length: junk there does not change the output
    for cache in (batch.gen_k[0], batch.gen_v[0]):
        for s, e, _ in batch.segments:
            cache[s:e, :, int(batch.write_at[s]) + 1:] = 1e4
    assert torch.equal(batch.attend(layer, q, k, v, 0.3, None), out)


def test_small_units_share_an_attention_call_and_large_ones_do_not() -> None:
    """Greedy decoding (a row per prompt, lengths apart by a token or two) makes one call for
    many units; a few prompts of many rows with lengths far apart keep a call each, unpadded."""
    greedy = _decode_batch(list(range(40, 0, -2)), rows_per_unit=1, max_new=48)
    chunks = greedy.own_chunks()
    assert len(chunks) < len(greedy.segments) // 4
    assert sum(e - s for s, e, _, _ in chunks) == len(greedy)
    assert all(m for s, e, _, m in chunks if e - s > 1)
    sampled = _decode_batch([160, 80, 10], rows_per_unit=32, max_new=192)
    assert [(s, e, n) for s, e, n, _ in sampled.own_chunks()] == [(0, 32, 160), (32, 64, 80),
                                                                  (64, 96, 10)]
    assert not any(m for *_, m in sampled.own_chunks())


@pytest.mark.parametrize("drop", [[0], [4], [1, 2, 7], [8], list(range(9))])
def test_compact_keeps_each_kept_rows_cache(drop: list[int]) -> None:
    """Dropping finished rows moves the later ones up with every position they wrote; rows
    before the first dropped one stay put."""
    batch = _decode_batch([6, 3, 9], rows_per_unit=3, layers=2)
    before = [(batch.req[i], [c[i, :, : len(batch.tokens[i])].clone()
                              for c in (*batch.gen_k, *batch.gen_v)])
              for i in range(len(batch)) if i not in drop]
    for i in drop:
        batch.done[i] = "eos"
    batch.compact()
    assert batch.req == [r for r, _ in before]
    for i, (_, caches) in enumerate(before):
        for c, want in zip((*batch.gen_k, *batch.gen_v), caches):
            assert torch.equal(c[i, :, : want.shape[1]], want)
    assert [e - s for s, e, _ in batch.segments] == [
        sum(1 for i in range(3 * u, 3 * u + 3) if i not in drop) for u in range(3)
        if any(i not in drop for i in range(3 * u, 3 * u + 3))]


@pytest.mark.parametrize("window", [None, 6])
def test_pooled_prompts_attend_like_a_call_per_prompt(window: int | None) -> None:
    """Single-row units whose prompts sit in the padded pools get the attention output of a
    call per prompt: each row reads exactly its own prompt (and, with a sliding window, only
    the keys still inside it), whatever the padding and the other slots hold."""
    from mathft.sampling.prefix import _Unit

    batch = _decode_batch([9, 8, 8, 6, 3, 1], rows_per_unit=1)  # prompts of 3..8 tokens
    long = _Unit(ids=list(range(40)), requests=[])  # a second length class
    long.keys, long.values = [torch.randn(2, 40, 8)], [torch.randn(2, 40, 8)]
    batch.units[2] = long
    long.requests.append(2)
    batch.resegment()
    q, k, v, layer = _attention_inputs(batch)
    per_prompt = batch.attend(layer, q, k, v, 0.3, window)
    units = [u for _, _, u in batch.segments]
    for i, u in enumerate(units):
        batch.slot[i:i + 1] = batch.pool(u)
    assert batch.slot == [(32, 0), (32, 1), (64, 0), (32, 2), (32, 3), (32, 4)]
    assert all(u.pooled and not u.keys for u in units)
    batch._memo.clear()
    pooled = batch.attend(layer, q, k, v, 0.3, window)
    assert len(batch.pool_plan(window, q.dtype)) == 2  # a call per length class
    assert torch.allclose(pooled, per_prompt, atol=1e-5)
    for pool in batch.pools.values():  # junk past each slot's prompt
        for cache in (pool.keys[0], pool.values[0]):
            for i, n in enumerate(pool.length.tolist()):
                cache[i, :, n:] = 1e4
    assert torch.equal(batch.attend(layer, q, k, v, 0.3, window), pooled)


def test_pool_classes_bound_the_padding() -> None:
    from mathft.sampling.prefix import pool_class

    assert [pool_class(n) for n in (1, 32, 33, 128, 129, 160, 161, 255, 256, 257, 1000)] == \
        [32, 32, 64, 128, 160, 160, 192, 256, 256, 320, 1024]
    assert all(n <= pool_class(n) <= max(n + 31, 1.25 * n) for n in range(1, 5000))


def test_a_finished_rows_slot_is_reused_and_the_pool_grows() -> None:
    """Compaction frees a finished row's slot; the next single-row unit of that length class
    takes the lowest free slot, and a full pool grows, keeping the prompts already there."""
    from mathft.sampling.prefix import _Unit

    batch = _decode_batch([4, 4, 4], rows_per_unit=1, layers=2)
    units = [u for _, _, u in batch.segments]
    kept = [u.keys[1].clone() for u in units]
    for i, u in enumerate(units):
        batch.slot[i:i + 1] = batch.pool(u)
    batch.done[1] = "eos"
    batch.compact()
    assert batch.slot == [(32, 0), (32, 2)]

    def unit(n: int, request: int) -> _Unit:
        u = _Unit(ids=list(range(n)), requests=[request])
        u.keys = [torch.randn(2, n, 8) for _ in range(2)]
        u.values = [torch.randn(2, n, 8) for _ in range(2)]
        return u

    first, second = unit(20, 7), unit(30, 8)
    want = [first.keys[1].clone(), second.keys[1].clone()]
    assert batch.pool(first) == [(32, 1)]
    batch.slot.append((32, 1))
    assert batch.pool(second) == [(32, 3)]  # past the pool's 3 rows: it grows
    pool = batch.pools[32]
    assert pool.keys[1].shape[0] >= 4 and pool.length[[1, 3]].tolist() == [20, 30]
    assert torch.equal(pool.keys[1][1, :, :20], want[0])
    assert torch.equal(pool.keys[1][3, :, :30], want[1])
    for slot, u in ((0, 0), (2, 2)):
        assert torch.equal(pool.keys[1][slot, :, :3 + u], kept[u])


def test_pooled_greedy_equals_a_call_per_prompt(tiny_model, tok, monkeypatch) -> None:
    """Greedy decoding through the pool gives the same outputs as with the pool switched off,
    with rows finishing and new prompts taking their slots (batch of 2, 6 prompts)."""
    import mathft.sampling.prefix as prefix

    reqs = [Request(x + " " * i) for i in range(2) for x in PROMPTS]
    p = SamplingParams(greedy=True, max_new_tokens=10, batch_size=2, stop_on_answer=False)
    eng = PrefixEngine(tiny_model, tok, precision="float32")
    pooled = eng.generate_requests(reqs, p)
    monkeypatch.setattr(prefix, "POOL_MAX_ROWS", 0)
    assert _texts(eng.generate_requests(reqs, p)) == _texts(pooled)

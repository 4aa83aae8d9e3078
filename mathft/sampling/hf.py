"""Batched Hugging Face ``generate`` engine (docs/method.md#decoding).

Rows are (prompt x sample) pairs, sorted by prompt length and left-padded into batches,
decoded with the KV cache. Sampling draws each row's next token from its own
``torch.Generator`` (seeded per sample, see :func:`~mathft.sampling.engine.sample_seed`)
inside a logits processor, and ``generate`` then takes the argmax of the one-hot result:
a row's samples therefore do not depend on the other rows of its batch. A stopping
criterion ends each row once its answer is closed (or a stop string appears); finished
rows are padded while the others continue. Prompts are tokenized with the tokenizer's
special tokens (BOS where the model has one), as the SSFT collator does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, StoppingCriteria

from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingEngine,
    SamplingParams,
    answer_end,
    closer_mask,
    truncate_at_stop,
)


class PerRowSampler(LogitsProcessor):
    """Temperature + top-p (nucleus) sampling with one generator per row (Gumbel-max).

    Each step draws one Gumbel noise vector per row from the row's own generator and
    takes ``argmax(logits / T + noise)`` over the nucleus: an exact sample of the
    truncated softmax that, unlike CDF inversion, only flips under near-exact logit ties,
    so the draw is stable against the tiny numeric differences between batch shapes.
    The nucleus is found among the ``top_k_hint`` most likely tokens when they hold
    ``top_p`` of the mass (the usual case for a trained model), else by a full sort.
    Returns scores that are ``-inf`` everywhere but the drawn token, so greedy selection
    in ``generate`` picks exactly the draw.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        temperature: float,
        top_p: float,
        device: Any,
        top_k_hint: int = 256,
    ):
        self.gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p
        self.top_k_hint = top_k_hint

    def _nucleus(self, probs: torch.Tensor, top_vals: torch.Tensor, top_idx: torch.Tensor):
        """Token ids of the smallest most-likely set with mass >= top_p."""
        if top_vals.sum() < self.top_p:
            top_vals, top_idx = probs.sort(descending=True)
        keep = int(((top_vals.cumsum(0) - top_vals) < self.top_p).sum())
        return top_idx[: max(keep, 1)]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            probs = logits.softmax(-1)
            top_vals, top_idx = probs.topk(min(self.top_k_hint, probs.shape[-1]), dim=-1)
            masked = torch.full_like(logits, float("-inf"))
            for i in range(logits.shape[0]):
                ids = self._nucleus(probs[i], top_vals[i], top_idx[i])
                masked[i, ids] = logits[i, ids]
            logits = masked
        v = logits.shape[-1]
        u = torch.stack([torch.rand(v, generator=g, device=logits.device) for g in self.gens])
        gumbel = -torch.log(-torch.log(u.clamp_(min=1e-20, max=1 - 1e-7)))
        picks = (logits + gumbel).argmax(-1)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(-1, picks.view(-1, 1), 0.0)
        return out


class AnswerStop(StoppingCriteria):
    """Per-row stop once the generated text has a closed answer or contains a stop string.

    Decoding is done only for rows whose newest token can close an answer (contains ``}``
    or a newline), unless stop strings are set; ``self.stopped`` records which rows fired.
    """

    def __init__(
        self, tokenizer: Any, prompt_len: int, params: SamplingParams, closers: torch.Tensor
    ):
        self.tok = tokenizer
        self.prompt_len = prompt_len
        self.params = params
        self.closers = closers
        self.stopped: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        b = input_ids.shape[0]
        if self.stopped is None:
            self.stopped = torch.zeros(b, dtype=torch.bool)
        last = input_ids[:, -1].cpu()
        if self.params.stop:
            check = ~self.stopped
        else:
            check = ~self.stopped & self.closers[last]
        for i in torch.nonzero(check).flatten().tolist():
            text = self.tok.decode(input_ids[i, self.prompt_len :], skip_special_tokens=True)
            if truncate_at_stop(text, self.params)[1]:
                self.stopped[i] = True
        return self.stopped.clone().to(input_ids.device)


class HFEngine(SamplingEngine):
    """Sampling engine over a transformers causal LM and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tok = tokenizer
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self._closers: torch.Tensor | None = None

    def closers(self) -> torch.Tensor:
        """Tokens that can close an answer (:func:`~mathft.sampling.engine.closer_mask`)."""
        if self._closers is None:
            self._closers = closer_mask(self.tok, int(self.model.config.vocab_size))
        return self._closers

    def generate_requests(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> list[Generation]:
        """Decode every request; batches of ``params.batch_size`` rows sorted by prompt length."""
        lengths = [len(self.tok(r.prompt, add_special_tokens=True)["input_ids"]) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (-lengths[i], i))
        out: list[Generation | None] = [None] * len(requests)
        for s in range(0, len(order), params.batch_size):
            idx = order[s : s + params.batch_size]
            for i, g in zip(idx, self._generate_batch([requests[i] for i in idx], params)):
                out[i] = g
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate_batch(self, reqs: Sequence[Request], params: SamplingParams) -> list[Generation]:
        device = next(self.model.parameters()).device
        old_side = self.tok.padding_side
        self.tok.padding_side = "left"
        try:
            enc = self.tok(
                [r.prompt for r in reqs],
                return_tensors="pt",
                padding=True,
                add_special_tokens=True,
            ).to(device)
        finally:
            self.tok.padding_side = old_side
        prompt_len = enc["input_ids"].shape[1]
        eos = self.tok.eos_token_id
        gen_cfg = GenerationConfig(
            do_sample=False,
            max_new_tokens=params.max_new_tokens,
            num_beams=1,
            pad_token_id=self.tok.pad_token_id,
            eos_token_id=eos,
        )
        stop = AnswerStop(self.tok, prompt_len, params, self.closers())
        procs = []
        if not params.greedy:
            procs.append(
                PerRowSampler([r.seed for r in reqs], params.temperature, params.top_p, device)
            )
        seqs = self.model.generate(
            **enc,
            generation_config=gen_cfg,
            logits_processor=procs,
            stopping_criteria=[stop] if (params.stop_on_answer or params.stop) else [],
        )
        gens = []
        for i in range(len(reqs)):
            ids = seqs[i, prompt_len:].tolist()
            reason = "length"
            if eos is not None and eos in ids:
                ids = ids[: ids.index(eos)]
                reason = "eos"
            stopped = stop.stopped is not None and bool(stop.stopped[i])
            if stopped:
                reason = "stop"
            while reason == "stop" and ids and ids[-1] == self.tok.pad_token_id:
                ids.pop()
            text = self.tok.decode(ids, skip_special_tokens=True)
            text, cut = truncate_at_stop(text, params)
            if cut:
                reason = "stop"
            gens.append(Generation(text=text, n_tokens=len(ids), finish_reason=reason))
        return gens


__all__ = ["HFEngine", "AnswerStop", "PerRowSampler", "answer_end"]

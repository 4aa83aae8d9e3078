"""Score stored candidates with a solution evaluator: S_cls per candidate (docs/method.md#evaluator-score, Eq. 7).

No generation: the label logits are read at each candidate's last token, so padding and batch
composition do not change a score (up to float summation order). Two paths, same scores:

- ``prefix`` (the default where the model allows it, :func:`prefix_supported`): the N
  candidates of a problem share the evaluator prompt up to their solutions. That common token
  prefix is run once per problem and its keys/values are kept; the candidates' own tokens
  (longest first, right-padded) attend to it and causally to themselves, two fused attention
  calls merged by their log-sum-exps (as the ``prefix`` sampling engine does).
- ``plain``: one padded forward pass per batch of whole prompts (any causal LM, peft included).

Both paths run the decoder in the scoring dtype and apply only the two label rows of the LM
head, in fp32, at the last token (:func:`~mathft.models.evaluator.label_logits`): a bf16 head
would quantise S_cls and tie candidates of one problem.

Scores are appended to a ``ScoreStore`` after every batch (fsync'ed), and a rerun skips the
keys already there (resumable). The scorer needs only problem texts and candidate texts, so any
evaluator can score any generator's candidates (cross-model re-ranking, paper Table 6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AttentionInterface

from mathft.data.evaluator_data import encode_many, pad_rows, problem_texts
from mathft.data.templates import EVALUATOR_PROMPT, LABEL_WORDS
from mathft.models.evaluator import label_logits, label_token_ids, last_token_label_logits
from mathft.models.loading import attention_implementation
from mathft.records import Candidate, Problem
from mathft.sampling.flash import flash_lse
from mathft.sampling.store import CandidateStore, ScoreStore
from mathft.sampling.workers import balanced_groups, run_workers

log = logging.getLogger(__name__)


def _candidates(store: Any) -> list[Candidate]:
    if isinstance(store, (str, os.PathLike)):
        store = CandidateStore(store)
    if isinstance(store, CandidateStore):
        return store.load()
    if isinstance(store, Mapping):
        return [c for cands in store.values() for c in cands]
    return list(store)


@torch.inference_mode()
def score_batch(
    model: torch.nn.Module,
    ids: Sequence[Sequence[int]],
    pad_id: int,
    pos_id: int,
    neg_id: int,
    padding_side: str = "right",
) -> list[float]:
    """S_cls of pre-tokenized evaluator prompts, one forward pass for the batch."""
    device = next(model.parameters()).device
    input_ids, mask = pad_rows(ids, pad_id, padding_side)
    two = last_token_label_logits(model, input_ids.to(device), mask.to(device), (pos_id, neg_id))
    return _s_cls(two)


def _s_cls(two: torch.Tensor) -> list[float]:
    """S_cls = sigmoid(l+ - l-) (Eq. 7) of label logits ``[B, 2]``, in float64."""
    return torch.sigmoid((two[:, 0] - two[:, 1]).double()).cpu().tolist()


def scored_batches(
    model: torch.nn.Module,
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    label_ids: tuple[int, int],
    batch_size: int = 8,
    padding_side: str | None = None,
) -> Iterator[tuple[list[int], list[float]]]:
    """Yield ``(row indices, S_cls)`` per batch, longest rows first (less padding), in eval mode.

    ``label_ids``: the label words' first tokens; ``padding_side`` defaults to the tokenizer's.
    """
    pad_id, (pos_id, neg_id) = tokenizer.pad_token_id, label_ids
    padding_side = padding_side or tokenizer.padding_side
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(order), batch_size):
            chunk = order[b : b + batch_size]
            yield (
                chunk,
                score_batch(model, [ids[i] for i in chunk], pad_id, pos_id, neg_id, padding_side),
            )
    finally:
        model.train(was_training)


SCORE_ATTN = "mathft_score"
PREFIX_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral")
"""Decoders whose logits are the plain LM head of the last hidden state (no soft-capping or
scaling) and whose attention goes through transformers' attention interface."""
METHODS = ("auto", "prefix", "plain")


def prefix_supported(model: Any) -> bool:
    """Whether the ``prefix`` scoring path applies to ``model`` (else ``plain`` is used)."""
    from transformers import PreTrainedModel

    base = getattr(model, "model", None)
    head = getattr(model, "lm_head", None)
    if not isinstance(model, PreTrainedModel) or base is None or \
            type(head) is not torch.nn.Linear or \
            getattr(model.config, "model_type", None) not in PREFIX_MODEL_TYPES:
        return False
    layers = getattr(base, "layers", None)
    return bool(layers) and all(
        getattr(getattr(layer, "self_attn", None), "sliding_window", None) is None and
        not getattr(getattr(layer, "self_attn", None), "attn_logit_softcapping", None)
        for layer in layers)


class _PrefixState:
    """What the scoring attention reads: a prefix being captured, or the batch's segments."""

    def __init__(self) -> None:
        self.mode = "prefill"
        self.keys: list[torch.Tensor] = []  # prefill: per layer [kvh, Lp, d]
        self.values: list[torch.Tensor] = []
        # suffix mode: rows [s, e) attend to the prefix (per-layer keys, values) or to none
        self.segments: list[tuple[int, int, tuple[list[torch.Tensor], list[torch.Tensor]] | None]] = []

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               scale: float) -> torch.Tensor:
        if self.mode == "prefill":
            self.keys.append(k[0])
            self.values.append(v[0])
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale,
                                                  enable_gqa=True)
        b, heads, lq, d = q.shape
        kvh = k.shape[1]
        g = heads // kvh
        # own tokens, causally (right padding: real tokens never see the pads after them)
        o_own, l_own = flash_lse(q, k, v, scale, causal=True)
        o_pr, l_pr = torch.empty_like(o_own), torch.empty_like(l_own)
        for s, e, kv in self.segments:
            if kv is None:  # no shared prefix: weight 0 below
                o_pr[s:e], l_pr[s:e] = 0.0, float("-inf")
                continue
            pk, pv = kv[0][layer], kv[1][layer]  # [kvh, Lp, d]
            n = e - s
            # the segment's queries stacked per kv head: one call for all of its rows
            qs = q[s:e].reshape(n, kvh, g, lq, d).permute(1, 0, 2, 3, 4).reshape(
                1, kvh, n * g * lq, d)
            o, lse = flash_lse(qs, pk[None], pv[None], scale)
            o_pr[s:e] = o[0].reshape(kvh, n, g, lq, d).permute(1, 0, 2, 3, 4).reshape(
                n, heads, lq, d)
            l_pr[s:e] = lse[0].reshape(kvh, n, g, lq).permute(1, 0, 2, 3).reshape(n, heads, lq)
        # the two partial softmaxes merged by their log-sum-exps: the prefix's share of the
        # total mass is sigmoid(lse_prefix - lse_own)
        # (CPU flash kernels return fp32 log-sum-exps: the weight takes the outputs' dtype)
        return o_own.lerp_(o_pr, torch.sigmoid(l_pr - l_own).unsqueeze_(-1).to(o_own.dtype))


def _score_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
                     sliding_window: int | None = None, score_state: _PrefixState | None = None,
                     **_: Any) -> tuple[torch.Tensor, None]:
    if score_state is None:
        raise RuntimeError(f"attention {SCORE_ATTN!r} runs only inside PrefixScorer")
    if sliding_window is not None:
        raise NotImplementedError("prefix scoring does not support sliding-window attention")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = score_state.attend(module.layer_idx, query, key, value, scale)
    return out.transpose(1, 2), None


AttentionInterface.register(SCORE_ATTN, _score_attention)


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    first, n = rows[0], min(len(r) for r in rows)
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return n


class PrefixScorer:
    """S_cls with the problem prefix run once per problem (the ``prefix`` path, module doc)."""

    def __init__(self, model: torch.nn.Module, label_ids: tuple[int, int], pad_id: int,
                 window_rows: int = 256, window_groups: int = 32):
        if not prefix_supported(model):
            raise ValueError(f"prefix scoring does not support {type(model).__name__}")
        self.model, self.base, self.pad_id = model, model.model, int(pad_id)
        self.label_ids = label_ids
        self.window_rows, self.window_groups = window_rows, window_groups

    def _prefill(self, ids: Sequence[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        st = _PrefixState()
        dev = self.model.get_output_embeddings().weight.device
        self.base(input_ids=torch.tensor([list(ids)], device=dev),
                  position_ids=torch.arange(len(ids), device=dev)[None], use_cache=False,
                  score_state=st)
        return st.keys, st.values

    def _suffixes(self, rows: Sequence[Sequence[int]], starts: Sequence[int],
                  segments: list[tuple[int, int, Any]]) -> list[float]:
        dev = self.model.get_output_embeddings().weight.device
        ids, mask = pad_rows(rows, self.pad_id, "right")
        pos = torch.tensor(starts)[:, None] + torch.arange(ids.shape[1])[None]
        st = _PrefixState()
        st.mode, st.segments = "suffix", segments
        hidden = self.base(input_ids=ids.to(dev), position_ids=pos.to(dev), use_cache=False,
                           score_state=st).last_hidden_state
        last = mask.sum(1) - 1
        h = hidden[torch.arange(len(rows), device=dev), last.to(dev)]
        return _s_cls(label_logits(self.model, h, self.label_ids))

    @torch.inference_mode()
    def batches(self, ids: Sequence[Sequence[int]], groups: Sequence[Hashable],
                batch_size: int) -> Iterator[tuple[list[int], list[float]]]:
        """Yield ``(row indices, S_cls)`` per batch; ``groups[i]``: row i's problem (rows of a
        group share their common token prefix)."""
        by: dict[Hashable, list[int]] = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        window: list[list[int]] = []
        was_training = self.model.training
        self.model.eval()
        try:
            with attention_implementation(self.model, SCORE_ATTN):
                for members in by.values():
                    window.append(members)
                    if sum(map(len, window)) >= self.window_rows or \
                            len(window) >= self.window_groups:
                        yield from self._window(ids, window, batch_size)
                        window = []
                if window:
                    yield from self._window(ids, window, batch_size)
        finally:
            self.model.train(was_training)

    def _window(self, ids: Sequence[Sequence[int]], window: list[list[int]],
                batch_size: int) -> Iterator[tuple[list[int], list[float]]]:
        """Score the rows of a few groups: prefixes first, then rows longest suffix first."""
        start: dict[int, int] = {}
        kv: dict[int, Any] = {}
        for gi, members in enumerate(window):
            rows = [ids[i] for i in members]
            lp = min(_common_prefix(rows), min(len(r) for r in rows) - 1)  # >= 1 own token
            kv[gi] = self._prefill(rows[0][:lp]) if lp > 0 else None
            for i in members:
                start[i] = max(lp, 0)
        group_of = {i: gi for gi, members in enumerate(window) for i in members}
        order = sorted(group_of, key=lambda i: -(len(ids[i]) - start[i]))
        for b in range(0, len(order), batch_size):
            chunk = sorted(order[b : b + batch_size], key=lambda i: group_of[i])
            segments: list[tuple[int, int, Any]] = []
            for r, i in enumerate(chunk):
                if segments and segments[-1][2] is kv[group_of[i]] and \
                        group_of[chunk[segments[-1][0]]] == group_of[i]:
                    segments[-1] = (segments[-1][0], r + 1, segments[-1][2])
                else:
                    segments.append((r, r + 1, kv[group_of[i]]))
            yield chunk, self._suffixes([ids[i][start[i]:] for i in chunk],
                                        [start[i] for i in chunk], segments)


def _score_rows(model: torch.nn.Module, tokenizer: Any, ids: Sequence[Sequence[int]],
                groups: Sequence[Hashable], label_ids: tuple[int, int], batch_size: int,
                padding_side: str | None, method: str) -> Iterator[tuple[list[int], list[float]]]:
    """``(row indices, S_cls)`` per batch by ``method`` (``auto``: prefix where supported)."""
    if method not in METHODS:
        raise ValueError(f"scoring method must be one of {METHODS}, got {method!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if method == "prefix" and not prefix_supported(model):
        raise ValueError(f"prefix scoring does not support {type(model).__name__} "
                         f"(model_type {getattr(getattr(model, 'config', None), 'model_type', None)}); "
                         "use method='plain'")
    if method == "plain" or (method == "auto" and not prefix_supported(model)):
        return scored_batches(model, tokenizer, ids, label_ids, batch_size, padding_side)
    return PrefixScorer(model, label_ids, tokenizer.pad_token_id).batches(ids, groups,
                                                                          batch_size)


def score_texts(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Sequence[tuple[str, str]],
    *,
    batch_size: int = 8,
    max_length: int | None = 1024,
    label_words: Sequence[str] = LABEL_WORDS,
    template: str = EVALUATOR_PROMPT,
    truncation: str = "middle",
    padding_side: str | None = None,
    method: str = "auto",
) -> list[float]:
    """S_cls for ``(problem, solution)`` pairs, in input order (``method``: module doc;
    ``auto`` is ``prefix`` where :func:`prefix_supported`, else ``plain``)."""
    ids, _ = encode_many(tokenizer, items, max_length, template, truncation)
    out = [0.0] * len(ids)
    label_ids = label_token_ids(tokenizer, label_words)
    for chunk, scores in _score_rows(model, tokenizer, ids, [p for p, _ in items], label_ids,
                                     batch_size, padding_side, method):
        for i, sc in zip(chunk, scores):
            out[i] = sc
    return out


def score_store(
    model: torch.nn.Module,
    tokenizer: Any,
    candidates_store: Any,
    problems: Mapping[str, Problem | str] | Iterable[Problem],
    score_store: ScoreStore | str | os.PathLike,
    batch_size: int = 8,
    evaluator_id: str | None = None,
    max_length: int | None = 1024,
    progress: bool = True,
    *,
    label_words: Sequence[str] | None = None,
    template: str | None = None,
    truncation: str = "middle",
    padding_side: str | None = None,
    method: str = "auto",
    on_append: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Score every candidate not yet in ``score_store``; returns counts (scored, skipped...).

    ``model``: a causal LM (plain or peft) or an ``EvaluatorModule`` (its ``.model`` is used).
    ``candidates_store``: a ``CandidateStore``, its path, ``{problem_id: [Candidate]}`` or
    Candidates. ``problems``: texts of (at least) every candidate's problem. ``score_store``: a
    ``ScoreStore`` or a path (then ``evaluator_id`` is required). ``method``: ``auto`` (the
    ``prefix`` path where :func:`prefix_supported`, else ``plain``), ``prefix`` or ``plain``
    (module doc). Candidates are scored longest first (less padding); each batch is appended
    as soon as it is scored (then ``on_append(rows)`` is called). ``label_words`` and
    ``template`` default to the ``EvaluatorModule``'s own (else the docs/method.md#evaluator-template defaults).
    """
    hp = getattr(model, "hparams", None) or {}
    label_words = label_words or hp.get("label_words") or LABEL_WORDS
    template = template or hp.get("template") or EVALUATOR_PROMPT
    model = model.model if "label_words" in hp else model
    if not isinstance(score_store, ScoreStore):
        if not evaluator_id:
            raise ValueError("score_store given as a path needs evaluator_id")
        score_store = ScoreStore(score_store, evaluator_id)
    elif evaluator_id and score_store.evaluator_id not in (None, evaluator_id):
        raise ValueError(
            f"{score_store.path} is the store of evaluator "
            f"{score_store.evaluator_id!r}, not {evaluator_id!r}"
        )
    texts = problem_texts(problems)
    cands = _candidates(candidates_store)
    done = score_store.existing_keys()
    todo = [c for c in cands if c.key not in done]
    missing = sorted({c.problem_id for c in todo if c.problem_id not in texts})
    if missing:
        raise ValueError(
            f"{len(missing)} candidate problems have no problem text "
            f"(e.g. {missing[0]!r}); pass the problems of the candidate store"
        )
    label_ids = label_token_ids(tokenizer, label_words)
    ids, n_trunc = encode_many(
        tokenizer, [(texts[c.problem_id], c.text) for c in todo], max_length, template, truncation
    )
    with tqdm(total=len(todo), desc="scoring", disable=not progress) as bar:
        for chunk, scores in _score_rows(model, tokenizer, ids, [c.problem_id for c in todo],
                                         label_ids, batch_size, padding_side, method):
            score_store.append(
                [(todo[i].problem_id, todo[i].sample_idx, sc) for i, sc in zip(chunk, scores)]
            )
            bar.update(len(chunk))
            if on_append is not None:
                on_append(len(chunk))
    stats = {"scored": len(todo), "skipped": len(cands) - len(todo), "truncated": n_trunc}
    log.info("scored %s into %s", stats, score_store.path)
    return stats


@dataclass(frozen=True)
class ScoreJob:
    """What every scoring worker needs, picklable: ``load() -> (model, tokenizer)`` (a
    module-level function or a partial of one) and :func:`score_store`'s settings."""

    load: Callable[[], tuple[Any, Any]]
    batch_size: int = 8
    max_length: int | None = 1024
    method: str = "auto"


def score_parts_dir(path: Path) -> Path:
    """Where the scoring workers' part stores of the score store ``path`` live."""
    return path.with_name(path.name + ".parts")


def absorb_score_parts(store: ScoreStore, keys: Sequence[tuple[str, int]]) -> int:
    """Append the scores of every part store of ``store`` that it lacks, in the order of
    ``keys``, and remove the parts; returns the scores appended."""
    d = score_parts_dir(store.path)
    if not d.is_dir():
        return 0
    files = sorted(d.glob("*.jsonl"))
    got: dict[tuple[str, int], float] = {}
    for f in files:
        got.update(ScoreStore(f).load())
    foreign = [k for k in got if k not in set(keys)]
    if foreign:
        raise ValueError(f"{d}: part stores hold scores of other candidates (e.g. "
                         f"{foreign[0]}); remove {d} to start over")
    done = store.existing_keys()
    new = [(p, i, got[p, i]) for p, i in keys if (p, i) in got and (p, i) not in done]
    if new:
        store.append(new)  # one write + fsync; parts stay until it has landed
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    return len(new)


def score_in_workers(job: ScoreJob, candidates: Sequence[Candidate],
                     problems: Mapping[str, Problem | str] | Iterable[Problem],
                     store: ScoreStore, workers: int, progress: bool = True,
                     cpu: list[float] | None = None) -> dict[str, int]:
    """:func:`score_store` over ``workers`` processes, each on whole problems with about equal
    text to score (:func:`~mathft.sampling.workers.balanced_groups`), into its own part store;
    the parts are appended to ``store`` in candidate order when all are done (a rerun after a
    kill first keeps their scores)."""
    if store.evaluator_id is None:
        raise ValueError(f"{store.path}: opened without an evaluator_id (read-only)")
    keys = [c.key for c in candidates]
    absorb_score_parts(store, keys)
    done = store.existing_keys()
    todo = [c for c in candidates if c.key not in done]
    texts = problem_texts(problems)
    pids = list(dict.fromkeys(c.problem_id for c in todo))
    workers = min(workers, len(pids))
    if workers < 1:
        return {"scored": 0, "skipped": len(candidates), "truncated": 0}
    missing = [p for p in pids if p not in texts]
    if missing:
        raise ValueError(f"{len(missing)} candidate problems have no problem text "
                         f"(e.g. {missing[0]!r}); pass the problems of the candidate store")
    d = score_parts_dir(store.path)
    d.mkdir(exist_ok=True)
    # whole problems per worker, with about equal text to score each (known in advance,
    # unlike the length of samples yet to be drawn; the merge restores candidate order)
    size = dict.fromkeys(pids, 0)
    for c in todo:
        size[c.problem_id] += len(texts[c.problem_id]) + len(c.text)
    payloads, spans = [], []
    for part in balanced_groups([size[p] for p in pids], workers):
        mine = {pids[j] for j in part}
        payloads.append((job, [c for c in todo if c.problem_id in mine],
                         {p: texts[p] for p in mine}, str(d / f"w{len(payloads)}.jsonl"),
                         store.evaluator_id))
        spans.append(f"{len(mine)} problems, {len(payloads[-1][1])} candidates")
    results = run_workers(_score_slice, payloads, what="scoring", spans=spans, total=len(todo),
                          unit="candidate", progress=progress, cpu=cpu)
    absorb_score_parts(store, keys)
    return {"scored": sum(r["scored"] for r in results), "skipped": len(candidates) - len(todo),
            "truncated": sum(r["truncated"] for r in results)}


def _score_slice(payload: tuple[Any, ...], report: Callable[[int], None]) -> dict[str, int]:
    """A scoring worker: load the evaluator once, score its candidates into its part store."""
    job, cands, texts, part, evaluator_id = payload
    model, tok = job.load()
    model.eval()
    return score_store(model, tok, cands, texts, ScoreStore(part, evaluator_id),
                       batch_size=job.batch_size, max_length=job.max_length, progress=False,
                       method=job.method, on_append=report)

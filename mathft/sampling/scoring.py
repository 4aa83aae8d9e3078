"""Score stored candidates with a solution evaluator: S_cls per candidate (docs/method.md#evaluator-score, Eq. 7).

One batched forward pass per candidate batch, no generation; the logits are read at each row's
last real token, so left/right padding and batch composition do not change a score. Scores are
appended to a ``ScoreStore`` after every batch (fsync'ed), and a rerun skips the keys already
there (resumable). The scorer needs only problem texts and candidate texts, so any evaluator can
score any generator's candidates (cross-model re-ranking, paper Table 6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from mathft.data.evaluator_data import encode_many, pad_rows, problem_texts
from mathft.data.templates import EVALUATOR_PROMPT, LABEL_WORDS
from mathft.models.evaluator import label_token_ids, last_token_logits
from mathft.models.objectives import score_logit
from mathft.records import Candidate, Problem
from mathft.sampling.store import CandidateStore, ScoreStore

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
    logits = last_token_logits(model, input_ids.to(device), mask.to(device))
    s = score_logit(logits, pos_id, neg_id).double()
    return torch.sigmoid(s).cpu().tolist()


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
) -> list[float]:
    """S_cls for ``(problem, solution)`` pairs, in input order."""
    ids, _ = encode_many(tokenizer, items, max_length, template, truncation)
    out = [0.0] * len(ids)
    label_ids = label_token_ids(tokenizer, label_words)
    for chunk, scores in scored_batches(model, tokenizer, ids, label_ids, batch_size, padding_side):
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
) -> dict[str, int]:
    """Score every candidate not yet in ``score_store``; returns counts (scored, skipped...).

    ``model``: a causal LM (plain or peft) or an ``EvaluatorModule`` (its ``.model`` is used).
    ``candidates_store``: a ``CandidateStore``, its path, ``{problem_id: [Candidate]}`` or
    Candidates. ``problems``: texts of (at least) every candidate's problem. ``score_store``: a
    ``ScoreStore`` or a path (then ``evaluator_id`` is required). Candidates are scored longest
    first (less padding); each batch is appended as soon as it is scored. ``label_words`` and
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
        for chunk, scores in scored_batches(model, tokenizer, ids, label_ids, batch_size,
                                            padding_side):
            score_store.append(
                [(todo[i].problem_id, todo[i].sample_idx, sc) for i, sc in zip(chunk, scores)]
            )
            bar.update(len(chunk))
    stats = {"scored": len(todo), "skipped": len(cands) - len(todo), "truncated": n_trunc}
    log.info("scored %s into %s", stats, score_store.path)
    return stats

"""Evaluator training/validation data (docs/method.md#evaluator-training-data): candidates labelled by the grader.

Per training problem, ``n_per_problem`` examples are drawn from its N sampled candidates
(paper: 10 of 64), labelled by ``Candidate.correct`` (answer equivalence with the gold answer):

- pointwise ``(T(P, X), label)`` examples (``xent``): balanced, i.e. up to half correct,
  the rest incorrect, topped up from the other class when one is short; never repeated;
- pairs ``(T(P, X+), T(P, X-))`` of one problem (``margin``/``bt``): distinct pairs drawn from
  correct x incorrect. Problems whose candidates are all correct or all incorrect have no pair;
  they give pointwise examples only (docs/method.md#evaluator-training-data, a choice; ``single_class: skip`` drops them).

Draws are deterministic: each problem has its own RNG seeded by ``(seed, problem_id)``, so the
selection does not depend on iteration order or on the other problems. Validation uses every
candidate of each validation problem (re-ranking accuracy needs them all).

Long candidates are shortened by cutting the SOLUTION text (``truncation``: keep its ``left``
part, ``right`` part, or both ends, ``middle``) and re-rendering the template, so the template's
tail, whose next token is the label word, is always intact.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from mathft.data.collate import LengthGroupedBatchSampler, ResumableLoader, trainer_progress
from mathft.data.templates import EVALUATOR_PROMPT, format_evaluator_prompt
from mathft.models.objectives import Objective
from mathft.records import Candidate, Problem
from mathft.sampling.store import CandidateStore

log = logging.getLogger(__name__)

TRUNCATION = ("left", "middle", "right")


@dataclass(frozen=True)
class PointExample:
    """One labelled candidate: ``label`` 1 = correct, 0 = incorrect."""

    problem_id: str
    sample_idx: int
    problem: str
    solution: str
    label: int


@dataclass(frozen=True)
class PairExample:
    """A correct and an incorrect candidate of the same problem."""

    pos: PointExample
    neg: PointExample


@dataclass
class EvaluatorExamples:
    """Built examples and their counts (``stats``: correct, incorrect, pairs, problems...)."""

    points: list[PointExample] = field(default_factory=list)
    pairs: list[PairExample] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


def problem_texts(problems: Mapping[str, Problem | str] | Iterable[Problem]) -> dict[str, str]:
    """``{problem_id: problem text}`` from a mapping of Problems/texts or a list of Problems."""
    if isinstance(problems, Mapping):
        return {k: (v.problem if isinstance(v, Problem) else str(v)) for k, v in problems.items()}
    return {p.uid: p.problem for p in problems}


def _point(c: Candidate, text: str) -> PointExample:
    return PointExample(c.problem_id, int(c.sample_idx), text, c.text, int(bool(c.correct)))


def _balanced(pos: list[Candidate], neg: list[Candidate], n: int, rng: random.Random) -> list:
    """Up to ``n`` distinct candidates, half correct where possible (rest from the other class)."""
    pos, neg = rng.sample(pos, len(pos)), rng.sample(neg, len(neg))
    k_pos = min(len(pos), n // 2 + (n % 2 if rng.random() < 0.5 else 0))
    k_neg = min(len(neg), n - k_pos)
    k_pos = min(len(pos), n - k_neg)
    return pos[:k_pos] + neg[:k_neg]


def build_evaluator_examples(
    by_problem: Mapping[str, Sequence[Candidate]],
    problems: Mapping[str, Problem | str] | Iterable[Problem],
    *,
    n_per_problem: int = 10,
    n_pairs_per_problem: int | None = None,
    pointwise: bool = True,
    pairs: bool = True,
    balance: bool = True,
    single_class: str = "pointwise",
    seed: int = 0,
) -> EvaluatorExamples:
    """Training examples for the problems in ``problems`` (docs/method.md#evaluator-training-data; paper: 10 per problem).

    ``by_problem``: ``{problem_id: [Candidate]}`` (e.g. ``CandidateStore.by_problem()``);
    candidates of problems not in ``problems`` are ignored, so the same store can feed the
    train and validation splits. ``n_pairs_per_problem`` defaults to ``n_per_problem``.
    """
    if single_class not in ("pointwise", "skip"):
        raise ValueError(f"single_class must be 'pointwise' or 'skip', got {single_class!r}")
    if n_per_problem < 1:
        raise ValueError(f"n_per_problem must be >= 1, got {n_per_problem}")
    n_pairs = n_per_problem if n_pairs_per_problem is None else n_pairs_per_problem
    texts = problem_texts(problems)
    out = EvaluatorExamples()
    st = dict.fromkeys(
        ("problems", "problems_used", "problems_no_candidates", "problems_single_class",
         "problems_skipped", "correct", "incorrect", "pairs"), 0)
    for pid in sorted(texts):
        st["problems"] += 1
        cands = list(by_problem.get(pid, ()))
        if not cands:
            st["problems_no_candidates"] += 1
            st["problems_skipped"] += 1
            continue
        cands.sort(key=lambda c: c.sample_idx)
        pos = [c for c in cands if c.correct]
        neg = [c for c in cands if not c.correct]
        single = not pos or not neg
        if single:
            st["problems_single_class"] += 1
            if single_class == "skip" or not pointwise:
                st["problems_skipped"] += 1
                continue
        rng = random.Random(f"{seed}:{pid}")
        if pointwise:
            chosen = _balanced(pos, neg, n_per_problem, rng) if balance else rng.sample(
                cands, min(n_per_problem, len(cands)))
            for c in sorted(chosen, key=lambda c: c.sample_idx):
                out.points.append(_point(c, texts[pid]))
                st["correct" if c.correct else "incorrect"] += 1
        if pairs and not single:
            total = len(pos) * len(neg)
            flat = sorted(rng.sample(range(total), min(n_pairs, total)))
            for f in flat:
                i, j = divmod(f, len(neg))
                out.pairs.append(PairExample(_point(pos[i], texts[pid]), _point(neg[j], texts[pid])))
            st["pairs"] += len(flat)
        st["problems_used"] += 1
    out.stats = st
    if st["problems"] and not st["problems_used"]:
        why = ("pairwise objectives (margin, bt) need problems with both a correct and an "
               "incorrect candidate; " if not pointwise and st["problems_single_class"] else "")
        raise ValueError(
            f"no evaluator training examples: none of the {st['problems']} problems has usable "
            f"candidates (stats: {st}); {why}use objective=xent, sample more candidates "
            "(sampling.n) or problems (eval.evaluator_train.limit), easier problems "
            "(eval.evaluator_train.levels), or a stronger generator")
    log.info("evaluator examples: %s", st)
    return out


def build_validation_examples(
    by_problem: Mapping[str, Sequence[Candidate]],
    problems: Mapping[str, Problem | str] | Iterable[Problem],
    max_per_problem: int | None = None,
) -> list[PointExample]:
    """Every candidate (first ``max_per_problem`` by sample_idx) of each validation problem."""
    texts = problem_texts(problems)
    out: list[PointExample] = []
    for pid in sorted(texts):
        cands = sorted(by_problem.get(pid, ()), key=lambda c: c.sample_idx)
        out += [_point(c, texts[pid]) for c in cands[:max_per_problem]]
    return out


def _cut(ids: list[int], keep: int, side: str) -> tuple[list[int], list[int]]:
    """Head and tail token pieces that keep ``keep`` tokens of ``ids``."""
    if side == "left":
        return ids[:keep], []
    if side == "right":
        return [], ids[len(ids) - keep:] if keep else []
    head = (keep + 1) // 2
    return ids[:head], ids[len(ids) - (keep - head):] if keep - head else []


def _shrink(tokenizer: Any, render: Any, piece: str, n_ids: int, max_length: int, side: str):
    """Cut ``piece`` (token-wise) until ``render(piece)`` fits; None when even '' is too long."""
    piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
    keep = len(piece_ids) - (n_ids - max_length)
    while keep > 0:
        head, tail = _cut(piece_ids, keep, side)
        text = tokenizer.decode(head) + tokenizer.decode(tail)
        ids = tokenizer(render(text), add_special_tokens=True)["input_ids"]
        if len(ids) <= max_length:
            return ids
        keep -= max(1, len(ids) - max_length)
    ids = tokenizer(render(""), add_special_tokens=True)["input_ids"]
    return ids if len(ids) <= max_length else None


def encode_evaluator_example(
    tokenizer: Any,
    problem: str,
    solution: str,
    max_length: int | None = None,
    template: str = EVALUATOR_PROMPT,
    truncation: str = "middle",
    ids: list[int] | None = None,
) -> list[int]:
    """Token ids of T(P, X), at most ``max_length`` long, the template tail always kept.

    The solution is cut first; only if template + problem alone overflow is the problem cut.
    ``ids`` (the untruncated encoding, when already computed) avoids re-tokenizing.
    """
    if truncation not in TRUNCATION:
        raise ValueError(f"truncation must be one of {TRUNCATION}, got {truncation!r}")
    if ids is None:
        ids = tokenizer(format_evaluator_prompt(problem, solution, template),
                        add_special_tokens=True)["input_ids"]
    if max_length is None or len(ids) <= max_length:
        return list(ids)
    out = _shrink(tokenizer, lambda s: format_evaluator_prompt(problem, s, template), solution,
                  len(ids), max_length, truncation)
    if out is None:
        n0 = len(tokenizer(format_evaluator_prompt(problem, "", template))["input_ids"])
        out = _shrink(tokenizer, lambda p: format_evaluator_prompt(p, "", template), problem,
                      n0, max_length, truncation)
    if out is None:
        raise ValueError(f"max_length={max_length} cannot hold the evaluator template itself; "
                         "raise data.max_length")
    return out


def encode_many(
    tokenizer: Any,
    items: Sequence[tuple[str, str]],
    max_length: int | None,
    template: str = EVALUATOR_PROMPT,
    truncation: str = "middle",
) -> tuple[list[list[int]], int]:
    """Encode ``(problem, solution)`` pairs in one tokenizer call; returns (ids, n_truncated)."""
    if not items:
        return [], 0
    texts = [format_evaluator_prompt(p, s, template) for p, s in items]
    raw = tokenizer(texts, add_special_tokens=True)["input_ids"]
    out, n_trunc = [], 0
    for (p, s), ids in zip(items, raw):
        if max_length is not None and len(ids) > max_length:
            n_trunc += 1
            ids = encode_evaluator_example(tokenizer, p, s, max_length, template, truncation, ids)
        out.append(list(ids))
    return out, n_trunc


def pad_rows(seqs: Sequence[Sequence[int]], pad_id: int, side: str = "right"):
    """Pad token-id rows into ``(input_ids, attention_mask)`` long tensors (``side``-padded)."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        sl = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        ids[r, sl] = torch.tensor(list(s), dtype=torch.long)
        mask[r, sl] = 1
    return ids, mask


class EvaluatorCollator:
    """Collates items ``("point", ids, label, problem_index, sample_idx)`` and
    ``("pair", ids_pos, ids_neg)`` into ONE padded forward batch.

    Rows: the points, then every pair's X+, then every pair's X- (in pair order). Batch keys:
    ``input_ids, attention_mask, labels, problem_index, sample_idx`` (points) and ``n_point,
    n_pair`` (ints).
    """

    def __init__(self, pad_token_id: int | None, padding_side: str = "right"):
        if pad_token_id is None:
            raise ValueError("pad_token_id is None: call mathft.models.loading.setup_tokenizer")
        self.pad_id, self.side = int(pad_token_id), padding_side

    def __call__(self, items: Sequence[tuple]) -> dict[str, Any]:
        points = [it for it in items if it[0] == "point"]
        pairs = [it for it in items if it[0] == "pair"]
        rows = [p[1] for p in points] + [p[1] for p in pairs] + [p[2] for p in pairs]
        ids, mask = pad_rows(rows, self.pad_id, self.side)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor([p[2] for p in points], dtype=torch.long),
            "problem_index": torch.tensor([p[3] for p in points], dtype=torch.long),
            "sample_idx": torch.tensor([p[4] for p in points], dtype=torch.long),
            "n_point": len(points),
            "n_pair": len(pairs),
        }


def _load_by_problem(candidates: Any) -> Mapping[str, Sequence[Candidate]]:
    if isinstance(candidates, (str, Path)):
        candidates = CandidateStore(candidates)
    if hasattr(candidates, "by_problem"):
        return candidates.by_problem()
    if isinstance(candidates, Mapping):
        return candidates
    grouped: dict[str, list[Candidate]] = {}
    for c in candidates:
        grouped.setdefault(c.problem_id, []).append(c)
    return grouped


class EvaluatorDataModule(pl.LightningDataModule):
    """Train: pointwise examples and/or pairs (as the objective needs, see
    ``mathft.models.objectives.Objective``); val: all candidates of the validation problems.

    ``objective`` (an ``Objective`` or its config), when given, sets ``pointwise``/``pairs``.
    ``candidates``: a candidate store path, a ``CandidateStore``, ``{problem_id: [Candidate]}``
    or an iterable of Candidates. ``problems``: Problems (or ``{id: text}``) covering both splits.
    """

    def __init__(
        self,
        tokenizer: Any,
        candidates: Any,
        problems: Mapping[str, Problem | str] | Iterable[Problem],
        train_ids: Iterable[str],
        val_ids: Iterable[str] = (),
        *,
        objective: Any = None,
        pointwise: bool = True,
        pairs: bool = False,
        n_per_problem: int = 10,
        n_pairs_per_problem: int | None = None,
        balance: bool = True,
        single_class: str = "pointwise",
        val_max_per_problem: int | None = None,
        seed: int = 0,
        batch_size: int = 8,
        val_batch_size: int | None = None,
        max_length: int | None = 1024,
        truncation: str = "middle",
        padding_side: str = "right",
        template: str = EVALUATOR_PROMPT,
        num_workers: int = 0,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self._candidates = candidates
        self.texts = problem_texts(problems)
        self.train_ids, self.val_ids = sorted(set(train_ids)), sorted(set(val_ids))
        overlap = set(self.train_ids) & set(self.val_ids)
        if overlap:
            raise ValueError(f"{len(overlap)} problems in both train and val, e.g. {min(overlap)}")
        missing = [p for p in self.train_ids + self.val_ids if p not in self.texts]
        if missing:
            raise ValueError(f"{len(missing)} problem ids have no problem text, e.g. {missing[0]}")
        if objective is not None:
            obj = Objective.from_config(objective)
            pointwise, pairs = obj.uses_pointwise, obj.uses_pairs
        self.kw = dict(n_per_problem=n_per_problem, n_pairs_per_problem=n_pairs_per_problem,
                       pointwise=pointwise, pairs=pairs, balance=balance,
                       single_class=single_class, seed=seed)
        self.val_max_per_problem = val_max_per_problem
        self.batch_size, self.val_batch_size = batch_size, val_batch_size or batch_size
        self.max_length, self.truncation, self.template = max_length, truncation, template
        self.collate = EvaluatorCollator(tokenizer.pad_token_id, padding_side)
        self.num_workers, self.seed = num_workers, seed
        self.train_items: list[tuple] = []
        self.val_items: list[tuple] = []
        self.val_problem_ids: list[str] = []
        self.stats: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.train_items or self.val_items:
            return
        by_problem = _load_by_problem(self._candidates)
        ex = build_evaluator_examples(
            by_problem, {p: self.texts[p] for p in self.train_ids}, **self.kw)
        val = build_validation_examples(
            by_problem, {p: self.texts[p] for p in self.val_ids}, self.val_max_per_problem)
        flat = ex.points + [p.pos for p in ex.pairs] + [p.neg for p in ex.pairs] + val
        ids, n_trunc = encode_many(self.tokenizer, [(e.problem, e.solution) for e in flat],
                                   self.max_length, self.template, self.truncation)
        enc = {(e.problem_id, e.sample_idx): i for e, i in zip(flat, ids)}
        self.val_problem_ids = sorted({e.problem_id for e in val})
        pidx = {p: i for i, p in enumerate(self.val_problem_ids)}
        self.train_items = [("point", enc[e.problem_id, e.sample_idx], e.label, -1, e.sample_idx)
                            for e in ex.points]
        self.train_items += [("pair", enc[p.pos.problem_id, p.pos.sample_idx],
                              enc[p.neg.problem_id, p.neg.sample_idx]) for p in ex.pairs]
        self.val_items = [("point", enc[e.problem_id, e.sample_idx], e.label,
                           pidx[e.problem_id], e.sample_idx) for e in val]
        self.stats = {**ex.stats, "val_candidates": len(val),
                      "val_problems": len(self.val_problem_ids), "truncated": n_trunc}
        log.info("evaluator data: %s", self.stats)

    def train_dataloader(self) -> DataLoader:
        if not self.train_items:
            raise ValueError("no evaluator training items: check train_ids and the candidate store")
        # shuffled by (seed, epoch) alone and checkpointed: a resumed fit continues exactly;
        # under DDP batch_size is per rank and each rank takes its slice of one global order
        trainer = getattr(self, "trainer", None)
        world, rank = (int(trainer.world_size), int(trainer.global_rank)) if trainer else (1, 0)
        sampler = LengthGroupedBatchSampler([0] * len(self.train_items), self.batch_size,
                                            shuffle=True, group_by_length=False, seed=self.seed,
                                            num_replicas=world, rank=rank)
        if trainer is not None:
            sampler.set_epoch(trainer.current_epoch)
        return ResumableLoader(self.train_items, batch_sampler=sampler, collate_fn=self.collate,
                               num_workers=self.num_workers, progress=trainer_progress(self))

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_items:
            return []
        return DataLoader(self.val_items, batch_size=self.val_batch_size, shuffle=False,
                          collate_fn=self.collate, num_workers=self.num_workers)

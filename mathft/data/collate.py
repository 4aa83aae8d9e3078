"""Completion-only tokenization, padding, length-grouped batching and packing for SSFT (docs/method.md#ssft).

Loss contract: token-level cross-entropy on the target tokens only. The prompt
``format_prompt(problem, template)`` is tokenized alone (exactly as at generation time) and its
labels are ``-100``; the target is ``" " + solution + eos``. Labels are aligned with ``input_ids``
(the model shifts them), so the token that predicts the first target token is the last prompt token.

Packing puts several examples in one row. Examples never attend to each other: rows carry
``position_ids`` that restart at 0 for every example and NO ``attention_mask``; transformers >= 5
(``masking_utils.find_packed_sequence_indices``) then builds a block-diagonal causal mask for
sdpa/eager/flex attention. Padding at the end of a row is its own segment (positions restart) with
labels ``-100``. Because every example starts with a prompt token labelled ``-100``, no loss term
crosses an example boundary, and the token-weighted loss of a packed batch equals the unpacked one.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from mathft.data.templates import SSFT_PROMPT, format_prompt
from mathft.records import SolutionExample

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
OVERLONG = ("truncate", "drop")
"""What SSFT does with an example longer than ``max_length`` (``generator.overlong``)."""


@dataclass(frozen=True)
class TokenizedExample:
    """One SSFT example as token ids; ``labels`` is ``-100`` on the prompt."""

    input_ids: list[int]
    labels: list[int]
    uid: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_target(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


@dataclass
class TruncationStats:
    """How many examples were cut at ``max_length`` (and dropped: no target token left)."""

    total: int = 0
    truncated: int = 0
    dropped: int = 0
    overlong: str = "truncate"


def tokenize_example(
    example: SolutionExample,
    tokenizer: Any,
    *,
    template: str = SSFT_PROMPT,
    max_length: int | None = None,
    overlong: str = "truncate",
) -> tuple[TokenizedExample | None, bool]:
    """Tokenize prompt and target separately; an example longer than ``max_length`` is
    right-truncated (``overlong="truncate"``) or left out whole (``"drop"``: every kept
    target ends with its answer and EOS).

    Returns ``(example or None if no target token survives / it was dropped, was_too_long)``.
    """
    if overlong not in OVERLONG:
        raise ValueError(f"overlong must be one of {OVERLONG}, got {overlong!r}")
    prompt = tokenizer(format_prompt(example.problem, template), add_special_tokens=True)
    target = tokenizer(" " + example.solution, add_special_tokens=False)
    p_ids = list(prompt["input_ids"])
    t_ids = list(target["input_ids"])
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos token: SSFT targets must end with one")
    t_ids.append(tokenizer.eos_token_id)
    if not p_ids:
        raise ValueError(f"example {example.uid!r}: empty prompt after tokenization")
    ids = p_ids + t_ids
    labels = [IGNORE_INDEX] * len(p_ids) + t_ids
    truncated = max_length is not None and len(ids) > max_length
    if truncated and overlong == "drop":
        return None, True
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    out = TokenizedExample(ids, labels, example.uid)
    return (out if out.n_target > 0 else None), truncated


def tokenize_examples(
    examples: Sequence[SolutionExample],
    tokenizer: Any,
    *,
    template: str = SSFT_PROMPT,
    max_length: int | None = None,
    overlong: str = "truncate",
) -> tuple[list[TokenizedExample], TruncationStats]:
    """Tokenize a list; warns once with the number of truncated / dropped examples."""
    stats = TruncationStats(total=len(examples), overlong=overlong)
    out: list[TokenizedExample] = []
    for ex in examples:
        tok, truncated = tokenize_example(ex, tokenizer, template=template, max_length=max_length,
                                          overlong=overlong)
        stats.truncated += int(truncated)
        if tok is None:
            stats.dropped += 1
        else:
            out.append(tok)
    if stats.truncated and overlong == "drop":
        log.warning("%d of %d SSFT examples longer than max_length=%s left out (overlong=drop)",
                    stats.truncated, stats.total, max_length)
    elif stats.truncated:
        log.warning(
            "%d of %d SSFT examples truncated to max_length=%s (%d dropped: prompt alone too long)",
            stats.truncated, stats.total, max_length, stats.dropped,
        )
    return out, stats


def pack_examples(
    examples: Sequence[TokenizedExample], max_length: int, *, seed: int = 0
) -> list[list[TokenizedExample]]:
    """First-fit-decreasing bin packing into rows of at most ``max_length`` tokens.

    Deterministic given ``seed`` (ties in length are shuffled by it); returns a list of packs.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: -len(examples[i]))
    bins: list[list[TokenizedExample]] = []
    space: list[int] = []
    for i in order:
        ex = examples[i]
        if len(ex) > max_length:
            raise ValueError(f"example {ex.uid!r} longer than max_length={max_length}; tokenize "
                             "with the same max_length")
        for b, free in enumerate(space):
            if len(ex) <= free:
                bins[b].append(ex)
                space[b] -= len(ex)
                break
        else:
            bins.append([ex])
            space.append(max_length - len(ex))
    return bins


class SSFTCollator:
    """Right-pads a list of examples (or of packs, when ``packed``) into model inputs.

    Unpacked batch: ``input_ids, attention_mask, labels``. Packed batch: ``input_ids,
    position_ids, labels`` and no ``attention_mask`` (see module docstring). Both carry
    ``num_tokens`` (real, non-pad tokens) for throughput logging.
    """

    def __init__(self, pad_token_id: int, *, packed: bool = False, pad_to_multiple_of: int = 1):
        if pad_token_id is None:
            raise ValueError("pad_token_id is None: call mathft.models.loading.setup_tokenizer")
        self.pad_token_id = int(pad_token_id)
        self.packed = packed
        self.multiple = max(1, pad_to_multiple_of)

    def _width(self, lengths: list[int]) -> int:
        return int(math.ceil(max(lengths) / self.multiple) * self.multiple)

    def __call__(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        if self.packed:
            return self._collate_packed(items)
        return self._collate_plain(items)

    def _collate_plain(self, items: Sequence[TokenizedExample]) -> dict[str, torch.Tensor]:
        width = self._width([len(x) for x in items])
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for r, ex in enumerate(items):
            n = len(ex)
            ids[r, :n] = torch.tensor(ex.input_ids)
            labels[r, :n] = torch.tensor(ex.labels)
            mask[r, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels,
                "num_tokens": mask.sum()}

    def _collate_packed(self, packs: Sequence[Sequence[TokenizedExample]]) -> dict[str, torch.Tensor]:
        lengths = [sum(len(ex) for ex in p) for p in packs]
        width = self._width(lengths)
        ids = torch.full((len(packs), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(packs), width), IGNORE_INDEX, dtype=torch.long)
        pos = torch.zeros((len(packs), width), dtype=torch.long)
        for r, pack in enumerate(packs):
            c = 0
            for ex in pack:
                n = len(ex)
                ids[r, c : c + n] = torch.tensor(ex.input_ids)
                labels[r, c : c + n] = torch.tensor(ex.labels)
                pos[r, c : c + n] = torch.arange(n)
                c += n
            pos[r, c:] = torch.arange(width - c)  # padding: a separate segment, no loss
        return {"input_ids": ids, "position_ids": pos, "labels": labels,
                "num_tokens": torch.tensor(sum(lengths))}


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length (less padding): shuffle, cut into mega-batches of
    ``batch_size * mega_batch_mult``, sort each by length, split, shuffle the batch order.

    Re-seeded by ``set_epoch``. Under DDP (``num_replicas`` > 1, Lightning's
    ``use_distributed_sampler=False``) ``batch_size`` is per rank: the global batches of
    ``batch_size * num_replicas`` are exactly those of one process with that batch size, and
    rank ``r`` takes the ``r``-th contiguous slice of each, so every example is seen once per
    epoch across ranks and D ranks train as one process with the global batch. Only a final
    global batch with fewer examples than ranks repeats its last example for the empty ranks.
    :meth:`resume` makes the next pass continue where a checkpoint left off (see
    :class:`ResumableLoader`): the order is a function of (seed, epoch) alone.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        group_by_length: bool = True,
        mega_batch_mult: int = 50,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group = group_by_length
        self.mega = max(1, mega_batch_mult)
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def position(self, epoch: int, batches_done: int) -> tuple[int, int]:
        """``(epoch, batch)`` of the next batch after ``batches_done`` batches of ``epoch``: a
        finished epoch is ``(epoch + 1, 0)``, the start of the next one."""
        n = len(self)
        if n and batches_done >= n:
            return epoch + batches_done // n, batches_done % n
        return epoch, batches_done

    def resume(self, epoch: int, batches_done: int) -> None:
        """Make the next pass the rest of ``epoch`` after its first ``batches_done`` batches
        (the next epoch's whole pass if they were all of it), whatever epoch is set by then:
        Lightning creates the resumed iterator before it moves its own epoch counter on."""
        self._resume = self.position(int(epoch), int(batches_done))

    def _all_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        idx = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(idx)
        if self.group:
            size = self.batch_size * self.num_replicas * self.mega
            megas = [idx[i : i + size] for i in range(0, len(idx), size)]
            idx = [i for m in megas for i in sorted(m, key=lambda j: -self.lengths[j])]
        bs = self.batch_size * self.num_replicas  # global batch
        batches = [idx[i : i + bs] for i in range(0, len(idx), bs)]
        if self.drop_last and batches and len(batches[-1]) < bs:
            batches.pop()
        if self.shuffle and self.group:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        skip = 0
        if self._resume is not None:
            (self.epoch, skip), self._resume = self._resume, None
        for gb in self._all_batches()[skip:]:
            yield rank_slice(gb, self.rank, self.num_replicas)

    def __len__(self) -> int:
        bs = self.batch_size * self.num_replicas
        n = len(self.lengths) // bs
        if not self.drop_last and len(self.lengths) % bs:
            n += 1
        return n


def rank_slice(batch: list[int], rank: int, num_replicas: int) -> list[int]:
    """Rank ``rank``'s contiguous share of a global batch (sizes differ by at most one);
    a rank left empty (fewer examples than ranks) gets the batch's last example."""
    if num_replicas <= 1:
        return batch
    q, r = divmod(len(batch), num_replicas)
    start = rank * q + min(rank, r)
    part = batch[start : start + q + (rank < r)]
    return part or batch[-1:]


class ResumableLoader(DataLoader):
    """A DataLoader over a :class:`LengthGroupedBatchSampler` whose place in training is saved
    in Lightning checkpoints and restored on resume (Lightning's stateful-loader protocol:
    ``state_dict``/``load_state_dict`` on the loader).

    ``progress()`` returns ``(epoch, batches trained on in that epoch)`` from the trainer (the
    trainer's count, not the loader's: it prefetches a batch ahead), or None without one.
    Each pass reorders by the trainer's epoch (Lightning's own ``set_epoch`` call reaches
    samplers, not batch samplers), and a resumed run gets the very batches an uninterrupted
    run would have had, in the same order. A checkpoint taken after an epoch's last batch
    records the start of the next epoch: resuming from it, Lightning moves on to that epoch
    but keeps the iterator it made while restoring, which must therefore already serve it.
    """

    def __init__(self, *args: Any, progress: Callable[[], tuple[int, int] | None],
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._progress = progress

    def __iter__(self) -> Any:
        now = self._progress()
        if now is not None:
            self.batch_sampler.set_epoch(now[0])
        return super().__iter__()

    def state_dict(self) -> dict[str, int]:
        now = self._progress() or (self.batch_sampler.epoch, 0)
        epoch, done = self.batch_sampler.position(int(now[0]), int(now[1]))
        return {"epoch": epoch, "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.resume(state["epoch"], state["batches_done"])


def trainer_progress(owner: Any) -> Callable[[], tuple[int, int] | None]:
    """``(current epoch, batches processed in it)`` of ``owner.trainer``; None without one."""

    def progress() -> tuple[int, int] | None:
        trainer = getattr(owner, "trainer", None)
        if trainer is None:
            return None
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return int(trainer.current_epoch), int(done)

    return progress

"""LightningDataModule for SSFT over lists of :class:`~mathft.records.SolutionExample` (docs/method.md#ssft).

Takes the train/val examples (or callables returning them, evaluated lazily in ``setup``),
tokenizes completion-only, truncates (counting truncations), and serves length-grouped or packed
batches; see :mod:`mathft.data.collate` for the loss/masking contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from mathft.data.collate import (
    LengthGroupedBatchSampler,
    ResumableLoader,
    SSFTCollator,
    TokenizedExample,
    TruncationStats,
    pack_examples,
    tokenize_examples,
    trainer_progress,
)
from mathft.data.templates import SSFT_PROMPT
from mathft.records import SolutionExample

Examples = Sequence[SolutionExample] | Callable[[], Sequence[SolutionExample]]


def _resolve(examples: Examples | None) -> list[SolutionExample]:
    if examples is None:
        return []
    items = examples() if callable(examples) else examples
    out = list(items)
    for i, ex in enumerate(out):
        if not isinstance(ex, SolutionExample):
            raise TypeError(f"example {i} is {type(ex).__name__}, expected SolutionExample")
    return out


class SSFTDataModule(pl.LightningDataModule):
    """SSFT batches: ``input_ids``, ``labels`` (-100 on prompt/pad), ``attention_mask`` or, when
    ``packing``, ``position_ids`` (block-diagonal attention), plus ``num_tokens``.

    ``batch_size`` counts examples, or packed rows of ``max_length`` tokens when ``packing``.
    Validation is never packed-shuffled: it is deterministic (sorted by length when grouped).
    """

    def __init__(
        self,
        tokenizer: Any,
        train: Examples | None = None,
        val: Examples | None = None,
        *,
        template: str = SSFT_PROMPT,
        max_length: int = 1024,
        overlong: str = "truncate",
        batch_size: int = 4,
        eval_batch_size: int | None = None,
        packing: bool = False,
        group_by_length: bool = True,
        shuffle: bool = True,
        num_workers: int = 0,
        pad_to_multiple_of: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self._train_src, self._val_src = train, val
        self.template = template
        self.max_length = max_length
        self.overlong = overlong
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.packing = packing
        self.group_by_length = group_by_length
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.pad_to_multiple_of = pad_to_multiple_of
        self.seed = seed
        self.train_items: list[Any] | None = None
        self.val_items: list[Any] | None = None
        self.stats: dict[str, TruncationStats] = {}

    def _prepare(self, split: str, src: Examples | None) -> list[Any]:
        toks, stats = tokenize_examples(
            _resolve(src), self.tokenizer, template=self.template, max_length=self.max_length,
            overlong=self.overlong,
        )
        self.stats[split] = stats
        if self.packing:
            return pack_examples(toks, self.max_length, seed=self.seed)
        return toks

    def setup(self, stage: str | None = None) -> None:
        if self.train_items is None and self._train_src is not None:
            self.train_items = self._prepare("train", self._train_src)
        if self.val_items is None and self._val_src is not None:
            self.val_items = self._prepare("val", self._val_src)

    @staticmethod
    def _length(item: TokenizedExample | list[TokenizedExample]) -> int:
        return len(item) if isinstance(item, TokenizedExample) else sum(len(x) for x in item)

    def _collator(self) -> SSFTCollator:
        return SSFTCollator(self.tokenizer.pad_token_id, packed=self.packing,
                            pad_to_multiple_of=self.pad_to_multiple_of)

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, items: list[Any], batch_size: int, train: bool) -> DataLoader:
        replicas, rank = self._world()
        sampler = LengthGroupedBatchSampler(
            [self._length(x) for x in items],
            batch_size,
            shuffle=train and self.shuffle,
            group_by_length=self.group_by_length and not self.packing or not train,
            seed=self.seed,
            num_replicas=replicas,
            rank=rank,
        )
        if train and getattr(self, "trainer", None) is not None:
            sampler.set_epoch(self.trainer.current_epoch)
        kw = dict(batch_sampler=sampler, collate_fn=self._collator(),
                  num_workers=self.num_workers, persistent_workers=False)
        if train:  # its place in the epoch is checkpointed: a resumed fit continues exactly
            return ResumableLoader(items, progress=trainer_progress(self), **kw)
        return DataLoader(items, **kw)  # type: ignore[arg-type]

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        if not self.train_items:
            raise ValueError("SSFTDataModule: no training examples (check the data config)")
        return self._loader(self.train_items, self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader | list:
        self.setup("validate")
        if not self.val_items:
            return []
        return self._loader(self.val_items, self.eval_batch_size, train=False)

"""A shuffled batch sampler that gives D data-parallel ranks the batches of one process.

``DataLoader(items, batch_size=B * D, shuffle=True, generator=g)`` on one process and
``DataLoader(items, batch_sampler=ShuffledBatchSampler(len(items), B, g, D, r), generator=g)``
on each of D ranks (same seed for ``g``) draw the same permutation, so the union of the
ranks' batches at each step is the one-process batch: rank ``r`` takes the ``r``-th
contiguous slice (:func:`mathft.data.collate.rank_slice`). With ``D = 1`` it reproduces the
plain shuffled DataLoader exactly (``torch.randperm`` on the generator, after the DataLoader's
own base-seed draw), so single-process runs are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from mathft.data.collate import rank_slice


class ShuffledBatchSampler(Sampler[list[int]]):
    """Per-rank batches of a shuffled global batch sequence (``batch_size`` is per rank)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, *,
                 num_replicas: int = 1, rank: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.num_replicas, self.rank, self.drop_last = max(1, num_replicas), rank, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=self.generator).tolist()
        bs = self.batch_size * self.num_replicas
        for i in range(0, self.n, bs):
            gb = perm[i : i + bs]
            if self.drop_last and len(gb) < bs:
                break
            yield rank_slice(gb, self.rank, self.num_replicas)
        # RandomSampler draws a second (empty-sliced) permutation once the first is exhausted
        torch.randperm(self.n, generator=self.generator)

    def __len__(self) -> int:
        bs = self.batch_size * self.num_replicas
        return self.n // bs if self.drop_last else -(-self.n // bs)

"""Clustering of one problem's N answers into equivalence classes (docs/grading.md).

Cost control: answers are grouped by canonical key (normalized string) first, so N answers
become k distinct representatives (k is small in practice: samples agree). Pairs of
representatives are decided in-process whenever the canonical forms suffice (numbers,
choice letters, text); the worker is asked only about the rest, one comparison per
(representative, existing component) rather than per pair, results cached, and the worker
parses each string once (its own cache). A representative whose comparison times out is
treated as a singleton from then on, so one pathological answer costs one timeout.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from mathft.grading.equivalence import DEFAULT_TIMEOUT, Canon, fast_decision, symbolic_equiv

__all__ = ["cluster_answers"]


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _representatives(answers: Sequence[str | None]) -> tuple[list[Canon], list[int | None]]:
    keys: dict[str, int] = {}
    reps: list[Canon] = []
    slot_of: list[int | None] = []
    for a in answers:
        if a is None:
            slot_of.append(None)
            continue
        c = Canon(str(a))
        if c.key not in keys:
            keys[c.key] = len(reps)
            reps.append(c)
        slot_of.append(keys[c.key])
    return reps, slot_of


def cluster_answers(
    answers: Sequence[str | None], *, timeout: float = DEFAULT_TIMEOUT
) -> list[int | None]:
    """Cluster id per answer (None for no answer); ids ordered by size desc, then first index."""
    reps, slot_of = _representatives(answers)
    parent = list(range(len(reps)))
    poisoned: set[int] = set()
    # in-process merges first, so the worker later sees one member per component
    for i, ci in enumerate(reps):
        for j in range(i):
            if _find(parent, i) != _find(parent, j) and fast_decision(ci, reps[j]):
                parent[_find(parent, i)] = _find(parent, j)
    for i, ci in enumerate(reps):
        checked: set[int] = set()  # components already found unequal to i (one probe each)
        for j in range(i):
            if i in poisoned:
                break
            rj = _find(parent, j)
            if j in poisoned or rj in checked or _find(parent, i) == rj:
                continue
            if fast_decision(ci, reps[j]) is not None:
                continue
            same = symbolic_equiv(ci, reps[j], timeout)
            if same is None:
                poisoned.add(i)
            elif same:
                parent[_find(parent, i)] = rj
            else:
                checked.add(rj)

    return relabel_by_size([_find(parent, s) if s is not None else None for s in slot_of])


def relabel_by_size(labels: Sequence[Hashable | None]) -> list[int | None]:
    """Cluster ids 0, 1, ... ordered by cluster size (desc), then first index (docs/grading.md).

    ``labels`` assigns any hashable label per answer (None = no answer, no cluster).
    """
    size: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for idx, r in enumerate(labels):
        if r is None:
            continue
        size[r] = size.get(r, 0) + 1
        first.setdefault(r, idx)
    order = sorted(size, key=lambda r: (-size[r], first[r]))
    cid = {r: n for n, r in enumerate(order)}
    return [cid[r] if r is not None else None for r in labels]

"""Clustering of one problem's N answers into equivalence classes (SPEC §5).

Cost control: answers are first grouped by canonical key (normalized string); groups with
exact numeric values are merged in-process; only representatives the canonical forms
cannot decide go to the worker, in ONE batched request that parses each representative
once and compares components (not all pairs). Number/expr pairs (``\\sqrt{2}`` vs
``1.41421356``) are covered because number representatives join the batch whenever an
expression representative exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from mathft.grading import _worker
from mathft.grading.equivalence import DEFAULT_TIMEOUT, Canon, fast_decision, symbolic_equiv

__all__ = ["cluster_answers"]


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def cluster_answers(
    answers: Sequence[str | None], *, timeout: float = DEFAULT_TIMEOUT
) -> list[int | None]:
    """Cluster id per answer (None for no answer); ids ordered by size desc, then first index."""
    keys: dict[str, int] = {}  # normalized key -> representative slot
    reps: list[Canon] = []
    slot_of: list[int | None] = []
    for a in answers:
        if a is None:
            slot_of.append(None)
            continue
        try:
            c = Canon(str(a))
        except Exception:  # pragma: no cover - Canon is defensive, keep clustering total
            c = Canon("")
        k = c.key
        if k not in keys:
            keys[k] = len(reps)
            reps.append(c)
        slot_of.append(keys[k])

    parent = list(range(len(reps)))
    undecided: list[int] = []
    for i, ci in enumerate(reps):
        if ci.kind in ("number", "expr"):
            undecided.append(i)
        for j in range(i):
            if _find(parent, i) == _find(parent, j):
                continue
            if ci.value is not None and reps[j].value is not None and fast_decision(ci, reps[j]):
                parent[_find(parent, i)] = _find(parent, j)

    if any(reps[i].kind == "expr" for i in undecided):
        items = [reps[i].clean for i in undecided]
        budget = max(timeout - 0.25, 0.8 * timeout)
        bound = timeout * (1 + len(items)) ** 2
        comps = _worker.call({"op": "cluster", "items": items, "budget": budget}, bound, None)
        if comps is None:  # batch failed: fall back to per-pair comparisons of representatives
            comps = [[k] for k in range(len(items))]
            for x in range(len(items)):
                for y in range(x):
                    ix, iy = undecided[x], undecided[y]
                    if _find(parent, ix) == _find(parent, iy):
                        continue
                    if reps[ix].value is not None and reps[iy].value is not None:
                        continue
                    if symbolic_equiv(items[x], items[y], timeout):
                        parent[_find(parent, ix)] = _find(parent, iy)
        for comp in comps:
            for k in comp[1:]:
                a, b = _find(parent, undecided[comp[0]]), _find(parent, undecided[k])
                if a != b:
                    parent[b] = a

    roots = [_find(parent, s) if s is not None else None for s in slot_of]
    size: dict[int, int] = {}
    first: dict[int, int] = {}
    for idx, r in enumerate(roots):
        if r is None:
            continue
        size[r] = size.get(r, 0) + 1
        first.setdefault(r, idx)
    order = sorted(size, key=lambda r: (-size[r], first[r]))
    cid = {r: n for n, r in enumerate(order)}
    return [cid[r] if r is not None else None for r in roots]

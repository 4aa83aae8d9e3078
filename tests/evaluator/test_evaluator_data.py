"""Evaluator data: counts, balance, pairs, determinism, truncation, collation (docs/method.md#evaluator-training-data)."""

from __future__ import annotations

import random

import pytest
import torch

from mathft.data.evaluator_data import (
    EvaluatorCollator,
    EvaluatorDataModule,
    build_evaluator_examples,
    build_validation_examples,
    encode_evaluator_example,
    encode_many,
)
from mathft.data.templates import format_evaluator_prompt

TAIL = "\nThe above candidate solution is"


def _mixed(make_problems, make_candidates):
    probs = make_problems(5)
    # correct counts per problem: 3, 1, 8 (all), 0 (none), 6
    counts = [3, 1, 8, 0, 6]
    return probs, make_candidates(probs, n=8, n_correct=lambda i: counts[i])


def test_counts_balance_and_pairs(make_problems, make_candidates):
    probs, cands = _mixed(make_problems, make_candidates)
    ex = build_evaluator_examples(cands, probs, n_per_problem=4, n_pairs_per_problem=4, seed=0)
    per = {}
    for e in ex.points:
        per.setdefault(e.problem_id, []).append(e.label)
    # balanced where possible; single-class problems give pointwise examples of their class only
    assert {k: sorted(v) for k, v in per.items()} == {
        "p0": [0, 0, 1, 1], "p1": [0, 0, 0, 1], "p2": [1, 1, 1, 1], "p3": [0, 0, 0, 0],
        "p4": [0, 0, 1, 1]}
    # labels are the grader's `correct` field
    lookup = {c.key: c for cs in cands.values() for c in cs}
    assert all(lookup[e.problem_id, e.sample_idx].correct == bool(e.label) for e in ex.points)
    assert all(lookup[e.problem_id, e.sample_idx].text == e.solution for e in ex.points)
    # no candidate used twice per problem
    keys = [(e.problem_id, e.sample_idx) for e in ex.points]
    assert len(keys) == len(set(keys))
    # pairs: same problem, X+ correct and X- incorrect, distinct; none from single-class problems
    pair_keys = [(p.pos.problem_id, p.pos.sample_idx, p.neg.sample_idx) for p in ex.pairs]
    assert len(pair_keys) == len(set(pair_keys))
    assert all(p.pos.problem_id == p.neg.problem_id for p in ex.pairs)
    assert all(p.pos.label == 1 and p.neg.label == 0 for p in ex.pairs)
    by_pid = {pid: sum(1 for p in ex.pairs if p.pos.problem_id == pid) for pid in probs}
    assert by_pid == {"p0": 4, "p1": 4, "p2": 0, "p3": 0, "p4": 4}
    assert ex.stats == {
        "problems": 5, "problems_used": 5, "problems_no_candidates": 0,
        "problems_single_class": 2, "problems_skipped": 0,
        "correct": 2 + 1 + 4 + 0 + 2, "incorrect": 2 + 3 + 0 + 4 + 2, "pairs": 12}


def test_caps_without_repetition(make_problems, make_candidates):
    probs = make_problems(2)
    cands = make_candidates(probs, n=4, n_correct=lambda i: [1, 2][i])
    ex = build_evaluator_examples(cands, probs, n_per_problem=10, n_pairs_per_problem=10)
    assert ex.stats["correct"] + ex.stats["incorrect"] == 8   # all 4 + 4, none repeated
    assert ex.stats["pairs"] == 1 * 3 + 2 * 2                 # |pos| x |neg| per problem


def test_single_class_skip_and_missing(make_problems, make_candidates):
    probs, cands = _mixed(make_problems, make_candidates)
    del cands["p4"]
    ex = build_evaluator_examples(cands, probs, n_per_problem=4, single_class="skip")
    assert {e.problem_id for e in ex.points} == {"p0", "p1"}
    assert ex.stats["problems_skipped"] == 3 and ex.stats["problems_no_candidates"] == 1
    with pytest.raises(ValueError, match="no evaluator training examples"):
        build_evaluator_examples({}, probs)


def test_deterministic_and_order_independent(make_problems, make_candidates):
    probs, cands = _mixed(make_problems, make_candidates)
    a = build_evaluator_examples(cands, probs, n_per_problem=3, seed=7)
    rng = random.Random(0)
    shuffled = {k: rng.sample(v, len(v)) for k, v in reversed(list(cands.items()))}
    b = build_evaluator_examples(shuffled, dict(reversed(list(probs.items()))),
                                 n_per_problem=3, seed=7)
    assert a.points == b.points and a.pairs == b.pairs
    c = build_evaluator_examples(cands, probs, n_per_problem=3, seed=8)
    assert (c.points, c.pairs) != (a.points, a.pairs)


def test_validation_uses_every_candidate(make_problems, make_candidates):
    probs, cands = _mixed(make_problems, make_candidates)
    val = build_validation_examples(cands, {"p0": probs["p0"], "p1": probs["p1"]})
    assert [(e.problem_id, e.sample_idx) for e in val] == [
        (p, j) for p in ("p0", "p1") for j in range(8)]
    assert len(build_validation_examples(cands, probs, max_per_problem=2)) == 10


@pytest.mark.parametrize("side", ["left", "middle", "right"])
def test_truncation_keeps_template_tail(tokenizer, side):
    problem = "What is $2 + 3$?"
    solution = "START " + " ".join(f"step{i} adds {i}." for i in range(200)) + " The answer is 5 END"
    full = tokenizer(format_evaluator_prompt(problem, solution))["input_ids"]
    assert len(full) > 300
    ids = encode_evaluator_example(tokenizer, problem, solution, max_length=64, truncation=side)
    assert 56 <= len(ids) <= 64
    text = tokenizer.decode(ids)
    assert text.endswith(TAIL) and text.startswith("Here is a math problem: What is $2 + 3$?")
    tail_ids = tokenizer(TAIL, add_special_tokens=False)["input_ids"]
    assert ids[-len(tail_ids):] == full[-len(tail_ids):]
    assert ("START" in text) == (side in ("left", "middle"))
    assert ("END" in text) == (side in ("right", "middle"))
    # short inputs are untouched and equal the plain encoding
    short = encode_evaluator_example(tokenizer, problem, "It is 5.", max_length=64)
    assert short == tokenizer(format_evaluator_prompt(problem, "It is 5."))["input_ids"]


def test_truncation_of_huge_problem_and_errors(tokenizer):
    problem = "Compute " + "one plus " * 300 + "one."
    ids = encode_evaluator_example(tokenizer, problem, "It is 301.", max_length=48)
    assert len(ids) <= 48 and tokenizer.decode(ids).endswith(TAIL)
    with pytest.raises(ValueError, match="max_length=5"):
        encode_evaluator_example(tokenizer, "x", "y", max_length=5)
    ids, n_trunc = encode_many(tokenizer, [("a", "b"), (problem, "c")], max_length=48)
    assert n_trunc == 1 and len(ids[1]) <= 48


def test_collator_rows(tokenizer):
    col = EvaluatorCollator(tokenizer.pad_token_id, "left")
    items = [("pair", [1, 2, 3], [4]), ("point", [5, 6], 1, 0, 3), ("pair", [7], [8, 9])]
    b = col(items)
    assert b["n_point"] == 1 and b["n_pair"] == 2
    assert b["labels"].tolist() == [1] and b["sample_idx"].tolist() == [3]
    rows = [[t for t, m in zip(r, mk) if m] for r, mk in zip(b["input_ids"].tolist(),
                                                           b["attention_mask"].tolist())]
    assert rows == [[5, 6], [1, 2, 3], [7], [4], [8, 9]]   # points, X+ of pairs, X- of pairs
    assert b["attention_mask"][:, -1].tolist() == [1] * 5   # left padding: last column real
    with pytest.raises(ValueError, match="pad_token_id"):
        EvaluatorCollator(None)


def test_datamodule(tokenizer, make_problems, make_candidates, tmp_path):
    probs = make_problems(6)
    cands = make_candidates(probs, n=6, n_correct=lambda i: i % 4)
    dm = EvaluatorDataModule(tokenizer, cands, probs, ["p0", "p1", "p2", "p3"], ["p4", "p5"],
                             objective={"name": "xent+margin"}, n_per_problem=4, batch_size=5,
                             max_length=48)
    dm.setup("fit")
    kinds = [it[0] for it in dm.train_items]
    assert kinds.count("point") == 16 and kinds.count("pair") == dm.stats["pairs"] > 0
    assert dm.stats["val_candidates"] == 12 and dm.val_problem_ids == ["p4", "p5"]
    n_rows = 0
    for batch in dm.train_dataloader():
        assert batch["input_ids"].shape[1] <= 48
        n_rows += batch["input_ids"].shape[0]
    assert n_rows == 16 + 2 * dm.stats["pairs"]
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["problem_index"], torch.tensor([0, 0, 0, 0, 0]))
    # the same from a candidate store on disk
    from mathft.sampling.store import CandidateStore

    store = CandidateStore(tmp_path / "c.jsonl", config_hash="h", model_id="gen")
    store.append([c.__class__(**{**c.to_dict(), "config_hash": "h"})
                  for cs in cands.values() for c in cs])
    dm2 = EvaluatorDataModule(tokenizer, tmp_path / "c.jsonl", probs, ["p0", "p1", "p2", "p3"],
                              ["p4", "p5"], objective={"name": "xent+margin"}, n_per_problem=4,
                              batch_size=5, max_length=48)
    dm2.setup("fit")
    assert dm2.train_items == dm.train_items and dm2.val_items == dm.val_items
    with pytest.raises(ValueError, match="both train and val"):
        EvaluatorDataModule(tokenizer, cands, probs, ["p0"], ["p0"])
    with pytest.raises(ValueError, match="no problem text"):
        EvaluatorDataModule(tokenizer, cands, probs, ["zz"])

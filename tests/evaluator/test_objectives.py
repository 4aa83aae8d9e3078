"""Evaluator score and objectives against hand computations (docs/method.md#objectives, Eq. 7-9)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mathft.models.objectives import (
    Objective,
    bt_loss,
    log_s_cls,
    margin_loss,
    s_cls,
    score_logit,
    xent_loss,
    xent_per_example,
)

POS, NEG = 1, 2
# rows: next-token logits over a 4-token vocabulary; POS=1 (" correct"), NEG=2 (" incorrect")
A = [0.5, 2.0, 1.0, -1.0]   # l+ = 2, l- = 1  -> s = 1
B = [3.0, 0.0, 0.5, 0.0]    # l+ = 0, l- = 0.5 -> s = -0.5
LOGITS = torch.tensor([A, B])
CONF = Path(__file__).resolve().parents[2] / "conf" / "objective"


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_s_cls_is_two_way_normalised():
    want = [math.exp(2) / (math.exp(2) + math.exp(1)), math.exp(0) / (math.exp(0) + math.exp(0.5))]
    assert s_cls(LOGITS, POS, NEG).tolist() == pytest.approx(want, abs=1e-6)
    assert score_logit(LOGITS, POS, NEG).tolist() == pytest.approx([1.0, -0.5])
    assert log_s_cls(LOGITS, POS, NEG).tolist() == pytest.approx([math.log(w) for w in want],
                                                                 abs=1e-6)
    # the other vocabulary entries do not matter
    shifted = LOGITS.clone()
    shifted[:, 0] += 10.0
    assert torch.allclose(s_cls(shifted, POS, NEG), s_cls(LOGITS, POS, NEG))


def test_label_ids_must_differ():
    with pytest.raises(ValueError, match="coincide"):
        s_cls(LOGITS, POS, POS)


def test_xent_vocab_is_lm_cross_entropy():
    labels = torch.tensor([1, 0])
    lse_a = math.log(sum(math.exp(v) for v in A))
    lse_b = math.log(sum(math.exp(v) for v in B))
    want = [lse_a - A[POS], lse_b - B[NEG]]
    got = xent_per_example(LOGITS, labels, POS, NEG, "vocab")
    assert got.tolist() == pytest.approx(want, abs=1e-6)
    assert float(xent_loss(LOGITS, labels, POS, NEG)) == pytest.approx(sum(want) / 2, abs=1e-6)


def test_xent_pair_is_bce_on_s_cls():
    labels = torch.tensor([0, 1])
    want = [-math.log(1 - sig(1.0)), -math.log(sig(-0.5))]
    got = xent_per_example(LOGITS, labels, POS, NEG, "pair")
    assert got.tolist() == pytest.approx(want, abs=1e-6)
    # pair normalisation ignores other tokens; vocab normalisation does not
    shifted = LOGITS.clone()
    shifted[:, 0] += 10.0
    assert torch.allclose(xent_per_example(shifted, labels, POS, NEG, "pair"), got)
    assert not torch.allclose(xent_per_example(shifted, labels, POS, NEG, "vocab"),
                              xent_per_example(LOGITS, labels, POS, NEG, "vocab"))
    with pytest.raises(ValueError, match="normalize"):
        xent_loss(LOGITS, labels, POS, NEG, "softmax")


def test_margin_eq8():
    pos, neg = LOGITS[:1], LOGITS[1:]
    diff = math.log(sig(-0.5)) - math.log(sig(1.0))  # log S(X-) - log S(X+) = -0.6608
    assert float(margin_loss(pos, neg, POS, NEG, lam=1.0)) == pytest.approx(diff + 1.0, abs=1e-6)
    assert float(margin_loss(pos, neg, POS, NEG, lam=0.5)) == 0.0  # hinge inactive
    # swapped roles: the ranking is wrong, the loss is large
    assert float(margin_loss(neg, pos, POS, NEG, lam=0.0)) == pytest.approx(-diff, abs=1e-6)
    # mean over pairs
    two = margin_loss(LOGITS, LOGITS.flip(0), POS, NEG, lam=1.0)
    assert float(two) == pytest.approx(((diff + 1.0) + (-diff + 1.0)) / 2, abs=1e-6)


def test_bt():
    pos, neg = LOGITS[:1], LOGITS[1:]
    for m in (0.0, 0.7):
        want = -math.log(sig(1.0 - (-0.5) - m))
        assert float(bt_loss(pos, neg, POS, NEG, margin=m)) == pytest.approx(want, abs=1e-6)


def test_gradients_push_scores_apart():
    logits = LOGITS.clone().requires_grad_(True)
    for fn in (lambda x: margin_loss(x[:1], x[1:], POS, NEG, 1.0),
               lambda x: bt_loss(x[:1], x[1:], POS, NEG)):
        logits.grad = None
        fn(logits).backward()
        g = logits.grad
        assert g[0, POS] < 0 and g[0, NEG] > 0   # raise s+
        assert g[1, POS] > 0 and g[1, NEG] < 0   # lower s-


def test_objective_combines_terms():
    labels = torch.tensor([1, 0])
    obj = Objective(name="xent+margin", normalize="pair", lam=0.3,
                    weights={"xent": 0.25, "margin": 2.0})
    out = obj(POS, NEG, point_logits=LOGITS, point_labels=labels,
              pair_pos_logits=LOGITS[:1], pair_neg_logits=LOGITS[1:])
    x = xent_loss(LOGITS, labels, POS, NEG, "pair")
    m = margin_loss(LOGITS[:1], LOGITS[1:], POS, NEG, 0.3)
    assert float(out["loss"]) == pytest.approx(float(0.25 * x + 2.0 * m), abs=1e-6)
    # a batch with no pairs contributes only the xent term
    only = obj(POS, NEG, point_logits=LOGITS, point_labels=labels,
               pair_pos_logits=LOGITS[:0], pair_neg_logits=LOGITS[:0])
    assert float(only["loss"]) == pytest.approx(float(0.25 * x), abs=1e-6)
    bt = Objective(name="bt", margin=0.7)(POS, NEG, pair_pos_logits=LOGITS[:1],
                                          pair_neg_logits=LOGITS[1:])
    assert float(bt["loss"]) == pytest.approx(-math.log(sig(1.5 - 0.7)), abs=1e-6)


def test_objective_configs_load(group_option):
    names = {}
    for path in sorted(CONF.glob("*.yaml")):
        names[path.stem] = Objective.from_config(group_option("objective", path.stem))
    assert {k: v.name for k, v in names.items()} == {
        "xent": "xent", "margin": "margin", "bt": "bt", "xent_margin": "xent+margin"}
    assert names["xent"].normalize == "vocab"
    assert names["xent"].uses_pointwise and not names["xent"].uses_pairs
    assert names["margin"].uses_pairs and not names["margin"].uses_pointwise
    assert names["xent_margin"].uses_pairs and names["xent_margin"].uses_pointwise
    with pytest.raises(ValueError, match="unknown objective config keys"):
        Objective.from_config({"name": "xent", "lamda": 1.0})
    with pytest.raises(ValueError, match="objective.name"):
        Objective.from_config({"name": "hinge"})

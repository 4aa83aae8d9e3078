"""Solution-evaluator score and training objectives (docs/method.md#objectives; paper Eq. 7-9).

The evaluator is the causal LM used generatively: after the template T(P, X) (problem P,
candidate X; ``mathft.data.templates.EVALUATOR_PROMPT``) its next-token distribution is read
at the first tokens of the label words `` correct`` / `` incorrect``. With ``l+``/``l-`` the
next-token logits of those two tokens (Eq. 7):

    S_cls(X|P) = p(correct|T) / (p(correct|T) + p(incorrect|T)) = sigmoid(l+ - l-)

so ``s = l+ - l-`` (the logit of S_cls) is the natural real-valued score: the vocabulary's
log-partition cancels. Every function here is a pure function of tensors; the rows of
``logits`` are the next-token logits at each example's last real token, shape ``[B, V]``.

Objectives (config group ``objective``, see ``Objective``):

- ``xent`` (Eq. 9): ``-log p(y|T)`` for the label word y of each pointwise example.
  ``normalize: vocab`` (default, the paper's generative LM objective) normalises over the
  full vocabulary, so it also pushes mass away from every other token; ``normalize: pair``
  is binary cross-entropy on S_cls itself (normalised over the two label tokens only).
- ``margin`` (Eq. 8): ``max(0, log S_cls(X-) - log S_cls(X+) + lambda)`` over pairs of one
  problem (X+ correct, X- incorrect).
- ``bt`` (beyond the paper, Bradley-Terry): ``-log sigmoid(s+ - s- - m)``.
- ``xent+margin``: ``w_xent * xent + w_margin * margin`` (pointwise and pair terms each
  averaged over their own examples).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

OBJECTIVES = ("xent", "margin", "bt", "xent+margin")
NORMALIZE = ("vocab", "pair")


def pair_logits(logits: Tensor, pos_id: int, neg_id: int) -> Tensor:
    """The two label tokens' next-token logits, ``[B, 2]`` (positive first), in float32."""
    if pos_id == neg_id:
        raise ValueError(f"label token ids coincide ({pos_id}); S_cls would be constant 0.5")
    return logits[:, [pos_id, neg_id]].float()


def score_logit(logits: Tensor, pos_id: int, neg_id: int) -> Tensor:
    """``s = logit(S_cls) = l+ - l-`` per row (Eq. 7 in logit space), ``[B]``."""
    two = pair_logits(logits, pos_id, neg_id)
    return two[:, 0] - two[:, 1]


def s_cls(logits: Tensor, pos_id: int, neg_id: int) -> Tensor:
    """``S_cls = p(correct|T) / (p(correct|T) + p(incorrect|T))`` per row (Eq. 7), ``[B]``."""
    return torch.sigmoid(score_logit(logits, pos_id, neg_id))


def log_s_cls(logits: Tensor, pos_id: int, neg_id: int) -> Tensor:
    """``log S_cls`` per row, computed stably as ``logsigmoid(l+ - l-)``, ``[B]``."""
    return F.logsigmoid(score_logit(logits, pos_id, neg_id))


def xent_per_example(
    logits: Tensor, labels: Tensor, pos_id: int, neg_id: int, normalize: str = "vocab"
) -> Tensor:
    """Eq. 9 per row: ``-log p(label word | T)``; ``labels`` 1 = correct, 0 = incorrect, ``[B]``.

    ``normalize="vocab"``: softmax over the whole vocabulary (LM cross-entropy on the label
    word's first token). ``normalize="pair"``: softmax over the two label tokens only, i.e.
    binary cross-entropy on S_cls.
    """
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    labels = labels.long()
    if normalize == "vocab":
        targets = torch.where(labels == 1, pos_id, neg_id)
        return F.cross_entropy(logits.float(), targets, reduction="none")
    s = score_logit(logits, pos_id, neg_id)
    return F.binary_cross_entropy_with_logits(s, labels.float(), reduction="none")


def xent_loss(
    logits: Tensor, labels: Tensor, pos_id: int, neg_id: int, normalize: str = "vocab"
) -> Tensor:
    """Eq. 9: mean of ``xent_per_example`` over the batch (0 for an empty batch)."""
    if logits.shape[0] == 0:
        return logits.new_zeros((), dtype=torch.float32)
    return xent_per_example(logits, labels, pos_id, neg_id, normalize).mean()


def margin_loss(
    logits_pos: Tensor, logits_neg: Tensor, pos_id: int, neg_id: int, lam: float = 1.0
) -> Tensor:
    """Eq. 8: mean ``max(0, log S_cls(X-|P) - log S_cls(X+|P) + lambda)`` over pairs."""
    if logits_pos.shape[0] == 0:
        return logits_pos.new_zeros((), dtype=torch.float32)
    diff = log_s_cls(logits_neg, pos_id, neg_id) - log_s_cls(logits_pos, pos_id, neg_id)
    return torch.clamp(diff + lam, min=0.0).mean()


def bt_loss(
    logits_pos: Tensor, logits_neg: Tensor, pos_id: int, neg_id: int, margin: float = 0.0
) -> Tensor:
    """Bradley-Terry (beyond the paper): mean ``-log sigmoid(s+ - s- - m)``, s = logit S_cls."""
    if logits_pos.shape[0] == 0:
        return logits_pos.new_zeros((), dtype=torch.float32)
    s_pos = score_logit(logits_pos, pos_id, neg_id)
    s_neg = score_logit(logits_neg, pos_id, neg_id)
    return -F.logsigmoid(s_pos - s_neg - margin).mean()


@dataclass(frozen=True)
class Objective:
    """One evaluator objective, built from a ``conf/objective/*.yaml`` mapping.

    ``lam`` is Eq. 8's lambda (``margin``), ``margin`` the Bradley-Terry offset m (``bt``),
    ``weights`` the term weights of ``xent+margin`` (keys ``xent``, ``margin``).
    """

    name: str = "xent"
    normalize: str = "vocab"
    lam: float = 1.0
    margin: float = 0.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"xent": 1.0, "margin": 1.0})

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(f"objective.name must be one of {OBJECTIVES}, got {self.name!r}")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"objective.normalize must be one of {NORMALIZE}: {self.normalize!r}")
        if self.name == "xent+margin" and not {"xent", "margin"} <= set(self.weights):
            raise ValueError(f"objective.weights needs keys 'xent' and 'margin': {self.weights}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | Objective | str | None) -> Objective:
        """Build from a config mapping (unknown keys, e.g. Hydra's ``_target_``, are errors)."""
        if isinstance(cfg, Objective):
            return cfg
        if cfg is None:
            return cls()
        if isinstance(cfg, str):
            return cls(name=cfg)
        known = {"name", "normalize", "lam", "margin", "weights"}
        extra = set(cfg) - known - {"doc"}
        if extra:
            raise ValueError(f"unknown objective config keys {sorted(extra)}; known: {sorted(known)}")
        kwargs = {k: cfg[k] for k in known if k in cfg}
        if "weights" in kwargs:
            kwargs["weights"] = {str(k): float(v) for k, v in dict(kwargs["weights"]).items()}
        return cls(**kwargs)

    @property
    def uses_pointwise(self) -> bool:
        """Whether training batches need pointwise (prompt, label) examples."""
        return self.name in ("xent", "xent+margin")

    @property
    def uses_pairs(self) -> bool:
        """Whether training batches need (X+, X-) pairs of one problem."""
        return self.name in ("margin", "bt", "xent+margin")

    def __call__(
        self,
        pos_id: int,
        neg_id: int,
        point_logits: Tensor | None = None,
        point_labels: Tensor | None = None,
        pair_pos_logits: Tensor | None = None,
        pair_neg_logits: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Loss terms for one batch; ``"loss"`` is the total to minimise.

        Terms whose examples are absent from the batch contribute 0 (a mixed batch of
        ``xent+margin`` may hold only points or only pairs).
        """
        ref = next(t for t in (point_logits, pair_pos_logits) if t is not None)
        zero = ref.new_zeros((), dtype=torch.float32)
        out: dict[str, Tensor] = {}
        if self.uses_pointwise and point_logits is not None and point_labels is not None:
            out["xent"] = xent_loss(point_logits, point_labels, pos_id, neg_id, self.normalize)
        if self.uses_pairs and pair_pos_logits is not None and pair_neg_logits is not None:
            if self.name == "bt":
                out["bt"] = bt_loss(pair_pos_logits, pair_neg_logits, pos_id, neg_id, self.margin)
            else:
                out["margin"] = margin_loss(
                    pair_pos_logits, pair_neg_logits, pos_id, neg_id, self.lam
                )
        if self.name == "xent+margin":
            total = self.weights["xent"] * out.get("xent", zero)
            total = total + self.weights["margin"] * out.get("margin", zero)
        else:
            total = out.get(self.name, zero)
        out["loss"] = total
        return out

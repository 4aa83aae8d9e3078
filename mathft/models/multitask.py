"""One causal LM trained in stages: generator (SSFT) and evaluator losses (docs/method.md#sequential-multi-task-fine-tuning, paper §3.4).

``MultiTaskModule`` holds ONE model and computes the loss of its *active stage*, set by the
``mathft.callbacks.sequential.SequentialStages`` callback through :meth:`set_stage`:

- ``generator`` stage: the SSFT completion-only cross-entropy (``SSFTModule``'s loss, docs/method.md#ssft),
  logged as ``train/loss`` and ``train/<stage name>/loss``;
- ``evaluator`` stage: the evaluator objective (``xent`` Eq. 9, ``margin`` Eq. 8, ``bt``,
  ``xent+margin``; ``mathft.models.objectives.Objective``) on the label word after the template,
  read by ``last_token_logits`` exactly as ``EvaluatorModule`` does. Batches come from
  ``EvaluatorCollator``. With ``joint_alpha > 0`` (an extra, off by default: the paper did not
  mix MLE in) the batch is ``{"evaluator": ev_batch, "generator": ssft_batch}`` and the loss is
  ``evaluator + joint_alpha * MLE``.

Optimizer (a choice, documented in the callback): every stage starts from a FRESH AdamW state and
its own linear-warmup + cosine schedule over the stage's length, as if fine-tuning anew from the
previous stage's weights. ``configure_optimizers`` builds it for the active stage; the callback
calls it again at each boundary. Validation is the generator's ``val/loss`` (SSFT), whatever the
stage, so the three stages share one comparable curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from mathft.data.templates import LABEL_WORDS
from mathft.models.evaluator import label_token_ids, last_token_logits
from mathft.models.loading import DEFAULT_SPEC
from mathft.models.objectives import Objective
from mathft.models.optim import adamw_warmup_cosine
from mathft.models.ssft import SSFTModule

STAGE_KINDS = ("generator", "evaluator")


@dataclass(frozen=True)
class StageSpec:
    """One stage of a sequential plan (``conf/stages/*.yaml``, key ``stages``).

    ``steps`` (optimizer steps) or ``epochs`` (passes over the stage's data, resolved to steps
    when the stage starts, since stage-2 data exist only after sampling). ``lr``/``warmup_*``
    override the module's values for this stage (None: inherit). ``joint_alpha`` (evaluator
    stages only) adds ``alpha * MLE`` on generator batches.
    """

    name: str
    kind: str
    steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    joint_alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"stage {self.name!r}: kind must be one of {STAGE_KINDS}, "
                             f"got {self.kind!r}")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"stage {self.name!r}: give exactly one of steps / epochs "
                             f"(got steps={self.steps}, epochs={self.epochs})")
        if self.steps is not None and int(self.steps) < 0:
            raise ValueError(f"stage {self.name!r}: steps must be >= 0, got {self.steps}")
        if self.epochs is not None and float(self.epochs) <= 0:
            raise ValueError(f"stage {self.name!r}: epochs must be > 0, got {self.epochs}")
        if self.joint_alpha < 0 or (self.joint_alpha and self.kind != "evaluator"):
            raise ValueError(f"stage {self.name!r}: joint_alpha must be >= 0 and only set on an "
                             f"evaluator stage (kind={self.kind}, joint_alpha={self.joint_alpha})")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | StageSpec, index: int = 0) -> StageSpec:
        """Build from a mapping; unknown keys are an error naming the stage."""
        if isinstance(cfg, StageSpec):
            return cfg
        known = set(cls.__dataclass_fields__)
        extra = set(cfg) - known - {"doc"}
        if extra:
            raise ValueError(f"stages[{index}]: unknown keys {sorted(extra)}; known: {sorted(known)}")
        kw = {k: cfg[k] for k in known if k in cfg and cfg[k] is not None}
        kw.setdefault("name", f"stage{index}")
        if "kind" not in kw:
            raise ValueError(f"stages[{index}] ({kw['name']}): missing key 'kind' {STAGE_KINDS}")
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_stages(cfg: Sequence[Mapping[str, Any] | StageSpec]) -> list[StageSpec]:
    """Stage specs from config; names must be unique (they name the logged losses)."""
    specs = [StageSpec.from_config(c, i) for i, c in enumerate(cfg)]
    if not specs:
        raise ValueError("stages: at least one stage is needed")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}")
    return specs


class MultiTaskModule(SSFTModule):
    """A causal LM whose training loss is that of the active stage (see module docstring).

    Arguments are ``SSFTModule``'s plus the evaluator's ``objective`` and ``label_words``.
    Until a stage is set (by the callback) the module behaves as a generator over
    ``trainer.max_steps`` steps, so it also trains alone like an ``SSFTModule``.
    """

    def __init__(
        self,
        model: Mapping[str, Any] | str | torch.nn.Module = DEFAULT_SPEC,
        finetune: Mapping[str, Any] | None = None,
        *,
        objective: Mapping[str, Any] | Objective | str | None = None,
        label_words: Sequence[str] = LABEL_WORDS,
        tokenizer: Any = None,
        **ssft_kwargs: Any,
    ):
        super().__init__(model, finetune, tokenizer=tokenizer, **ssft_kwargs)
        self.objective = Objective.from_config(objective)
        self.save_hyperparameters({
            "objective": {"name": self.objective.name, "normalize": self.objective.normalize,
                          "lam": self.objective.lam, "margin": self.objective.margin,
                          "weights": dict(self.objective.weights)},
            "label_words": list(label_words),
        })
        self.pos_id, self.neg_id = label_token_ids(self.tokenizer, label_words)
        self.stage: StageSpec | None = None
        self.stage_index: int = 0
        self.stage_steps: int | None = None

    # --- stage control (driven by SequentialStages) ------------------------------------------
    def set_stage(self, spec: StageSpec, index: int, steps: int | None) -> None:
        """Make ``spec`` the active stage; ``steps`` (resolved length) sizes its LR schedule."""
        self.stage, self.stage_index, self.stage_steps = spec, int(index), steps

    @property
    def stage_kind(self) -> str:
        return "generator" if self.stage is None else self.stage.kind

    # --- losses ------------------------------------------------------------------------------
    def generator_loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """SSFT loss (docs/method.md#ssft): mean CE over target tokens (``SSFTModule._loss``)."""
        return self._loss(batch)[0]

    def evaluator_terms(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Objective terms on an ``EvaluatorCollator`` batch (rows: points, pairs X+, pairs X-)."""
        logits = last_token_logits(self.model, batch["input_ids"], batch["attention_mask"])
        n_p, n_q = int(batch["n_point"]), int(batch["n_pair"])
        return self.objective(
            self.pos_id, self.neg_id,
            point_logits=logits[:n_p], point_labels=batch["labels"],
            pair_pos_logits=logits[n_p:n_p + n_q], pair_neg_logits=logits[n_p + n_q:])

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        name = "generator" if self.stage is None else self.stage.name
        if self.stage_kind == "generator":
            if "n_point" in batch or "evaluator" in batch:
                raise RuntimeError(f"stage {name!r} (generator) received an evaluator batch")
            loss = super().training_step(batch, batch_idx)
            self.log(f"train/{name}/loss", loss, batch_size=batch["input_ids"].size(0))
            return loss
        joint = isinstance(batch, Mapping) and "evaluator" in batch
        ev_batch = batch["evaluator"] if joint else batch
        if "n_point" not in ev_batch:
            raise RuntimeError(f"stage {name!r} (evaluator) received a generator batch")
        terms = self.evaluator_terms(ev_batch)
        loss = terms.pop("loss")
        bs = max(1, int(ev_batch["n_point"]) + int(ev_batch["n_pair"]))
        if joint:
            alpha = self.stage.joint_alpha if self.stage is not None else 0.0
            terms["mle"] = self.generator_loss(batch["generator"])
            loss = loss + alpha * terms["mle"]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log(f"train/{name}/loss", loss, batch_size=bs)
        for term, value in terms.items():
            self.log(f"train/{name}/{term}", value, batch_size=bs)
        self._step_tokens = None
        return loss

    # --- optimizer ---------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        """Fresh AdamW + warmup/cosine over the active stage's steps (paper-faithful reading)."""
        hp, st = self.hparams, self.stage
        if self.stage_steps is not None:
            total = int(self.stage_steps)
        else:
            est = float(self.trainer.estimated_stepping_batches) if self._trainer else 1.0
            total = int(est) if est == est and est != float("inf") else 1

        def pick(key: str) -> Any:
            val = getattr(st, key) if st is not None else None
            return hp[key] if val is None else val

        return adamw_warmup_cosine(
            self.model.named_parameters(), lr=float(pick("lr")), weight_decay=hp.weight_decay,
            betas=hp.betas, eps=hp.eps, warmup_steps=int(pick("warmup_steps")),
            warmup_ratio=float(pick("warmup_ratio")), min_lr_ratio=hp.min_lr_ratio,
            total_steps=max(1, total))

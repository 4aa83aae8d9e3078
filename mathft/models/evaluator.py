"""Generative solution evaluator: a causal LM scored at the label word (docs/method.md#solution-evaluator, Eq. 7-9).

``EvaluatorModule`` fine-tunes a causal LM (full or LoRA) so that after the template T(P, X)
the next token is `` correct`` for correct candidates and `` incorrect`` otherwise. Its
score is ``S_cls = sigmoid(l+ - l-)`` from ONE forward pass (``last_token_logits``), no
generation. Objectives: ``mathft.models.objectives.Objective`` (``xent``/``margin``/``bt``/
``xent+margin``). Batches come from ``mathft.data.evaluator_data.EvaluatorCollator``.

Logged: ``train/loss`` and the objective's terms (``train/xent``, ``train/margin``...),
``train/n_point``/``train/n_pair`` (examples per epoch), ``lr``; validation (from scores
gathered over the whole epoch and all ranks): ``val/xent``, ``val/acc`` (S_cls > 0.5 vs
label), ``val/auc`` (rank-based), ``val/rr_all`` (fraction of validation problems whose top-S_cls
candidate is correct: RR.All), ``val/pass_n`` (its oracle upper bound), ``val/n_candidates``.

Extra loss terms (e.g. the joint variant ``evaluator + alpha * MLE``, docs/method.md#sequential-multi-task-fine-tuning) are added with
``add_loss_term(name, fn, weight)``; ``fn(module, batch, batch_idx) -> Tensor``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mathft.data.templates import EVALUATOR_PROMPT, LABEL_WORDS
from mathft.models.loading import (
    DEFAULT_SPEC,
    apply_finetune,
    is_peft_model,
    load_from_config,
    model_config,
)
from mathft.models.objectives import Objective, score_logit, xent_per_example
from mathft.models.optim import adamw_warmup_cosine, stepping_total

log = logging.getLogger(__name__)

LossFn = Callable[["EvaluatorModule", Mapping[str, Any], int], Tensor]


def label_token_ids(tokenizer: Any, label_words: Sequence[str] = LABEL_WORDS) -> tuple[int, int]:
    """First token ids of the positive and negative label words; they must differ (docs/method.md#evaluator-template)."""
    if len(label_words) != 2:
        raise ValueError(f"need exactly two label words (positive, negative), got {label_words}")
    ids = []
    for w in label_words:
        toks = tokenizer(w, add_special_tokens=False)["input_ids"]
        if not toks:
            raise ValueError(f"label word {w!r} tokenizes to nothing")
        ids.append(int(toks[0]))
    if ids[0] == ids[1]:
        raise ValueError(
            f"label words {label_words} share their first token {ids[0]} "
            f"({tokenizer.convert_ids_to_tokens(ids[0])!r}) under this tokenizer, so S_cls is "
            "constant; choose label words whose first tokens differ (evaluator.label_words)"
        )
    return ids[0], ids[1]


def last_token_logits(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Next-token logits ``[B, V]`` at each row's last real token (left or right padding).

    Positions are ``cumsum(mask) - 1`` so left padding does not shift them, and only the
    needed positions go through the LM head (``logits_to_keep``).
    """
    mask, last, positions = _last_and_positions(attention_mask)
    keep = torch.unique(last)
    kw = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions,
          "use_cache": False}
    try:
        logits = model(**kw, logits_to_keep=keep).logits
        col = torch.searchsorted(keep, last)
    except TypeError:  # a model without logits_to_keep: full logits
        logits = model(**kw).logits
        col = last
    return logits[torch.arange(len(last), device=logits.device), col]


def _last_and_positions(attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(mask, last real token per row, position ids)`` for left or right padding."""
    mask = attention_mask.long()
    last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(dim=1)
    return mask, last, (mask.cumsum(dim=1) - 1).clamp(min=0)


def label_logits(model: torch.nn.Module, hidden: Tensor, label_ids: tuple[int, int]) -> Tensor:
    """The label words' logits ``[B, 2]`` (``l+``, ``l-`` of Eq. 7) from last hidden states
    ``[B, d]``, in fp32: only the LM head's two label rows, applied in fp32, then the model's
    final logit soft-capping if it has one (Gemma).

    Why fp32: a bf16 logit keeps 8 bits of mantissa (at ``|l|`` near 16 its step is 0.125), so
    a bf16 LM head gives S_cls only a few distinct values within a problem and ties the
    candidates re-ranking must order. The decoder still runs in the model's dtype.
    """
    head = model.get_output_embeddings()
    idx = torch.tensor(label_ids, device=head.weight.device)
    w = head.weight.detach().index_select(0, idx).float()
    b = None if getattr(head, "bias", None) is None else head.bias.detach().index_select(0, idx).float()
    out = torch.nn.functional.linear(hidden.float(), w, b)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(out / cap) * cap if cap else out


def last_token_label_logits(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor,
                            label_ids: tuple[int, int]) -> Tensor:
    """:func:`label_logits` at each row's last real token (left or right padding), ``[B, 2]``.

    The decoder (``model.get_decoder()``) gives the hidden states; a model without one falls
    back to :func:`last_token_logits` (its LM head in the model's dtype).
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or model.get_output_embeddings() is None:
        logits = last_token_logits(model, input_ids, attention_mask)
        return logits[:, list(label_ids)].float()
    mask, last, positions = _last_and_positions(attention_mask)
    hidden = decoder(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                     use_cache=False).last_hidden_state
    return label_logits(model, hidden[torch.arange(len(last), device=hidden.device), last],
                        label_ids)


def binary_auc(scores: Sequence[float] | Tensor, labels: Sequence[int] | Tensor) -> float:
    """ROC AUC by ranks (Mann-Whitney U, ties get average ranks); NaN if one class is absent."""
    s = torch.as_tensor(scores, dtype=torch.float64).flatten()
    y = torch.as_tensor(labels).flatten().bool()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    i, n = 0, len(s)
    while i < n:  # average rank over each run of tied scores
        j = i
        while j + 1 < n and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def rerank_accuracy(
    problem_index: Iterable[int], sample_idx: Iterable[int], scores: Iterable[float],
    labels: Iterable[int],
) -> tuple[float, float]:
    """(RR.All, Pass@N) over problems: is the top-scored candidate correct / is any correct.

    Ties in score go to the earliest ``sample_idx`` (the full strategy in ``mathft.rerank``
    also prefers larger answer clusters; validation has no clusters).
    """
    best: dict[int, tuple[float, int, int]] = {}
    any_ok: dict[int, bool] = {}
    for p, i, s, y in zip(problem_index, sample_idx, scores, labels):
        p, i, s, y = int(p), int(i), float(s), int(y)
        if p not in best or (-s, i) < (-best[p][0], best[p][1]):
            best[p] = (s, i, y)
        any_ok[p] = any_ok.get(p, False) or bool(y)
    if not best:
        return float("nan"), float("nan")
    return (sum(b[2] for b in best.values()) / len(best), sum(any_ok.values()) / len(any_ok))


class EvaluatorModule(pl.LightningModule):
    """Causal LM trained as a generative solution evaluator (full or LoRA fine-tuning).

    ``model``: a model config mapping (``conf/model/*.yaml``) or spec string, built here and
    saved in the hyper-parameters so ``load_from_checkpoint(path)`` rebuilds it; or an
    ``nn.Module`` (then pass ``tokenizer``, and again both to ``load_from_checkpoint``).
    ``finetune`` (``{method: lora, ...}``) is applied to a passed module too unless it is
    already a peft model, so a checkpoint reloads into a fresh base model.
    """

    def __init__(
        self,
        model: Mapping[str, Any] | str | torch.nn.Module = DEFAULT_SPEC,
        finetune: Mapping[str, Any] | None = None,
        *,
        objective: Mapping[str, Any] | Objective | str | None = None,
        label_words: Sequence[str] = LABEL_WORDS,
        template: str = EVALUATOR_PROMPT,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        warmup_ratio: float = 0.0,
        min_lr_ratio: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        tokenizer: Any = None,
    ):
        super().__init__()
        ft = dict(finetune) if finetune is not None else {"method": "full"}
        obj = Objective.from_config(objective)
        hp_obj = {"name": obj.name, "normalize": obj.normalize, "lam": obj.lam,
                  "margin": obj.margin, "weights": dict(obj.weights)}
        if isinstance(model, torch.nn.Module):
            if tokenizer is None:
                raise ValueError("EvaluatorModule(model=<nn.Module>) needs tokenizer=")
            # NB: an ``ignore=`` call removes earlier-saved keys of those names: it goes first
            self.save_hyperparameters(ignore=["model", "tokenizer", "finetune", "objective",
                                              "label_words"])
            self.save_hyperparameters({"finetune": ft, "objective": hp_obj,
                                       "label_words": list(label_words)})
            self.model = model if is_peft_model(model) else apply_finetune(model, ft)
            self.tokenizer = tokenizer
        else:
            cfg = model_config(model)
            self.save_hyperparameters(ignore=["model", "tokenizer", "finetune", "objective",
                                              "label_words"])
            self.save_hyperparameters({"model": cfg, "finetune": ft, "objective": hp_obj,
                                       "label_words": list(label_words)})
            self.model, self.tokenizer = load_from_config(cfg, ft)
        self.objective = obj
        self.pos_id, self.neg_id = label_token_ids(self.tokenizer, label_words)
        self.extra_losses: dict[str, tuple[float, LossFn]] = {}
        self._val: list[Tensor] = []
        # from_pretrained returns eval mode and Lightning (>= 2.2) keeps submodule modes: without
        # this, dropout (LoRA's included) would silently be off during training.
        self.model.train()

    # --- scoring ---------------------------------------------------------------------------
    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Next-token logits ``[B, V]`` after each row's template."""
        return last_token_logits(self.model, input_ids, attention_mask)

    def add_loss_term(self, name: str, fn: LossFn, weight: float = 1.0) -> None:
        """Add ``weight * fn(self, batch, batch_idx)`` to the training loss (logged as train/<name>)."""
        self.extra_losses[name] = (float(weight), fn)

    # --- training ----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        """Record the evaluator data counts (``EvaluatorDataModule.stats``) with the run."""
        stats = getattr(getattr(self.trainer, "datamodule", None), "stats", None)
        if stats:
            log.info("evaluator data: %s", stats)
            for lg in self.loggers:
                lg.log_hyperparams({f"evaluator_data/{k}": v for k, v in stats.items()})

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        n_p, n_q = int(batch["n_point"]), int(batch["n_pair"])
        terms = self.objective(
            self.pos_id, self.neg_id,
            point_logits=logits[:n_p], point_labels=batch["labels"],
            pair_pos_logits=logits[n_p:n_p + n_q], pair_neg_logits=logits[n_p + n_q:])
        loss = terms.pop("loss")
        for name, (weight, fn) in self.extra_losses.items():
            term = fn(self, batch, batch_idx)
            terms[name] = term
            loss = loss + weight * term
        bs = max(1, n_p + n_q)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for name, value in terms.items():
            self.log(f"train/{name}", value, batch_size=bs)
        self.log("train/n_point", float(n_p), reduce_fx="sum", on_step=False, on_epoch=True)
        self.log("train/n_pair", float(n_q), reduce_fx="sum", on_step=False, on_epoch=True)
        sched = self.lr_schedulers()
        if sched is not None:
            self.log("lr", sched.get_last_lr()[0], batch_size=1)
        return loss

    # --- validation --------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        n_p = int(batch["n_point"])
        if n_p == 0:
            return
        logits = self(batch["input_ids"], batch["attention_mask"])[:n_p]
        nll = xent_per_example(logits, batch["labels"], self.pos_id, self.neg_id,
                               self.objective.normalize)
        s = score_logit(logits, self.pos_id, self.neg_id)
        self._val.append(torch.stack([
            batch["problem_index"].double(), batch["sample_idx"].double(), s.double(),
            batch["labels"].double(), nll.double()], dim=1).detach())

    def _gathered(self) -> Tensor:
        """Rows (problem_index, sample_idx, s, label, nll) from all ranks, duplicates removed."""
        local = torch.cat(self._val) if self._val else torch.zeros((0, 5), dtype=torch.float64,
                                                                      device=self.device)
        if self.trainer is None or self.trainer.world_size <= 1:
            rows = local
        else:
            n = torch.tensor([len(local)], device=self.device)
            sizes = self.all_gather(n).flatten()
            pad = torch.zeros((int(sizes.max()) - len(local), 5), dtype=local.dtype,
                              device=local.device)
            allr = self.all_gather(torch.cat([local, pad]))
            rows = torch.cat([allr[r, :int(k)] for r, k in enumerate(sizes)])
        uniq: dict[tuple[int, int], Tensor] = {}
        for r in rows.cpu():  # DistributedSampler pads with duplicated examples
            uniq.setdefault((int(r[0]), int(r[1])), r)
        return torch.stack(list(uniq.values())) if uniq else rows.cpu()

    def on_validation_epoch_end(self) -> None:
        rows = self._gathered()
        self._val = []
        if len(rows) == 0:
            return
        pidx, sidx, s, y, nll = rows.unbind(dim=1)
        rr, pass_n = rerank_accuracy(pidx.tolist(), sidx.tolist(), s.tolist(), y.tolist())
        metrics = {
            "val/xent": nll.mean(),
            "val/acc": ((s > 0).double() == y).double().mean(),
            "val/auc": torch.tensor(binary_auc(s, y), dtype=torch.float64),
            "val/rr_all": torch.tensor(rr, dtype=torch.float64),
            "val/pass_n": torch.tensor(pass_n, dtype=torch.float64),
            "val/n_candidates": torch.tensor(float(len(rows)), dtype=torch.float64),
        }
        for k, v in metrics.items():  # identical on every rank already: no sync needed
            self.log(k, v.float(), prog_bar=k in ("val/auc", "val/rr_all"), rank_zero_only=False)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        return adamw_warmup_cosine(
            self.model.named_parameters(), lr=hp.lr, weight_decay=hp.weight_decay,
            betas=hp.betas, eps=hp.eps, warmup_steps=hp.warmup_steps,
            warmup_ratio=hp.warmup_ratio, min_lr_ratio=hp.min_lr_ratio,
            total_steps=stepping_total(self))

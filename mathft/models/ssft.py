"""SSFT LightningModule: supervised step-by-step solution fine-tuning (docs/method.md#ssft).

Loss: token-level cross-entropy on the target (solution) tokens only, prompt tokens masked with
``-100``, averaged over the target tokens of the batch (token-weighted, so a packed batch and the
same examples unpacked give the same loss). With gradient accumulation Lightning averages the
micro-batch means.

Optimizer: AdamW (no weight decay on biases and norms), linear warmup then cosine decay to
``min_lr_ratio * lr``; total steps from ``trainer.estimated_stepping_batches``.

The LM head runs only at the positions that have a target (``completion_loss``): full-vocabulary
logits for prompt and padding tokens are never materialised, which saves their memory and the
head's FLOPs (measured 1.11x memory, 1.13x time per forward + backward on SmolLM2-135M at
4 x 512 tokens: ``benchmarks/ssft_loss.py``; the decoder layers' activations dominate the rest).

Logged: ``train/loss``, ``val/loss``, ``lr``, ``train/tokens_per_s`` (all real tokens) and
``train/target_tokens_per_s``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from mathft.data.collate import IGNORE_INDEX
from mathft.models.loading import DEFAULT_SPEC, is_peft_model, load_from_config, model_config
from mathft.models.optim import adamw_warmup_cosine, stepping_total
from mathft.runs.distributed import global_count


def _plain(x: Any) -> Any:
    """Hydra/OmegaConf containers -> plain dicts/lists (picklable, YAML-able hyper-parameters)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return x
    if isinstance(x, (DictConfig, ListConfig)):
        return OmegaConf.to_container(x, resolve=True)
    return x


def completion_loss_terms(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token CE over labelled positions, and their count (labels aligned with inputs)."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    loss_sum = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss_sum, (shift_labels != IGNORE_INDEX).sum()


# config fields that rescale logits after the head; a model with any of them set takes the
# full-logits path (exact whatever the head does).
_LOGIT_RESCALES = ("logit_scale", "logits_scaling", "output_multiplier_scale")


def _split_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module, float | None] | None:
    """(decoder, lm_head, final logit soft-cap) of a causal LM, or None if it is not split so."""
    base = model.get_base_model() if is_peft_model(model) else model
    get_decoder, get_head = getattr(base, "get_decoder", None), getattr(base, "get_output_embeddings", None)
    if get_decoder is None or get_head is None:
        return None
    decoder, head = get_decoder(), get_head()
    if decoder is None or head is None or decoder is base:
        return None
    config = base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
    if any(getattr(config, k, None) not in (None, 1, 1.0) for k in _LOGIT_RESCALES):
        return None
    return decoder, head, getattr(config, "final_logit_softcapping", None)


def completion_loss(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``completion_loss_terms(model(batch).logits, labels)`` with the LM head applied only where a
    next token is labelled (docs/method.md#ssft). Falls back to full logits for heads it cannot split."""
    split = _split_head(model)
    if split is None:
        return completion_loss_terms(model(**model_inputs(batch)).logits, batch["labels"])
    decoder, head, softcap = split
    hidden = decoder(**model_inputs(batch)).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][keep])
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    loss_sum = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    return loss_sum, keep.sum()


def model_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Forward kwargs from a collated batch; packed batches carry position_ids and no mask."""
    kw: dict[str, Any] = {"input_ids": batch["input_ids"], "use_cache": False}
    for key in ("attention_mask", "position_ids"):
        if key in batch:
            kw[key] = batch[key]
    return kw


class SSFTModule(pl.LightningModule):
    """Causal LM fine-tuned with the completion-only SSFT loss (full or LoRA).

    ``model`` is a model config mapping (``conf/model/*.yaml``: ``name_or_path``, ``dtype``...) or
    a spec string; the model is built here and the config saved as hyper-parameters, so
    ``SSFTModule.load_from_checkpoint(path)`` rebuilds it. An ``nn.Module`` may be passed instead
    (with ``tokenizer``); then ``load_from_checkpoint`` needs ``model=`` and ``tokenizer=`` again.
    """

    def __init__(
        self,
        model: Mapping[str, Any] | str | torch.nn.Module = DEFAULT_SPEC,
        finetune: Mapping[str, Any] | None = None,
        *,
        lr: float = 2e-5,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        warmup_ratio: float = 0.0,
        min_lr_ratio: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        tokenizer: Any = None,
    ):
        super().__init__()
        if isinstance(model, torch.nn.Module):
            if tokenizer is None:
                raise ValueError("SSFTModule(model=<nn.Module>) needs tokenizer=")
            self.save_hyperparameters(ignore=["model", "tokenizer"])
            self.model, self.tokenizer = model, tokenizer
        else:
            cfg = model_config(model if isinstance(model, str) else _plain(model))
            ft = dict(_plain(finetune)) if finetune is not None else {"method": "full"}
            self.save_hyperparameters({
                "model": cfg, "finetune": ft, "lr": lr, "weight_decay": weight_decay,
                "warmup_steps": warmup_steps, "warmup_ratio": warmup_ratio,
                "min_lr_ratio": min_lr_ratio, "betas": tuple(betas), "eps": eps,
            })
            self.model, self.tokenizer = load_from_config(cfg, ft)
        self._val_sum = torch.zeros(())
        self._val_count = torch.zeros(())
        self._t_start = time.perf_counter()
        self._step_tokens: tuple[float, float] | None = None
        # from_pretrained returns eval mode and Lightning (>= 2.2) keeps submodule modes: without
        # this, dropout (LoRA's included) would silently be off during training.
        self.model.train()

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.model(**model_inputs(batch)).logits

    def _loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss_sum, count = completion_loss(self.model, batch)
        return loss_sum / count.clamp(min=1), loss_sum, count

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, loss_sum, count = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].size(0))
        self._step_tokens = (float(batch.get("num_tokens", batch["input_ids"].numel())), float(count))
        world = int(self.trainer.world_size) if self._trainer is not None else 1
        if world > 1:  # DDP averages gradients: divide by the global target count / world
            return loss_sum * world / global_count(self, count).clamp(min=1).to(loss_sum.dtype)
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._t_start = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Log lr and throughput: real tokens and target tokens per second of this step
        (forward + backward + optimizer, as Lightning runs them)."""
        sched = self.lr_schedulers()
        if sched is not None:
            self.log("lr", float(sched.get_last_lr()[0]), batch_size=1)
        dt = time.perf_counter() - self._t_start
        if dt > 0 and self._step_tokens is not None:
            n_tok, n_target = self._step_tokens
            self.log("train/tokens_per_s", n_tok / dt, batch_size=1)
            self.log("train/target_tokens_per_s", n_target / dt, batch_size=1)

    def on_validation_epoch_start(self) -> None:
        self._val_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._val_count = torch.zeros((), device=self.device, dtype=torch.float64)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        _, loss_sum, count = self._loss(batch)
        self._val_sum += loss_sum.detach().double()
        self._val_count += count.double()

    def on_validation_epoch_end(self) -> None:
        total = self.trainer.strategy.reduce(self._val_sum, reduce_op="sum")
        count = self.trainer.strategy.reduce(self._val_count, reduce_op="sum")
        if float(count) > 0:
            self.log("val/loss", (total / count).float(), prog_bar=True, sync_dist=False)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        return adamw_warmup_cosine(
            self.model.named_parameters(), lr=hp.lr, weight_decay=hp.weight_decay,
            betas=hp.betas, eps=hp.eps, warmup_steps=hp.warmup_steps,
            warmup_ratio=hp.warmup_ratio, min_lr_ratio=hp.min_lr_ratio,
            total_steps=stepping_total(self))

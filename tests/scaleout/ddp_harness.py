"""Fit the SSFT and evaluator modules on a tiny random Llama with 1 or 2 CPU processes.

2 processes use the ``conf/trainer/ddp_cpu.yaml`` strategy (DDP, spawn start, gloo); the
launching process gets rank 0's weights back. An :class:`AuditIO` records which rank wrote
each checkpoint file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from mathft.records import Candidate, Problem, SolutionExample


class AuditIO(TorchCheckpointIO):
    """Checkpoint IO that appends ``<rank> <path>`` to ``log`` for every file it writes."""

    def __init__(self, log: str):
        super().__init__()
        self.log = log

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        with open(self.log, "a") as f:
            f.write(f"{rank} {path} pid={os.getpid()}\n")
        super().save_checkpoint(checkpoint, path, storage_options)


def ssft_examples(n: int = 16) -> list[SolutionExample]:
    out = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        sol = f"We add {a} and {b}. " * (1 + i % 4) + f"So the answer is $\\boxed{{{a + b}}}$."
        out.append(SolutionExample(f"ex/{i}", f"What is ${a} + {b}$?", sol, str(a + b),
                                   "math", "math"))
    return out


def eval_data(n_problems: int = 8, n: int = 4) -> tuple[dict, list[Problem]]:
    problems = [Problem(f"p{i}", f"What is {i} + {i + 1}?", str(2 * i + 1))
                for i in range(n_problems)]
    cands = {}
    for p in problems:
        rows = []
        for j in range(n):
            ok = j < 2
            ans = p.answer if ok else str(int(p.answer) + 1 + j)
            text = f"Attempt {j}: {'yes' if ok else 'no'} " * (1 + j) + f"$\\boxed{{{ans}}}$."
            rows.append(Candidate(p.uid, j, text, ans, ok, "tiny", n_tokens=len(text.split())))
        cands[p.uid] = rows
    return cands, problems


def trainer(devices: int, root: Path, max_steps: int, audit: str | None = None) -> pl.Trainer:
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.strategies import DDPStrategy

    io = AuditIO(audit) if audit else None
    kw: dict[str, Any] = {}
    if devices > 1:
        kw["strategy"] = DDPStrategy(start_method="spawn", process_group_backend="gloo",
                                     checkpoint_io=io)
    elif io is not None:
        kw["plugins"] = [io]
    return pl.Trainer(
        accelerator="cpu", devices=devices, max_steps=max_steps, max_epochs=-1,
        use_distributed_sampler=False, logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        gradient_clip_val=1.0, default_root_dir=str(root),
        callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True, save_top_k=0,
                                   every_n_train_steps=2)], **kw)


def fit_ssft(devices: int, batch_size: int, root: Path, max_steps: int = 3,
             audit: str | None = None) -> dict[str, torch.Tensor]:
    from mathft.data.datamodule import SSFTDataModule
    from mathft.models.ssft import SSFTModule

    pl.seed_everything(0)
    module = SSFTModule("tiny", lr=3e-3, warmup_steps=0)
    dm = SSFTDataModule(module.tokenizer, ssft_examples(), None, max_length=128,
                        batch_size=batch_size, seed=0)
    trainer(devices, root, max_steps, audit).fit(module, datamodule=dm)
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


def fit_evaluator(devices: int, batch_size: int, root: Path, max_steps: int = 3,
                  audit: str | None = None) -> dict[str, torch.Tensor]:
    from mathft.data.evaluator_data import EvaluatorDataModule
    from mathft.models.evaluator import EvaluatorModule

    pl.seed_everything(0)
    module = EvaluatorModule("tiny", objective={"name": "xent"}, lr=3e-3)
    cands, problems = eval_data()
    ids = [p.uid for p in problems]
    dm = EvaluatorDataModule(module.tokenizer, cands, problems, train_ids=ids[:6],
                             val_ids=ids[6:], objective=module.objective, n_per_problem=4,
                             balance=True, batch_size=batch_size, max_length=128, seed=0)
    trainer(devices, root, max_steps, audit).fit(module, datamodule=dm)
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)

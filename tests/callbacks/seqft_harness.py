"""A tiny sequential run (generator -> evaluator -> generator) for the callback tests.

Importable by the tests and runnable as a script (``python seqft_harness.py ROOT ...``) so that
a test can SIGKILL a real training process and resume it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from mathft.callbacks.sequential import SequentialStages
from mathft.data.datamodule import SSFTDataModule
from mathft.models.multitask import MultiTaskModule
from mathft.records import Problem, SolutionExample

N_PROBLEMS, N_SAMPLES = 3, 4


def problems(n: int = N_PROBLEMS) -> list[Problem]:
    return [Problem(f"p{i}", f"What is ${i + 2} + {i + 5}$?", str(2 * i + 7)) for i in range(n)]


def examples(n: int = 6) -> list[SolutionExample]:
    out = []
    for i in range(n):
        a, b = i + 2, i + 5
        sol = f"We add {a} and {b}. " * (1 + i % 2) + f"So the answer is $\\boxed{{{a + b}}}$."
        out.append(SolutionExample(f"ex{i}", f"What is ${a} + {b}$?", sol, str(a + b), "math",
                                   "math"))
    return out


class Recorder(pl.Callback):
    """Appends one JSON line per training batch: step, stage, batch kind, lr, optimizer id."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        ev = "n_point" in batch or "evaluator" in batch
        opt = trainer.optimizers[0]
        row = {"step": trainer.global_step, "stage": pl_module.stage_index,
               "kind": pl_module.stage_kind, "batch": "evaluator" if ev else "generator",
               "lr": opt.param_groups[0]["lr"], "opt": id(opt),
               "opt_steps": sum(int(s.get("step", 0)) for s in opt.state.values()) // max(
                   1, len(opt.state)),
               "ids": batch["evaluator"]["input_ids"].tolist() if "evaluator" in batch
               else batch["input_ids"].tolist(), "pid": os.getpid()}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())


class StopRun(RuntimeError):
    """Raised by :class:`StopAt` to interrupt a run in-process."""


class StopAt(pl.Callback):
    """Interrupts the run at the start of optimizer step ``step`` (``kill``: SIGKILL itself)."""

    def __init__(self, step: int, kill: bool = False):
        self.step, self.kill = step, kill

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            if self.kill:
                os.kill(os.getpid(), 9)
            raise StopRun(f"test stop at step {self.step}")


CONF = Path(__file__).resolve().parents[2] / "conf" / "stages" / "sequential.yaml"


def stage_config(steps: tuple[int, int, int] = (3, 3, 2), joint_alpha: float = 0.0,
                 stage3_epochs: float | None = None, **candidates: Any) -> dict[str, Any]:
    """conf/stages/sequential.yaml scaled down to a tiny run, completed with what the pipeline
    takes from its other settings (mathft.runs.sequential_step.stages_config)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF))
    cfg = {k: v for k, v in cfg.items() if k not in ("defaults", "module")}
    for st, n in zip(cfg["stages"], steps):
        st["steps"] = n
    cfg["stages"][1]["joint_alpha"] = joint_alpha
    if stage3_epochs:
        cfg["stages"][2].update(steps=None, epochs=stage3_epochs)
    cfg["candidates"].update(num_problems=N_PROBLEMS, sampling={
        "n": N_SAMPLES, "temperature": 0.9, "top_p": 0.95, "max_new_tokens": 12, "seed": 0,
        "greedy": False, "stop_on_answer": True, "batch_size": 8}, **candidates)
    cfg["evaluator_data"].update(n_per_problem=N_SAMPLES, balance=True, batch_size=2,
                                 max_length=96)
    cfg["export"]["dir"] = "generator"
    return cfg


def build(root: str | Path, steps: tuple[int, int, int] = (3, 3, 2), objective: str = "xent",
          joint_alpha: float = 0.0, callbacks: list[Any] = (), accumulate: int = 1,
          stage3_epochs: float | None = None, pre_callbacks: list[Any] = (),
          finetune: dict[str, Any] | None = None, candidates: dict[str, Any] | None = None,
          devices: int = 1, batch_size: int = 2):
    """(trainer, module, SequentialStages) for a tiny 3-stage run under ``root``
    (``candidates``: overrides of the stage-2 sampling, e.g. ``workers``, ``precision``;
    ``devices`` > 1: DDP over CPU processes (spawn, gloo), ``batch_size`` per process)."""
    root = Path(root)
    pl.seed_everything(0, verbose=False)
    module = MultiTaskModule({"name_or_path": "tiny", "seed": 0}, finetune, lr=1e-3,
                             warmup_steps=1, objective=objective)
    tok = module.tokenizer
    dm = SSFTDataModule(tok, train=examples(), batch_size=batch_size, max_length=96, seed=0)
    cfg = stage_config(steps, joint_alpha, stage3_epochs, **(candidates or {}))
    cfg["evaluator_data"]["batch_size"] = batch_size
    stages = SequentialStages.from_config(cfg, tokenizer=tok, generator_data=dm.train_dataloader,
                                          train_problems=problems(), objective=objective)
    ckpt = ModelCheckpoint(dirpath=root / "ckpt", every_n_train_steps=1, save_last=True,
                           save_top_k=0)
    ddp: dict[str, Any] = {}
    if devices > 1:
        from pytorch_lightning.strategies import DDPStrategy

        ddp = {"strategy": DDPStrategy(start_method="spawn", process_group_backend="gloo"),
               "use_distributed_sampler": False}
    trainer = pl.Trainer(
        default_root_dir=str(root), accelerator="cpu", devices=devices, max_steps=-1, **ddp,
        accumulate_grad_batches=accumulate, logger=CSVLogger(str(root), name="logs", version=0),
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=1,
        callbacks=[Recorder(root / "batches.jsonl"), *pre_callbacks, stages, ckpt, *callbacks],
    )
    return trainer, module, stages


def run(root: str | Path, resume: bool = False, val: bool = False,
        **kw: Any) -> tuple[Any, Any, Any]:
    """Fit (or resume from ``ROOT/ckpt/last.ckpt``); ``val``: SSFT validation data too."""
    trainer, module, stages = build(root, **kw)
    ckpt = Path(root) / "ckpt" / "last.ckpt"
    val_dl = None
    if val:
        dm = SSFTDataModule(module.tokenizer, val=examples(2), batch_size=2, max_length=96)
        val_dl = dm.val_dataloader()
    trainer.fit(module, train_dataloaders=stages.train_dataloader(), val_dataloaders=val_dl,
                ckpt_path=str(ckpt) if resume else None)
    return trainer, module, stages


def read_batches(root: str | Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (Path(root) / "batches.jsonl").read_text().splitlines()]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--kill-at", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cbs = [StopAt(a.kill_at, kill=True)] if a.kill_at is not None else []
    run(a.root, resume=a.resume, callbacks=cbs)
    sys.exit(0)

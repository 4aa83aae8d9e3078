"""The generator step of ``stages=sequential``: multi-task sequential fine-tuning
(docs/method.md#sequential-multi-task-fine-tuning, paper Table 4).

One model, stages generator -> evaluator -> generator driven by
:class:`~mathft.callbacks.sequential.SequentialStages`; stage-2 candidates are sampled from
the stage-1 model inside the run. The exported generator is sampled like any SSFT generator.
"""

from __future__ import annotations

import functools
from typing import Any

from omegaconf import DictConfig

from mathft.callbacks.sequential import SequentialStages
from mathft.data.templates import format_prompt
from mathft.records import Problem
from mathft.runs import training
from mathft.runs.cache import Step, to_plain
from mathft.runs.distributed import trained_steps
from mathft.runs.problems import problem_set


def stages_config(cfg: DictConfig, st: Step) -> dict[str, Any]:
    """The :meth:`SequentialStages.from_config` mapping: ``cfg.stages`` (without its module)
    completed from the settings' homes: stage lengths from ``generator.sequential_steps``
    (when set), stage-2 decoding from ``sampling`` (its engine, precision and workers included)
    on all ``eval.evaluator_train`` problems,
    n_per_problem / balance / batch_size / max_length of its data from ``evaluator``, the
    export into the step directory."""
    out = {k: v for k, v in to_plain(cfg.stages).items() if k != "module"}
    lengths = cfg.generator.sequential_steps
    if lengths is not None:
        if len(lengths) != len(out["stages"]):
            raise ValueError(f"generator.sequential_steps has {len(lengths)} entries for "
                             f"{len(out['stages'])} stages in the stages config")
        out["stages"] = [{**s, "steps": int(n), "epochs": None}
                         for s, n in zip(out["stages"], lengths)]
    sampling = {k: v for k, v in to_plain(cfg.sampling).items()
                if k not in ("engine", "precision", "name", "shard", "workers")}
    out["candidates"] = {**out["candidates"], "num_problems": None, "sampling": sampling,
                         "engine": str(cfg.sampling.engine),
                         "precision": str(cfg.sampling.precision),
                         "workers": to_plain(cfg.sampling.get("workers", 1))}
    e = cfg.evaluator
    out["evaluator_data"] = {**out["evaluator_data"], "n_per_problem": int(e.n_per_problem),
                             "balance": bool(e.balance), "batch_size": int(e.batch_size),
                             "max_length": int(e.max_length)}
    out["export"] = {**out["export"], "dir": str(st.dir / "model")}
    return out


def _prompt(template: str, problem: Problem) -> str:
    return format_prompt(problem.problem, template)


def train_sequential(cfg: DictConfig, model_cfg: Any, st: Step, logger: Any) -> dict[str, Any]:
    """Run (or resume) the stages of ``cfg.stages``; export the final generator to ``model/``."""
    if str(cfg.generator.get("select", "last")) != "last":
        raise ValueError(f"generator.select={cfg.generator.select}: best-validation selection "
                         "applies to SSFT generators; stages=sequential exports its last stage")
    module, dm = training.ssft_setup(cfg, model_cfg)
    template = str(cfg.data.template)
    dm.setup("fit")
    problems = problem_set(cfg, "evaluator_train")
    callback = SequentialStages.from_config(
        stages_config(cfg, st), tokenizer=module.tokenizer,
        generator_data=dm.train_dataloader, train_problems=problems,
        objective=to_plain(cfg.objective),
        prompt_fn=functools.partial(_prompt, template))  # picklable: sampling workers
    ckpt = st.dir / "ckpt"
    trainer = training.build_trainer(cfg, 0, ckpt, logger, extra_callbacks=[callback])
    trainer.fit(module, train_dataloaders=callback.train_dataloader(),
                val_dataloaders=dm.val_dataloader(), ckpt_path=training.resume_path(ckpt))
    if not (st.dir / "model").exists():
        raise RuntimeError(f"sequential run in {st.dir} ended before its last stage finished")
    return {"global_step": trained_steps(trainer), "n_train": dm.stats["train"].total,
            **training.fit_record(trainer)}

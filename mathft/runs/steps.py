"""The pipeline's steps, each a hash-keyed directory (DESIGN: data -> train -> sample -> rerank).

``generator`` (SSFT or sequential multi-task) -> ``sample`` (candidate store) ->
``evaluator`` (trained on candidates of its own generator) -> ``score`` (score store).
Every step is resumable: training resumes from ``ckpt/last.ckpt``, stores skip stored rows,
and a finished step (``DONE.json``) is reused by any later run whose key matches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mathft.records import Problem
from mathft.runs.cache import Step, config_hash, step, to_plain
from mathft.runs.distributed import trained_steps

log = logging.getLogger(__name__)

_MODELS: dict[str, tuple[Any, Any]] = {}


def _node(cfg: Any, key: str, default: Any = None) -> Any:
    return OmegaConf.select(cfg, key, default=default) if isinstance(cfg, DictConfig) else (
        cfg.get(key, default) if isinstance(cfg, Mapping) else default
    )


def problem_set(cfg: DictConfig, which: str) -> list[Problem]:
    """Problems of ``cfg.eval.<which>`` (``test``, ``val`` or ``evaluator_train``)."""
    from mathft.data.mixtures import load_eval_problems

    node = cfg.eval[which]
    levels = node.get("levels")
    return load_eval_problems(
        node.name, node.split, node.get("limit"),
        None if levels is None else [int(x) for x in levels],
        seed=int(cfg.data.seed), n_val=int(cfg.data.n_val),
        gsm8k_n_val=int(cfg.data.get("gsm8k_n_val", 500)),
    )


def problems_key(problems: Sequence[Problem]) -> dict[str, Any]:
    """Identity of a problem set: its size and a hash of its ordered uids."""
    return {"n": len(problems), "uids": config_hash([p.uid for p in problems], length=12)}


def _trainer(cfg: DictConfig, max_steps: int, ckpt_dir: Path, logger: Any,
             extra_callbacks: Sequence[pl.Callback] = ()) -> pl.Trainer:
    """A Trainer from ``cfg.trainer`` that checkpoints ``last.ckpt`` every ``ckpt_every`` steps."""
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

    from mathft.runs.distributed import StepCounter

    every = int(cfg.run.ckpt_every_n_steps)
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=0,
                        every_n_train_steps=every),
        StepCounter(),  # global_step back from ddp_spawn workers
        *extra_callbacks,
    ]
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return instantiate(cfg.trainer, max_steps=max_steps, callbacks=callbacks,
                       logger=logger if logger else False, default_root_dir=str(ckpt_dir.parent))


def fit_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The scalar metrics a fit ended with (recorded in the step's DONE.json)."""
    from mathft.runs.distributed import STEP_METRIC

    return {k: float(v) for k, v in trainer.callback_metrics.items()
            if v.numel() == 1 and k != STEP_METRIC}


def _resume_path(ckpt_dir: Path) -> str | None:
    """``last.ckpt`` to resume from, if any; a damaged one is named, never silently replaced."""
    import zipfile

    last = ckpt_dir / "last.ckpt"
    if not last.exists():
        return None
    if not zipfile.is_zipfile(last):
        raise RuntimeError(
            f"checkpoint {last} is damaged (not a complete torch zip archive, "
            f"{last.stat().st_size} bytes): delete it to restart this step from scratch, "
            "or restore it from a backup")
    return str(last)


def generator_key(cfg: DictConfig, model_cfg: Any) -> dict[str, Any]:
    """Everything that determines a trained generator."""
    data = {k: v for k, v in to_plain(cfg.data).items() if k != "eval"}
    key = {"model": to_plain(model_cfg), "finetune": to_plain(cfg.finetune), "data": data,
           "generator": to_plain(cfg.generator), "seed": int(cfg.seed)}
    if str(cfg.stages.get("mode", "ssft")) == "sequential":
        # the sequential run also depends on its stages, objective and stage-2 sampling
        key.update(stages=to_plain(cfg.stages), objective=to_plain(cfg.objective),
                   sampling={k: v for k, v in to_plain(cfg.sampling).items() if k != "shard"},
                   evaluator={k: v for k, v in to_plain(cfg.evaluator).items()
                              if k != "score_shard"},
                   problems=to_plain(cfg.eval.evaluator_train))
    else:
        key["generator"].pop("sequential_steps", None)
    # where mathft.sample reads a generator from (conf/sample.yaml): not what is trained
    key["generator"].pop("path", None)
    return key


def train_generator(cfg: DictConfig, model_cfg: Any, logger: Any = None) -> tuple[str, Step | None]:
    """SSFT (or sequential multi-task) fine-tuning; returns (model path to sample from, step).

    With ``generator.train=false`` the pre-trained model is used as is (few-shot rows).
    """
    if not cfg.generator.train:
        return str(model_cfg.name_or_path), None
    st = step(cfg.run.cache_dir, "generator", generator_key(cfg, model_cfg))
    with st.locked():  # one process computes a step; others wait, then reuse
        out = st.dir / "model"
        if st.done:
            log.info("generator: reusing %s", st.dir)
            return str(out), st
        if str(cfg.stages.get("mode", "ssft")) == "sequential":
            from mathft.runs.sequential import train_sequential

            summary = train_sequential(cfg, model_cfg, st, logger)
        else:
            summary = _train_ssft(cfg, model_cfg, st, logger)
        st.mark_done(summary)
        return str(out), st


def _train_ssft(cfg: DictConfig, model_cfg: Any, st: Step, logger: Any) -> dict[str, Any]:
    from mathft.data.datamodule import SSFTDataModule
    from mathft.data.mixtures import ssft_examples_from_config
    from mathft.models.export import export_generator
    from mathft.models.ssft import SSFTModule

    g = cfg.generator
    pl.seed_everything(int(cfg.seed), workers=True)
    module = SSFTModule(to_plain(model_cfg), to_plain(cfg.finetune), lr=float(g.lr),
                        weight_decay=float(g.weight_decay), warmup_ratio=float(g.warmup_ratio))
    train = ssft_examples_from_config(cfg.data, "train")
    val = ssft_examples_from_config(cfg.data, "val")[: int(g.val_examples)]
    dm = SSFTDataModule(module.tokenizer, train, val, template=str(cfg.data.template),
                        max_length=int(g.max_length), batch_size=int(g.batch_size),
                        packing=bool(g.packing), seed=int(cfg.seed))
    ckpt = st.dir / "ckpt"
    trainer = _trainer(cfg, int(g.max_steps), ckpt, logger)
    trainer.fit(module, datamodule=dm, ckpt_path=_resume_path(ckpt))
    export_generator(module, module.tokenizer, st.dir / "model",
                     merge_lora=bool(cfg.finetune.get("merge_on_export", True)),
                     metadata={"step": st.hash, "global_step": trained_steps(trainer)})
    metrics = fit_metrics(trainer)
    return {"global_step": trained_steps(trainer), "n_train": len(train), "n_val": len(val),
            "metrics": metrics}


def load_for_inference(path: str, model_cfg: Any) -> tuple[Any, Any]:
    """Load (and memoise for this process) a model to sample from or score with."""
    from mathft.models.loading import load_model_and_tokenizer

    key = f"{path}|{_node(model_cfg, 'dtype', 'float32')}"
    if key not in _MODELS:
        _MODELS.clear()  # one model in memory at a time
        model, tok = load_model_and_tokenizer(
            path, dtype=_node(model_cfg, "dtype", "float32"),
            attn_implementation=_node(model_cfg, "attn_implementation", "sdpa"),
            cache_dir=_node(model_cfg, "cache_dir"), padding_side="left")
        model.eval()
        _MODELS[key] = (model, tok)
    return _MODELS[key]


def sample(cfg: DictConfig, gen_path: str, gen_id: str, model_cfg: Any,
           problems: Sequence[Problem], sampling: Mapping[str, Any], name: str) -> Step:
    """Sample ``sampling.n`` graded candidates per problem into a resumable candidate store."""
    from mathft.data.prompts import build_prompt_builder
    from mathft.sampling import shards
    from mathft.sampling.engine import SamplingParams, make_engine, resolve_engine
    from mathft.sampling.runner import sample_to_store
    from mathft.sampling.store import CandidateStore

    params = SamplingParams.from_mapping(
        {k: v for k, v in to_plain(sampling).items()
         if k not in ("engine", "precision", "name", "shard")})
    prompt_cfg = to_plain(cfg.prompt)
    kind, precision = str(sampling.get("engine", "auto")), str(sampling.get("precision", "auto"))
    # different engines (and compute dtypes) draw different samples
    engine_id = resolve_engine(kind, precision, str(_node(model_cfg, "dtype", "float32")),
                               model=gen_path)
    key = {"generator": gen_id, "problems": problems_key(problems), "sampling": params.identity(),
           "prompt": prompt_cfg, "engine": engine_id}
    st = full = step(cfg.run.cache_dir, f"samples_{name}", key)
    shard = shards.parse(_node(sampling, "shard"))  # sampling.shard=I/N: one slice, own dir
    if shard is not None:
        st = step(cfg.run.cache_dir, f"samples_{name}", shards.shard_key(key, full.hash, shard))
    with st.locked():  # one process computes a step; others wait, then reuse
        if st.done:
            log.info("sample[%s]: reusing %s", name, st.dir)
            return st
        if shard is None:  # every shard done: merge them instead of sampling again
            merged = shards.merge_candidates(st.dir, [p.uid for p in problems],
                                             config_hash=st.hash, model_id=gen_id,
                                             sampling=params.to_dict())
            if merged is not None:
                st.mark_done(merged)
                return st
        model, tok = load_for_inference(gen_path, model_cfg)
        builder = build_prompt_builder(prompt_cfg)
        store = CandidateStore(st.dir / "candidates.jsonl", config_hash=full.hash,
                               model_id=gen_id, sampling=params.to_dict())
        vllm = engine_id["engine"] == "vllm"  # vLLM loads the checkpoint itself
        engine = make_engine(engine_id["engine"], gen_path if vllm else model, tok,
                             precision=precision)
        stats = sample_to_store(engine, shards.select(problems, shard), store, params,
                                prompt_fn=lambda p: builder.build(p.problem, tokenizer=tok),
                                model_id=gen_id, config_hash=full.hash)
        st.mark_done({"rows": len(store), "engine": engine_id,
                      "stats": to_plain(getattr(stats, "__dict__", {}))})
        return st


def train_evaluator(cfg: DictConfig, model_cfg: Any, init_path: str, train_st: Step,
                    val_st: Step, problems: Sequence[Problem], logger: Any = None) -> Step:
    """Fine-tune the generative evaluator (SPEC §3) on candidates of its own generator."""
    from mathft.data.evaluator_data import EvaluatorDataModule
    from mathft.models.evaluator import EvaluatorModule
    from mathft.models.export import export_generator
    from mathft.sampling.shards import require_full
    from mathft.sampling.store import CandidateStore

    require_full(train_st, "evaluator training")
    require_full(val_st, "evaluator training")
    e = cfg.evaluator
    key = {"model": to_plain(model_cfg), "init": init_path if e.init == "generator" else "base",
           "finetune": to_plain(cfg.finetune), "objective": to_plain(cfg.objective),
           "train_candidates": train_st.hash, "val_candidates": val_st.hash,
           "evaluator": {k: v for k, v in to_plain(e).items() if k not in ("same_model", "score_shard")},
           "seed": int(cfg.seed)}
    st = step(cfg.run.cache_dir, "evaluator", key)
    with st.locked():  # one process computes a step; others wait, then reuse
        if st.done:
            log.info("evaluator: reusing %s", st.dir)
            return st
        pl.seed_everything(int(cfg.seed), workers=True)
        spec = {**to_plain(model_cfg), "name_or_path": init_path} if e.init == "generator" else \
            to_plain(model_cfg)
        module = EvaluatorModule(spec, to_plain(cfg.finetune), objective=to_plain(cfg.objective),
                                 lr=float(e.lr), weight_decay=float(e.weight_decay),
                                 warmup_ratio=float(e.warmup_ratio))
        train_c = CandidateStore(train_st.dir / "candidates.jsonl").by_problem()
        val_c = CandidateStore(val_st.dir / "candidates.jsonl").by_problem()
        dm = EvaluatorDataModule(
            module.tokenizer, {**train_c, **val_c}, list(problems), train_ids=list(train_c),
            val_ids=list(val_c), objective=module.objective, n_per_problem=int(e.n_per_problem),
            balance=bool(e.balance), batch_size=int(e.batch_size), max_length=int(e.max_length),
            val_max_per_problem=e.get("val_max_per_problem"), seed=int(cfg.seed))
        ckpt = st.dir / "ckpt"
        trainer = _trainer(cfg, int(e.max_steps), ckpt, logger)
        trainer.fit(module, datamodule=dm, ckpt_path=_resume_path(ckpt))
        export_generator(module, module.tokenizer, st.dir / "model",
                         merge_lora=bool(cfg.finetune.get("merge_on_export", True)),
                         metadata={"step": st.hash, "objective": to_plain(cfg.objective)})
        metrics = fit_metrics(trainer)
        st.mark_done({"global_step": trained_steps(trainer),
                      "counts": to_plain(getattr(dm, "stats", None) or {}), "metrics": metrics})
        return st


def score(cfg: DictConfig, evaluator_st: Step, model_cfg: Any, candidates_st: Step,
          problems: Sequence[Problem]) -> Step:
    """S_cls of every stored candidate (SPEC §3), written to a resumable score store."""
    from mathft.sampling import shards
    from mathft.sampling.scoring import score_store
    from mathft.sampling.store import CandidateStore, ScoreStore

    shards.require_full(candidates_st, "scoring")
    key = {"evaluator": evaluator_st.hash, "candidates": candidates_st.hash}
    st = full = step(cfg.run.cache_dir, "scores", key)
    shard = shards.parse(cfg.evaluator.get("score_shard"))  # I/N: one slice, own dir
    if shard is not None:
        st = step(cfg.run.cache_dir, "scores", shards.shard_key(key, full.hash, shard))
    with st.locked():  # one process computes a step; others wait, then reuse
        if st.done:
            return st
        cands = CandidateStore(candidates_st.dir / "candidates.jsonl").load()
        if shard is None:  # every shard done: merge them instead of scoring again
            merged = shards.merge_scores(st.dir, evaluator_st.hash, [c.key for c in cands])
            if merged is not None:
                st.mark_done(merged)
                return st
        keep = set(shards.select([p.uid for p in problems], shard))
        model, tok = load_for_inference(str(evaluator_st.dir / "model"), model_cfg)
        counts = score_store(model, tok, [c for c in cands if c.problem_id in keep],
                             list(problems), ScoreStore(st.dir / "scores.jsonl", evaluator_st.hash),
                             batch_size=int(cfg.evaluator.score_batch_size),
                             max_length=int(cfg.evaluator.max_length))
        st.mark_done(dict(counts))
        return st

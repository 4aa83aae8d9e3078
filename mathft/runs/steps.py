"""The pipeline's steps, each a hash-keyed directory (data -> train -> sample -> rerank).

``generator`` (SSFT or sequential multi-task) -> ``sample`` (candidate store) ->
``evaluator`` (trained on candidates of its own generator) -> ``score`` (score store).
Every step is resumable: training resumes from ``ckpt/last.ckpt``, stores skip stored rows,
and a finished step (``DONE.json``) whose outputs check out is reused by any later run whose
key matches (:mod:`mathft.runs.keys` says what each key holds, :mod:`mathft.runs.reuse`
how a step is checked and planned).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from mathft.data.evaluator_data import EvaluatorDataModule
from mathft.data.prompts import build_prompt_builder
from mathft.models.export import export_generator
from mathft.models.loading import load_model_and_tokenizer, load_tokenizer, resolve_model_path
from mathft.records import Problem
from mathft.runs import training
from mathft.runs.cache import Step, config_hash, to_plain
from mathft.runs.distributed import trained_steps
from mathft.runs.keys import (
    evaluator_key,
    generator_key,
    generator_kind,
    samples_key,
    scores_key,
)
from mathft.runs.problems import problem_set, problems_key
from mathft.runs.reuse import open_step, partial, remove_checkpoint, reusable
from mathft.runs.sequential_step import train_sequential
from mathft.sampling import shards
from mathft.sampling.engine import SamplingParams, inference_dtype
from mathft.sampling.factory import PATH_ENGINES, make_engine, resolve_engine
from mathft.sampling.pins import pin_weights
from mathft.sampling.runner import sample_to_store
from mathft.sampling.scoring import ScoreJob, absorb_score_parts, score_in_workers, score_store
from mathft.sampling.store import CandidateStore, ScoreStore
from mathft.sampling.workers import (
    WorkerJob,
    absorb_parts,
    built_prompt,
    resolve_workers,
    sample_in_workers,
)

log = logging.getLogger(__name__)

_MODELS: dict[str, tuple[Any, Any]] = {}


def _node(cfg: Any, key: str, default: Any = None) -> Any:
    return OmegaConf.select(cfg, key, default=default) if isinstance(cfg, DictConfig) else (
        cfg.get(key, default) if isinstance(cfg, Mapping) else default
    )


@dataclass(frozen=True)
class PendingModel:
    """A training step's model directory, trained on first use (:func:`ready`).

    The pipeline asks for its generator first but needs its weights only where a step that
    samples from it must compute: with every such step done (e.g. stores imported from another
    machine, ``mathft-cache import``) the generator is never trained."""

    path: str
    build: Callable[[], str]

    def __str__(self) -> str:
        return self.path


ModelRef = str | PendingModel


def ready(model: ModelRef) -> str:
    """The model directory of ``model``, training it first if it is pending."""
    return model.build() if isinstance(model, PendingModel) else model


def generator(cfg: DictConfig, model_cfg: Any, logger: Any = None, lazy: bool = False
              ) -> tuple[ModelRef, str, Step | None]:
    """The generator to sample from on ``model_cfg``: ``(path, id, step)``.

    ``id`` names it in the keys of later steps: the step hash of a trained generator,
    ``base:<name_or_path>`` for the pre-trained model (``generator.train=false``). ``lazy``:
    an unfinished generator comes back as a :class:`PendingModel`, trained by the first step
    that needs its weights.
    """
    if not cfg.generator.train:
        return str(model_cfg.name_or_path), f"base:{model_cfg.name_or_path}", None
    problems = None
    if generator_kind(cfg) == "sequential":
        problems = problems_key(problem_set(cfg, "evaluator_train"))
    st, planned = open_step(cfg.run.cache_dir, "generator",
                            generator_key(cfg, model_cfg, problems), "model")
    out = str(st.dir / "model")
    if planned:
        return out, st.hash, st

    def build() -> str:
        with st.locked():  # one process computes a step; others wait, then reuse
            if reusable(st, "model"):
                log.info("generator: reusing %s", st.dir)
                return out
            if generator_kind(cfg) == "sequential":
                summary = train_sequential(cfg, model_cfg, st, logger)
            else:
                summary = _train_ssft(cfg, model_cfg, st, logger)
            st.mark_done(summary)
            remove_checkpoint(st, bool(cfg.run.get("keep_checkpoints", False)))
            return out

    if lazy and not st.done:
        return PendingModel(out, build), st.hash, st
    return build(), st.hash, st


def _train_ssft(cfg: DictConfig, model_cfg: Any, st: Step, logger: Any) -> dict[str, Any]:
    g = cfg.generator
    module, dm = training.ssft_setup(cfg, model_cfg)
    ckpt = st.dir / "ckpt"
    best = training.BestValWeights(ckpt) if str(g.select) == "best_val" else None
    trainer = training.build_trainer(cfg, int(g.max_steps), ckpt, logger, best_val=best)
    training.fit(trainer, module, ckpt, dm)
    selected = best.restore(module) if best is not None else None
    export_generator(module, module.tokenizer, st.dir / "model",
                     merge_lora=training.merge_on_export(cfg.finetune),
                     metadata={"step": st.hash, "global_step": trained_steps(trainer),
                               "selected": selected or "last"})
    too_long = {split: stats.truncated for split, stats in dm.stats.items()}
    return {"global_step": trained_steps(trainer), "n_train": dm.stats["train"].total,
            "n_val": dm.stats["val"].total, "selected": selected or "last",
            "too_long": too_long, "overlong": str(g.overlong), **training.fit_record(trainer)}


def load_for_inference(path: str, model_cfg: Any) -> tuple[Any, Any]:
    """Load (and memoise for this process) a model to sample from or score with."""
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


def worker_loader(path: str, model_cfg: Any) -> Any:
    """What :func:`load_for_inference` loads, as a picklable call for worker processes (a
    partial of a function whose module does not import Lightning: cheap worker starts)."""
    return functools.partial(
        load_model_and_tokenizer, path, dtype=_node(model_cfg, "dtype", "float32"),
        attn_implementation=_node(model_cfg, "attn_implementation", "sdpa"),
        cache_dir=_node(model_cfg, "cache_dir"), padding_side="left")


def decoding(cfg: DictConfig, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling mapping actually used: the prompt's stop strings join ``stop`` (a
    few-shot continuation ends where it would start the next exemplar)."""
    plain = to_plain(sampling)
    stop = list(plain.get("stop") or [])
    stop += [s for s in build_prompt_builder(to_plain(cfg.prompt)).stop_strings if s not in stop]
    return {**plain, "stop": stop}


def sample(cfg: DictConfig, gen_path: ModelRef, gen_id: str, model_cfg: Any,
           problems: Sequence[Problem], sampling: Mapping[str, Any], name: str) -> Step:
    """Sample ``sampling.n`` graded candidates per problem into a resumable candidate store
    pinned to the generator's weights (:mod:`mathft.sampling.pins`)."""
    used = decoding(cfg, sampling)
    params = SamplingParams.from_mapping(
        {k: v for k, v in used.items() if k not in ("engine", "precision", "name", "shard")})
    kind, precision = str(used.get("engine", "auto")), str(used.get("precision", "auto"))
    # different engines (and compute dtypes) draw different samples: the resolved ones are keyed
    engine_id = resolve_engine(kind, precision, str(_node(model_cfg, "dtype", "float32")),
                               model=str(gen_path))
    key = samples_key(cfg, model_cfg, used, gen_id, problems_key(problems), engine_id)
    full_hash = config_hash(to_plain(key), length=12)
    shard = shards.parse(used.get("shard"))  # sampling.shard=I/N: one slice, its own dir
    if shard is not None:
        key = shards.shard_key(key, full_hash, shard)
    st, planned = open_step(cfg.run.cache_dir, f"samples_{name}", key, "samples")
    if planned:
        return st
    with st.locked():  # one process computes a step; others wait, then reuse
        if reusable(st, "samples"):
            log.info("sample[%s]: reusing %s", name, st.dir)
            return st
        if shard is None:  # every shard done: merge them instead of sampling again
            merged = shards.merge_candidates(st.dir, [p.uid for p in problems],
                                             config_hash=st.hash, model_id=gen_id,
                                             sampling=params.to_dict())
            if merged is not None:
                st.mark_done({**merged, "n": params.n, "problems": len(problems),
                              "engine": engine_id})
                return st
        gen_path = ready(gen_path)
        pin_weights(st.dir, gen_path, "generator", has_rows=partial(st.dir, "samples"))
        builder = build_prompt_builder(to_plain(cfg.prompt))
        store = CandidateStore(st.dir / "candidates.jsonl", config_hash=full_hash,
                               model_id=gen_id, sampling=params.to_dict())
        todo = shards.select(problems, shard)
        # sampling.workers: processes over contiguous slices of the problems (the models of
        # this step are loaded on the CPU); the merged store equals a one-process run's
        workers = resolve_workers(used.get("workers"), len(todo),
                                  parallel=engine_id["engine"] == "prefix")
        if engine_id["engine"] in PATH_ENGINES:  # they spread over the CPUs/devices themselves
            workers = 1
        if workers > 1:
            _MODELS.clear()  # each worker loads its own copy: drop this process's
            job = WorkerJob(load=worker_loader(gen_path, model_cfg), engine=engine_id["engine"],
                            precision=precision,
                            params=params, prompt=functools.partial(built_prompt, builder),
                            model_id=gen_id, config_hash=full_hash)
            stats = sample_in_workers(job, todo, store, workers)
        else:
            absorb_parts(store, [p.uid for p in todo])  # rows of a killed run with workers > 1
            if engine_id["engine"] in PATH_ENGINES:  # they load the checkpoint themselves
                cache = _node(model_cfg, "cache_dir")
                tok = load_tokenizer(gen_path, padding_side="left", cache_dir=cache)
                engine = make_engine(engine_id["engine"], resolve_model_path(gen_path, cache), tok,
                                     precision=precision,
                                     model_dtype=str(_node(model_cfg, "dtype", "float32")))
            else:
                model, tok = load_for_inference(gen_path, model_cfg)
                engine = make_engine(engine_id["engine"], model, tok, precision=precision)
            try:
                stats = sample_to_store(engine, todo, store, params,
                                        prompt_fn=lambda p: builder.build(p.problem,
                                                                          tokenizer=tok),
                                        model_id=gen_id, config_hash=full_hash)
            finally:
                engine.close()  # vLLM: its engine process and KV cache go now, not at GC
        st.mark_done({"rows": len(store), "n": params.n, "problems": len(todo),
                      "engine": engine_id, "workers": workers,
                      "stats": to_plain(getattr(stats, "__dict__", {}))})
        return st


def train_evaluator(cfg: DictConfig, model_cfg: Any, gen_path: ModelRef, gen_id: str,
                    train_st: Step, val_st: Step, problems: Sequence[Problem],
                    logger: Any = None) -> Step:
    """Fine-tune the generative evaluator on candidates of its own generator.

    ``evaluator.init=generator`` starts from that generator (``gen_path``, keyed by ``gen_id``);
    ``base`` from the pre-trained ``model_cfg``.
    """
    shards.require_full(train_st, "evaluator training")
    shards.require_full(val_st, "evaluator training")
    e = cfg.evaluator
    from_gen = str(e.init) == "generator"
    key = evaluator_key(cfg, model_cfg, train_st.hash, val_st.hash, gen_id if from_gen else None)
    st, planned = open_step(cfg.run.cache_dir, "evaluator", key, "model")
    if planned:
        return st
    with st.locked():  # one process computes a step; others wait, then reuse
        if reusable(st, "model"):
            log.info("evaluator: reusing %s", st.dir)
            return st
        pl.seed_everything(int(cfg.seed), workers=True)
        spec = {**to_plain(model_cfg), "name_or_path": ready(gen_path)} if from_gen else \
            to_plain(model_cfg)
        module = training.build_module(e.module, spec, cfg.finetune)
        train_c = CandidateStore(train_st.dir / "candidates.jsonl", repair=False).by_problem()
        val_c = CandidateStore(val_st.dir / "candidates.jsonl", repair=False).by_problem()
        dm = EvaluatorDataModule(
            module.tokenizer, {**train_c, **val_c}, list(problems), train_ids=list(train_c),
            val_ids=list(val_c), objective=module.objective, n_per_problem=int(e.n_per_problem),
            balance=bool(e.balance), batch_size=int(e.batch_size), max_length=int(e.max_length),
            val_max_per_problem=e.get("val_max_per_problem"), seed=int(cfg.seed))
        ckpt = st.dir / "ckpt"
        trainer = training.build_trainer(cfg, int(e.max_steps), ckpt, logger)
        training.fit(trainer, module, ckpt, dm)
        export_generator(module, module.tokenizer, st.dir / "model",
                         merge_lora=training.merge_on_export(cfg.finetune),
                         metadata={"step": st.hash, "objective": to_plain(cfg.objective)})
        st.mark_done({"global_step": trained_steps(trainer),
                      "counts": to_plain(getattr(dm, "stats", None) or {}),
                      **training.fit_record(trainer)})
        remove_checkpoint(st, bool(cfg.run.get("keep_checkpoints", False)))
        return st


def score(cfg: DictConfig, evaluator_st: Step, model_cfg: Any, candidates_st: Step,
          problems: Sequence[Problem], label: str = "") -> Step:
    """S_cls of every stored candidate, written to a resumable score store."""
    shards.require_full(candidates_st, "scoring")
    dtype = inference_dtype(str(cfg.evaluator.get("score_precision", "auto")),
                            str(_node(model_cfg, "dtype", "float32")), "evaluator.score_precision")
    key = scores_key(cfg, evaluator_st.hash, candidates_st.hash, dtype)
    shard = shards.parse(cfg.evaluator.get("score_shard"))  # I/N: one slice, its own dir
    if shard is not None:
        key = shards.shard_key(key, config_hash(to_plain(key), length=12), shard)
    st, planned = open_step(cfg.run.cache_dir, "scores", key, "scores", label=label)
    if planned:
        return st
    with st.locked():  # one process computes a step; others wait, then reuse
        if reusable(st, "scores"):
            return st
        cands = CandidateStore(candidates_st.dir / "candidates.jsonl", repair=False).load()
        if shard is None:  # every shard done: merge them instead of scoring again
            merged = shards.merge_scores(st.dir, evaluator_st.hash, [c.key for c in cands])
            if merged is not None:
                st.mark_done(merged)
                return st
        keep = set(shards.select([p.uid for p in problems], shard))
        mine = [c for c in cands if c.problem_id in keep]
        path = str(evaluator_st.dir / "model")
        model_cfg = {**to_plain(model_cfg), "dtype": dtype}  # loaded in the keyed dtype
        pin_weights(st.dir, path, "evaluator", has_rows=partial(st.dir, "scores"))
        scores = ScoreStore(st.dir / "scores.jsonl", evaluator_st.hash)
        # evaluator.score_workers: processes over contiguous slices of the problems (CPU models)
        workers = resolve_workers(cfg.evaluator.get("score_workers"),
                                  len({c.problem_id for c in mine}),
                                  name="evaluator.score_workers")
        size, max_length = int(cfg.evaluator.score_batch_size), int(cfg.evaluator.max_length)
        if workers > 1:
            _MODELS.clear()  # each worker loads its own copy: drop this process's
            job = ScoreJob(load=worker_loader(path, model_cfg), batch_size=size,
                           max_length=max_length)
            counts = score_in_workers(job, mine, list(problems), scores, workers)
        else:
            absorb_score_parts(scores, [c.key for c in mine])  # a killed run's workers' scores
            model, tok = load_for_inference(path, model_cfg)
            counts = score_store(model, tok, mine, list(problems), scores, batch_size=size,
                                 max_length=max_length)
        st.mark_done({**dict(counts), "rows": len(scores), "workers": workers})
        return st

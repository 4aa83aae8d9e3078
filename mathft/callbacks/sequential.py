"""Multi-task sequential fine-tuning as ONE Lightning run (docs/method.md#sequential-multi-task-fine-tuning, paper §3.4).

``SequentialStages`` drives a ``MultiTaskModule`` through its stages in order, by default
(``conf/stages/sequential.yaml``): (1) generator, SSFT loss; (2) evaluator, ``xent``/``margin`` on
candidates sampled from the stage-1 model; (3) generator again (paper: converges in ~200 steps).

How it works:

- **Data.** ``trainer.fit(module, train_dataloaders=callback.train_dataloader())``: one
  :class:`StageLoader` whose every iteration serves exactly the batches of the stage that is
  active when it starts, then ends the epoch. A stage is thus one Lightning epoch (validation
  runs at each stage's end) and every stage starts in a fresh epoch, so the 1-batch prefetch never
  crosses a boundary. Batch ``b`` of a stage is fixed by ``(stage, b)``: pass ``b // P`` over the
  stage's data (``P`` batches per pass, order reseeded per stage and pass), batch ``b % P``; a
  resumed run therefore gets the very batches it would have had.
- **Candidates.** Entering the first evaluator stage, the current (stage-1) model samples
  ``params.n`` candidates per training problem into a ``CandidateStore`` in the run dir (graded,
  appended per batch, resumable: stored rows are never regenerated); the evaluator data are
  built from that store. The engine is chosen as in the sampling step
  (:func:`~mathft.sampling.factory.resolve_in_memory_engine`: ``auto``, and ``vllm``, which
  cannot take a model in memory, are the ``prefix`` engine); the resolved engine and dtype are
  part of the store's config hash (and, in the pipeline, of the generator's step key).
  ``workers`` (as ``sampling.workers``: ``auto`` is one process per core for the ``prefix``
  engine) above 1 exports the stage model next to the store, and that many processes sample
  it as in a sample step (:mod:`mathft.sampling.workers`; not hashed: a sample depends on its
  seed, problem and index, up to the rounding of its batch).
- **Optimizer (choice).** Each stage starts with a fresh AdamW state and its own warmup + cosine
  schedule over its length: fine-tuning anew from the previous stage's weights (the paper's
  stages are separate fine-tunings). ``MultiTaskModule.configure_optimizers`` reads the active
  stage; the callback rebuilds the optimizer at a boundary (``lightning_compat.rebuild_optimizers``).
- **Resume.** The callback's ``state_dict`` (stage index, stage start steps, resolved lengths,
  store path, whether sampling finished) is saved in every checkpoint; a checkpoint from any
  stage resumes in that stage, at its step, with its data position and its optimizer state.
- **Export.** When the last stage ends, the generator is exported (``export_generator``) to
  ``export_dir``, a ``from_pretrained``-able directory used like any SSFT generator (a run
  stopped early, e.g. by EarlyStopping, exports nothing).
- **Trainer.** The plan owns the length: the callback sets ``max_steps`` to the sum of the
  stage lengths and ``max_epochs`` to -1 (any values given to the Trainer are replaced).
  Both changes to a running fit use Lightning internals, kept in
  :mod:`mathft.callbacks.lightning_compat`.

Logged: ``stage`` (index of the active stage), ``train/<stage name>/loss`` (from the module).
Limits: optimizer rebuild mid-fit is for single-device and DDP strategies. Under DDP each rank
samples its share of the stage-2 problems (every world-th) with its replica of the model, and
rank 0 merges the shares into the store (tests/callbacks/test_sequential_ddp.py).
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
import random
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler

from mathft.callbacks.lightning_compat import rebuild_optimizers, set_fit_limits
from mathft.data.evaluator_data import EvaluatorDataModule
from mathft.models.export import export_generator
from mathft.models.multitask import StageSpec, parse_stages
from mathft.records import Problem
from mathft.sampling.engine import SamplingParams
from mathft.sampling.factory import make_engine, resolve_in_memory_engine
from mathft.sampling.hashing import config_hash
from mathft.sampling.runner import default_prompt, sample_to_store
from mathft.sampling.store import CandidateStore
from mathft.sampling.workers import (
    WorkerJob,
    absorb_parts,
    parts_dir,
    resolve_workers,
    sample_in_workers,
)

log = logging.getLogger(__name__)

STATE_VERSION = 1
FAR = 10**12  # max_steps placeholder while a later stage's length is still unknown

LoaderSource = DataLoader | Callable[[], DataLoader]


@dataclass
class CandidateSampling:
    """Stage-2 candidates: ``params.n`` samples of each of ``problems`` from the current model.

    ``store`` is relative to the run dir (``trainer.default_root_dir``) unless absolute.
    ``engine``/``precision``: as ``sampling.engine``/``sampling.precision`` (the engine is
    resolved for a model in memory: :func:`~mathft.sampling.factory.resolve_in_memory_engine`).
    """

    problems: Sequence[Problem]
    params: SamplingParams
    store: str | Path = "candidates/stage_candidates.jsonl"
    prompt_fn: Callable[[Problem], str] = default_prompt
    model_id: str = "sequential/stage1"
    engine_kwargs: Mapping[str, Any] | None = None
    engine: str = "auto"
    precision: str = "auto"
    workers: int | str = 1  # as sampling.workers (> 1: the stage model is exported, each loads it)


def _prompt_of(prompt_fn: Callable[[Problem], str], problem: Problem, tokenizer: Any) -> str:
    """``WorkerJob.prompt`` from a ``Problem -> str`` prompt function (picklable partial)."""
    return prompt_fn(problem)


def _picklable(obj: Any) -> bool:
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def pass_batches(dl: DataLoader, seed: int) -> list[list[int]]:
    """Index batches of one pass over ``dl``, reproducible from ``seed``.

    Samplers with ``set_epoch`` get ``seed``; a ``RandomSampler`` gets a generator seeded by it.
    """
    bs = dl.batch_sampler
    if bs is None:
        raise ValueError("stage dataloaders must be map-style with batching (batch_sampler)")
    for obj in (bs, getattr(bs, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(seed)
        if isinstance(obj, RandomSampler):
            obj.generator = torch.Generator().manual_seed(seed)
    return [list(b) for b in bs]


def stream_batches(
    dl: DataLoader, offset: int, seed: int, rank: int = 0, world: int = 1
) -> Iterator[Any]:
    """Endless batches of ``dl`` from batch ``offset`` (pass ``offset // P``, ``P`` = batches
    per pass; pass ``k`` ordered by ``seed + k``), collated by ``dl``'s own collate_fn.

    With ``world > 1`` (DDP) each pass is cut to a multiple of ``world`` batches and rank ``r``
    gets batches ``r, r + world, ...``: disjoint data, the same number of steps on every rank.
    """
    k, skip = 0, offset
    while True:
        batches = pass_batches(dl, seed + k)
        batches = batches[: len(batches) - len(batches) % world][rank::world]
        if not batches:
            raise ValueError(f"a stage dataloader yields fewer batches than the {world} ranks")
        if skip >= len(batches):
            k, skip = k + skip // len(batches), skip % len(batches)
            continue
        yield from DataLoader(dl.dataset, batch_sampler=batches[skip:], collate_fn=dl.collate_fn,
                              num_workers=dl.num_workers, pin_memory=dl.pin_memory)
        k, skip = k + 1, 0


def _rank_sharding(batch_sampler: Any) -> bool:
    """Whether ``batch_sampler`` yields one rank's slice of global batches (``num_replicas``,
    ``rank``), as mathft's ``LengthGroupedBatchSampler`` does."""
    return hasattr(batch_sampler, "num_replicas") and hasattr(batch_sampler, "rank")


class StageLoader:
    """Training iterable of a sequential run; each ``iter`` serves the rest of the active stage."""

    def __init__(self, stages: SequentialStages):
        self.stages = stages

    def __iter__(self) -> Iterator[Any]:
        return self.stages._stage_iterator()


class SequentialStages(pl.Callback):
    """Runs ``stages`` in order on one ``MultiTaskModule`` (see module docstring).

    ``generator_data``: the SSFT training DataLoader (or a callable building it).
    ``evaluator_data``: ``store_path -> DataLoader`` of ``EvaluatorCollator`` batches (see
    :func:`evaluator_loader_factory`). ``candidates``: what to sample before the first
    evaluator stage. ``export_dir`` (relative to the run dir unless absolute): final generator.
    """

    def __init__(
        self,
        stages: Sequence[Mapping[str, Any] | StageSpec],
        generator_data: LoaderSource,
        evaluator_data: Callable[[Path], DataLoader] | None = None,
        candidates: CandidateSampling | None = None,
        export_dir: str | Path | None = "generator",
        merge_lora: bool = True,
        seed: int = 0,
    ):
        self.specs = parse_stages(stages)
        kinds = [s.kind for s in self.specs]
        if "evaluator" in kinds:
            if evaluator_data is None or candidates is None:
                raise ValueError("an evaluator stage needs evaluator_data and candidates")
            if "generator" not in kinds[: kinds.index("evaluator")]:
                raise ValueError(f"stages {kinds}: the first evaluator stage must follow a "
                                 "generator stage (its candidates come from that model)")
        self._generator_data, self._evaluator_data = generator_data, evaluator_data
        self.candidates, self.export_dir, self.merge_lora = candidates, export_dir, merge_lora
        self.seed = int(seed)
        n = len(self.specs)
        self.current = 0
        self.starts: list[int | None] = [None] * n
        self.lengths: list[int | None] = [s.steps for s in self.specs]
        self.store_path: str | None = None
        self.sampled = False
        self.exported: str | None = None
        self._loaders: dict[int, DataLoader] = {}
        self._trainer: pl.Trainer | None = None
        self._module: Any = None

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any],
        *,
        tokenizer: Any,
        generator_data: LoaderSource,
        train_problems: Sequence[Problem],
        objective: Any = None,
        prompt_fn: Callable[[Problem], str] = default_prompt,
    ) -> SequentialStages:
        """Build from ``conf/stages/sequential.yaml`` (a plain mapping: ``OmegaConf.to_container``).

        ``train_problems``: the training split; ``candidates.num_problems`` of them (seeded
        subset) are sampled. ``objective``: the ``objective`` config group (sets whether the
        evaluator data are pointwise examples or pairs).
        """
        known = {"mode", "stages", "candidates", "evaluator_data", "export", "seed", "doc"}
        extra = set(cfg) - known
        if extra:
            raise ValueError(f"stages config: unknown keys {sorted(extra)}; known: {sorted(known)}")
        seed = int(cfg.get("seed", 0))
        cand_cfg, ev_cfg = cfg.get("candidates"), dict(cfg.get("evaluator_data") or {})
        candidates = evaluator_data = None
        if cand_cfg is not None and any(s.get("kind") == "evaluator" for s in cfg["stages"]):
            probs = sorted(train_problems, key=lambda p: p.uid)
            random.Random(int(cand_cfg.get("problem_seed", 0))).shuffle(probs)
            n = cand_cfg.get("num_problems")
            probs = probs[: int(n)] if n is not None else probs
            if not probs:
                raise ValueError("candidates: no training problems to sample")
            candidates = CandidateSampling(
                probs, SamplingParams.from_mapping(cand_cfg.get("sampling") or {}),
                store=cand_cfg.get("store", "candidates/stage1.jsonl"), prompt_fn=prompt_fn,
                model_id=cand_cfg.get("model_id", "sequential/stage1"),
                engine=str(cand_cfg.get("engine", "auto")),
                precision=str(cand_cfg.get("precision", "auto")),
                workers=cand_cfg.get("workers", 1))
            evaluator_data = evaluator_loader_factory(tokenizer, probs, objective=objective,
                                                      seed=seed, **ev_cfg)
        export = cfg.get("export") or {}
        return cls(cfg["stages"], generator_data, evaluator_data, candidates,
                   export_dir=export.get("dir"), merge_lora=bool(export.get("merge_lora", True)),
                   seed=seed)

    # --- plan ---------------------------------------------------------------------------------
    @property
    def total_steps(self) -> int | None:
        """Sum of all stage lengths; None while one is still unresolved (``epochs``)."""
        return None if None in self.lengths else sum(self.lengths)  # type: ignore[arg-type]

    def stage_end(self, i: int) -> int:
        start, length = self.starts[i], self.lengths[i]
        if start is None or length is None:
            raise RuntimeError(f"stage {i} ({self.specs[i].name}) has not started")
        return start + length

    def train_dataloader(self) -> StageLoader:
        """The iterable to pass as ``trainer.fit(train_dataloaders=...)``."""
        return StageLoader(self)

    def _loader(self, i: int) -> DataLoader:
        if i not in self._loaders:
            if self.specs[i].kind == "generator":
                src = self._generator_data
                self._loaders[i] = src if isinstance(src, DataLoader) else src()
            else:
                if not self.sampled or self.store_path is None:
                    raise RuntimeError(f"stage {self.specs[i].name}: candidates not sampled yet")
                assert self._evaluator_data is not None
                self._loaders[i] = self._evaluator_data(Path(self.store_path))
            self._shard_sampler(self._loaders[i])
        return self._loaders[i]

    def _shard_sampler(self, dl: DataLoader) -> None:
        """Under DDP, a batch sampler that shards global batches itself (mathft's
        ``LengthGroupedBatchSampler``: ``num_replicas``, ``rank``) is set to this rank, so D
        ranks of batch B train as one process of batch D x B (as in an SSFT or evaluator run)."""
        bs, trainer = dl.batch_sampler, self._trainer
        if trainer is not None and trainer.world_size > 1 and _rank_sharding(bs):
            bs.num_replicas, bs.rank = trainer.world_size, trainer.global_rank

    def _split(self, dl: DataLoader) -> dict[str, int]:
        """How :func:`stream_batches` splits ``dl``'s batches over the ranks: not at all where
        its sampler already gives this rank's share."""
        trainer = self._trainer
        assert trainer is not None
        if trainer.world_size == 1 or _rank_sharding(dl.batch_sampler):
            return {"rank": 0, "world": 1}
        return {"rank": trainer.global_rank, "world": trainer.world_size}

    def _seed(self, i: int, mle: bool = False) -> int:
        """Base seed of stage ``i``'s batch order (its passes add 0, 1, ...)."""
        return self.seed * 1_000_003 + i * 10_007 + (5_003 if mle else 0)

    def _stage_iterator(self) -> Iterator[Any]:
        trainer, i = self._trainer, self.current
        if trainer is None:
            raise RuntimeError("SequentialStages is not attached: add it to Trainer(callbacks=)")
        accum = int(trainer.accumulate_grad_batches)
        step, end = trainer.global_step, self.stage_end(i)
        n = (end - step) * accum
        if n <= 0:
            return iter(())
        offset = (step - self.starts[i]) * accum  # type: ignore[operator]
        dl = self._loader(i)
        data = stream_batches(dl, offset, self._seed(i), **self._split(dl))
        if self.specs[i].joint_alpha > 0:
            gen_i = next(j for j in range(i, -1, -1) if self.specs[j].kind == "generator")
            gen_dl = self._loader(gen_i)
            mle = stream_batches(gen_dl, offset, self._seed(i, mle=True), **self._split(gen_dl))
            data = ({"evaluator": e, "generator": g} for e, g in zip(data, mle))
        return islice(data, n)

    # --- stage switching ---------------------------------------------------------------------
    def _resolve_length(self, i: int, trainer: pl.Trainer) -> None:
        if self.lengths[i] is None:
            dl = self._loader(i)
            per_pass = len(pass_batches(dl, self._seed(i))) // self._split(dl)["world"]
            epochs = float(self.specs[i].epochs)  # type: ignore[arg-type]
            self.lengths[i] = max(1, math.ceil(epochs * per_pass / trainer.accumulate_grad_batches))
            log.info("stage %s: %s epochs = %d steps", self.specs[i].name, epochs, self.lengths[i])

    def _sync_trainer(self, trainer: pl.Trainer) -> None:
        """The trainer runs exactly the plan: max_steps = total (or far while unresolved)."""
        total = self.total_steps
        known = sum(x for x in self.lengths if x is not None)
        set_fit_limits(trainer, total if total is not None else known + FAR, max_epochs=-1)

    def _push_to_module(self) -> None:
        if self._module is not None:
            self._module.set_stage(self.specs[self.current], self.current,
                                   self.lengths[self.current])

    def _enter(self, i: int, trainer: pl.Trainer, module: Any, rebuild_optimizer: bool) -> None:
        spec = self.specs[i]
        if spec.kind == "evaluator" and not self.sampled:
            self._sample_candidates(trainer, module, i)
        self._resolve_length(i, trainer)
        self.current, self.starts[i] = i, trainer.global_step
        self._push_to_module()
        self._sync_trainer(trainer)
        if rebuild_optimizer:
            rebuild_optimizers(trainer)
        log.info("stage %d/%d %s (%s) at step %d for %d steps", i + 1, len(self.specs),
                 spec.name, spec.kind, trainer.global_step, self.lengths[i])

    def engine_id(self, module: Any) -> dict[str, str]:
        """The engine and compute dtype the candidates are sampled with (part of their hash)."""
        cs = self.candidates
        assert cs is not None
        dtype = str(next(module.model.parameters()).dtype)
        return resolve_in_memory_engine(cs.engine, cs.precision, dtype)

    def _sample_candidates(self, trainer: pl.Trainer, module: Any, i: int) -> None:
        cs = self.candidates
        assert cs is not None and self.store_path is not None
        engine_id = self.engine_id(module)
        ident = {"purpose": "sequential-stage-candidates", "model_id": cs.model_id,
                 "sampling": cs.params.identity(), "problems": sorted(p.uid for p in cs.problems),
                 "steps_before": self.lengths[:i], "engine": engine_id}
        chash = config_hash(ident)
        if trainer.world_size > 1:
            self._sample_on_ranks(trainer, module, engine_id, chash)
        elif trainer.is_global_zero:
            store = CandidateStore(self.store_path, config_hash=chash, model_id=cs.model_id,
                                   sampling=cs.params.to_dict())
            # as a sample step: auto is one process per core for the prefix engine
            workers = resolve_workers(cs.workers, len(cs.problems),
                                      parallel=engine_id["engine"] == "prefix")
            if workers > 1 and not _picklable(cs.prompt_fn):
                log.warning("stage candidates: prompt_fn %r cannot be sent to worker processes; "
                            "sampling in this process", cs.prompt_fn)
                workers = 1
            if workers > 1:
                stats = self._sample_in_workers(module, store, engine_id, chash, workers)
            else:
                absorb_parts(store, [p.uid for p in cs.problems])  # a killed run's worker rows
                lm, was_training = module.model, module.model.training
                lm.eval()
                try:
                    engine = make_engine(engine_id["engine"], lm, module.tokenizer,
                                         precision=cs.precision, **dict(cs.engine_kwargs or {}))
                    stats = sample_to_store(engine, list(cs.problems), store, cs.params,
                                            cs.prompt_fn, cs.model_id, chash, progress=False)
                finally:
                    lm.train(was_training)
            log.info("stage candidates (%s, %s): %d generated, %d already stored, %d correct "
                     "-> %s", engine_id["engine"], engine_id["dtype"], stats.generated,
                     stats.skipped, stats.correct, self.store_path)
        trainer.strategy.barrier("mathft-sequential-sampling")
        self.sampled = True

    def _sample_on_ranks(self, trainer: pl.Trainer, module: Any, engine_id: dict[str, str],
                         chash: str) -> None:
        """Under DDP: rank r samples problems r, r + world, ... with its replica of the model
        (the ranks' replicas are equal) into its share ``<store>.parts/rank<r>.jsonl``; rank 0
        then merges the shares into the store in problem order. A share of a killed run is
        merged first and its rows are skipped. ``workers`` is not used (the ranks are the
        processes)."""
        cs = self.candidates
        assert cs is not None and self.store_path is not None
        rank, world = trainer.global_rank, trainer.world_size
        path, ids = Path(self.store_path), [p.uid for p in cs.problems]
        meta = {"config_hash": chash, "model_id": cs.model_id, "sampling": cs.params.to_dict()}
        if rank == 0:
            absorb_parts(CandidateStore(path, **meta), ids)  # a killed run's shares
        trainer.strategy.barrier("mathft-sequential-shares-absorbed")
        done = CandidateStore(path, repair=False).existing_keys()
        share = CandidateStore(parts_dir(path) / f"rank{rank}.jsonl", **meta)
        lm, was_training = module.model, module.model.training
        lm.eval()
        try:
            engine = make_engine(engine_id["engine"], lm, module.tokenizer,
                                 precision=cs.precision, **dict(cs.engine_kwargs or {}))
            stats = sample_to_store(engine, list(cs.problems)[rank::world], share, cs.params,
                                    cs.prompt_fn, cs.model_id, chash, progress=False, done=done)
        finally:
            lm.train(was_training)
        log.info("stage candidates, rank %d of %d (%s, %s): %d generated, %d correct", rank,
                 world, engine_id["engine"], engine_id["dtype"], stats.generated, stats.correct)
        trainer.strategy.barrier("mathft-sequential-shares-sampled")
        if rank == 0:
            absorb_parts(CandidateStore(path, **meta), ids)
            log.info("stage candidates: the %d ranks' shares merged into %s", world, path)

    def _sample_in_workers(self, module: Any, store: CandidateStore, engine_id: dict[str, str],
                           chash: str, workers: int) -> Any:
        """The candidates sampled by ``workers`` processes from the stage model, exported
        (LoRA merged) next to the store and removed afterwards."""
        from mathft.models.loading import load_model_and_tokenizer

        cs = self.candidates
        assert cs is not None
        model_dir = Path(store.path).with_name(Path(store.path).stem + ".model")
        export_generator(module.model, module.tokenizer, model_dir, merge_lora=True,
                         metadata={"purpose": "sequential stage candidates"})
        dtype = str(next(module.model.parameters()).dtype).replace("torch.", "")
        job = WorkerJob(load=functools.partial(load_model_and_tokenizer, str(model_dir),
                                               dtype=dtype, padding_side="left"),
                        engine=engine_id["engine"], precision=cs.precision, params=cs.params,
                        prompt=functools.partial(_prompt_of, cs.prompt_fn),
                        model_id=cs.model_id, config_hash=chash,
                        engine_kwargs=dict(cs.engine_kwargs or {}))
        try:
            return sample_in_workers(job, list(cs.problems), store, workers, progress=False)
        finally:
            shutil.rmtree(model_dir, ignore_errors=True)

    # --- Lightning hooks ---------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if not hasattr(pl_module, "set_stage"):
            raise TypeError(f"SequentialStages needs a MultiTaskModule, got "
                            f"{type(pl_module).__name__}")
        self._trainer, self._module = trainer, pl_module
        root = Path(trainer.default_root_dir)
        if self.candidates is not None and self.store_path is None:
            p = Path(self.candidates.store)
            self.store_path = str(p if p.is_absolute() else root / p)
        if self.starts[0] is None:  # fresh run (a resumed one gets its state next)
            self._enter(0, trainer, pl_module, rebuild_optimizer=False)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        while (self.current + 1 < len(self.specs)
               and trainer.global_step >= self.stage_end(self.current)):
            self._enter(self.current + 1, trainer, pl_module, rebuild_optimizer=True)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        pl_module.log("stage", float(self.current), batch_size=1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last = len(self.specs) - 1
        finished = self.current == last and trainer.global_step >= self.stage_end(last)
        if not finished or self.export_dir is None or not trainer.is_global_zero:
            return
        out = Path(self.export_dir)
        out = out if out.is_absolute() else Path(trainer.default_root_dir) / out
        meta = {"trained_by": "mathft.sequential", "stages": [s.to_dict() for s in self.specs],
                "lengths": self.lengths, "global_step": trainer.global_step,
                "candidates": self.store_path}
        export_generator(pl_module, pl_module.tokenizer, out, merge_lora=self.merge_lora,
                         metadata=meta)
        self.exported = str(out)
        log.info("exported the final generator to %s", out)

    def state_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "stages": [s.to_dict() for s in self.specs],
                "current": self.current, "starts": list(self.starts),
                "lengths": list(self.lengths), "store_path": self.store_path,
                "sampled": self.sampled}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = [s["name"] + ":" + s["kind"] for s in state_dict["stages"]]
        now = [s.name + ":" + s.kind for s in self.specs]
        if saved != now:
            raise ValueError(f"checkpoint was taken with stages {saved}, this run has {now}; "
                             "resume with the same stage plan")
        self.current = int(state_dict["current"])
        self.starts = list(state_dict["starts"])
        self.lengths = list(state_dict["lengths"])
        self.store_path = state_dict["store_path"]
        self.sampled = bool(state_dict["sampled"])
        self._loaders.clear()
        self._push_to_module()
        if self._trainer is not None:
            self._sync_trainer(self._trainer)


def evaluator_loader_factory(
    tokenizer: Any, problems: Sequence[Problem], **datamodule_kwargs: Any
) -> Callable[[Path], DataLoader]:
    """``store_path -> DataLoader`` of evaluator training batches built by
    ``EvaluatorDataModule`` (objective, n_per_problem, batch_size... as its keyword arguments).
    Picklable (a partial of a module-level function), so that DDP's spawned ranks get it."""
    return functools.partial(_evaluator_loader, tokenizer, list(problems), datamodule_kwargs)


def _evaluator_loader(tokenizer: Any, problems: list[Problem], datamodule_kwargs: dict[str, Any],
                      store_path: Path) -> DataLoader:
    dm = EvaluatorDataModule(tokenizer, CandidateStore(store_path), problems,
                             [p.uid for p in problems], **datamodule_kwargs)
    dm.setup("fit")
    return dm.train_dataloader()

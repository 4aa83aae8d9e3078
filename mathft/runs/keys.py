"""What each cached step's key is made of: the one place that classifies every config key.

A step is reused when its key is equal, so the key must hold exactly what can change the
step's output (trained weights and the metrics recorded with them, stored samples, scores,
tables) and nothing that cannot (inference batch sizes, logging, progress bars, paths of
caches). Every config leaf is classified here, in one of three ways:

- ``StepSpec.config`` of a step: hashed into that step's key (a change recomputes it);
- ``StepSpec.derived``: reaches keys only through an input of a step (the problems a
  ``eval.*`` node selects are hashed by content, ``evaluator.same_model`` picks which model
  the evaluator's keys read, ``eval.greedy`` decides whether a greedy store exists);
- ``IGNORED``: cannot change any output, with the reason (it also carves leaves out of a
  wider ``a.*`` step pattern: the parts of ``stages.*`` the pipeline replaces).

A keyed setting added after steps were computed lists the value those steps ran with in
``ADDED``: a key holds it only when it differs, so the steps computed before it stay reused.

Patterns are dotted paths; ``a.*`` covers ``a`` and its whole subtree (for free-form nodes
such as LoRA settings or a strategy object). ``model.*`` patterns are read from the model
the step runs on (``model`` or, for cross-model cells, ``evaluator_model``). The test suite
composes every shipped config and fails on a leaf that nothing here classifies, so a new
setting cannot silently stay out of (or wrongly in) the keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from mathft.runs.cache import to_plain

KEYS_VERSION = 3
"""Bumped when a key's layout or a step's semantics change: every older step is recomputed."""

MODEL = ("model.name_or_path", "model.dtype", "model.attn_implementation",
         "model.padding_side", "model.seed")
INFERENCE_MODEL = ("model.name_or_path", "model.dtype", "model.attn_implementation")
TRAINER = (
    "trainer._target_", "trainer.accelerator", "trainer.devices", "trainer.num_nodes",
    "trainer.strategy.*", "trainer.use_distributed_sampler", "trainer.precision",
    "trainer.accumulate_grad_batches", "trainer.gradient_clip_val",
    "trainer.gradient_clip_algorithm", "trainer.max_epochs", "trainer.deterministic",
    "trainer.val_check_interval", "trainer.check_val_every_n_epoch",
)
DATA = (
    "data.mixture", "data.weights.*", "data.seed", "data.n_val", "data.n_train",
    "data.min_rating", "data.prm800k_format", "data.prm800k_path", "data.gsm8k_n_val",
    "data.gsm8k_strip_calculator", "data.limit_train", "data.limit_val", "data.template",
)
SAMPLING = ("sampling.engine", "sampling.precision", "sampling.n", "sampling.temperature", "sampling.top_p",
            "sampling.max_new_tokens", "sampling.seed", "sampling.greedy",
            "sampling.stop_on_answer", "sampling.stop")


MODULE_WIRING = ("which LightningModule a training step builds, wired to keyed settings: "
                 "_target_ is fixed by the step kind (stages.mode, in the key) and every other "
                 "leaf interpolates a keyed setting (mathft.runs.validate checks both)")


@dataclass(frozen=True)
class StepSpec:
    """One step kind: the config patterns in its key, its other inputs, and what it is."""

    name: str
    config: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    doc: str = ""


STEPS: dict[str, StepSpec] = {
    "generator": StepSpec(
        "generator",
        config=(*MODEL, "finetune.*", *DATA, "generator.train", "generator.lr",
                "generator.weight_decay", "generator.warmup_ratio", "generator.batch_size",
                "generator.max_length", "generator.overlong", "generator.packing", "generator.max_steps",
                "generator.val_examples", "generator.select", "seed", *TRAINER),
        derived=("stages.mode", "generator.path"),
        doc="SSFT weights in model/; stages.mode picks SSFT or sequential (the key records "
            "which); generator.train=false uses the base model (no step); generator.path is "
            "the generator mathft.sample reads instead (its id keys the samples)"),
    "generator_sequential": StepSpec(
        "generator",
        config=("generator.sequential_steps", "stages.*", "objective.*",
                *(s for s in SAMPLING if s not in ("sampling.engine", "sampling.precision")),
                "evaluator.n_per_problem",
                "evaluator.balance", "evaluator.batch_size", "evaluator.max_length"),
        inputs=("evaluator_train problems", "stage engine"),
        doc="added to the generator's key when stages.mode=sequential (stage-2 candidates "
            "are sampled inside the run on the eval.evaluator_train problems, with the engine "
            "and dtype sampling.engine/precision resolve to for a model in memory)"),
    "samples": StepSpec(
        "samples",
        config=(*INFERENCE_MODEL, *SAMPLING, "prompt.*"),
        inputs=("generator", "problems"),
        derived=("eval.test.*", "eval.val.*", "eval.evaluator_train.*", "eval.greedy"),
        doc="candidate store; the problems are hashed by content (uid, problem, answer); "
            "greedy stores take n=1 and fixed decoding from their own mapping; the prompt's "
            "stop strings join sampling.stop"),
    "evaluator": StepSpec(
        "evaluator",
        config=(*MODEL, "finetune.*", "objective.*", "evaluator.init", "evaluator.lr",
                "evaluator.weight_decay", "evaluator.warmup_ratio", "evaluator.batch_size",
                "evaluator.max_length", "evaluator.max_steps", "evaluator.n_per_problem",
                "evaluator.balance", "evaluator.val_max_per_problem", "seed", *TRAINER),
        inputs=("train candidates", "val candidates", "init generator"),
        derived=("evaluator.enabled", "evaluator.same_model", "evaluator_model.*"),
        doc="evaluator weights; model.* are those of evaluator_model when same_model=false"),
    "scores": StepSpec(
        "scores", config=("evaluator.max_length",),
        inputs=("evaluator", "candidates", "dtype", "label_head"),
        derived=("evaluator.score_precision",),
        doc="S_cls of every stored candidate, computed in the dtype evaluator.score_precision "
            "resolves to on the machine (bf16 and fp32 scores differ slightly)"),
    "metrics": StepSpec(
        "metrics", config=("rerank.*",),
        inputs=("test", "greedy", "val", "test scores", "val scores"),
        doc="tables of one cell (recomputed every run: cheap)"),
}

ADDED: dict[str, Any] = {
    "generator.select": "last",  # every generator before best-validation selection
}
"""Keyed settings added later, with the behaviour every older step had: omitted from a key
while they have that value (old steps stay reused), hashed once they differ."""

IGNORED: dict[str, str] = {
    "model.name": "a display label (cells, tables); the weights come from name_or_path",
    "model.cache_dir": "where converted embedded models are cached",
    "model.gradient_checkpointing": "recomputes activations in backward: same gradients",
    "sampling.batch_size": "rows per forward pass of sampling; a sample depends only on (seed, "
                           "problem, sample index), up to the rounding of kernels whose "
                           "summation order depends on the rows (docs/sampling.md, "
                           "'Per-sample seeds')",
    "sampling.workers": "processes sampling a step's problems; a sample depends only on (seed, "
                        "problem, sample index), up to rounding (as sampling.batch_size), and "
                        "the workers' rows are merged into one store",
    "sampling.shard": "a job-array slice: its own step directory under the full step's key; "
                      "merged shards equal the unsharded store",
    "evaluator.score_shard": "a scoring job-array slice (as sampling.shard)",
    "evaluator.score_batch_size": "rows per forward pass of scoring",
    "stages.module.*": MODULE_WIRING,
    "evaluator.module.*": MODULE_WIRING,
    "evaluator.score_workers": "scoring processes; a score depends only on its candidate, the "
                               "workers' scores are merged into one store",
    "trainer.log_every_n_steps": "logging cadence",
    "trainer.enable_progress_bar": "progress display",
    "trainer.enable_model_summary": "log output",
    "trainer.num_sanity_val_steps": "a validation pass before training; no weight update",
    "logger.*": "where metrics are logged",
    "run.cache_dir": "where the steps live",
    "run.ckpt_every_n_steps": "resume-point cadence; resume is exact",
    "run.continue_on_failure": "multirun error handling",
    "run.dry_run": "prints the plan instead of running it",
    "run.keep_checkpoints": "whether a finished step keeps its resume checkpoint",
    "experiment_name": "a label",
    "recipe_name": "a label",
    "stores.*": "mathft.evaluate reads these files directly (no step)",
    "quality.*": "the evaluator-quality sweep (mathft.evaluate) is computed from stores on "
                 "every run, never cached; it changes no step",
}


def matches(path: str, pattern: str) -> bool:
    """Whether a dotted leaf ``path`` falls under ``pattern`` (``a.*`` covers ``a`` and below)."""
    if pattern.endswith(".*"):
        head = pattern[:-2]
        return path == head or path.startswith(head + ".")
    return path == pattern


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted path: value}`` of every leaf (lists and empty mappings are leaves)."""
    if isinstance(node, Mapping) and node:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: node}


def classify(path: str) -> list[str]:
    """Where ``path`` is classified: step names (``config``/``derived``) and/or ``ignored``."""
    out = [f"{name}" for name, s in STEPS.items()
           if any(matches(path, p) for p in (*s.config, *s.derived))]
    if any(matches(path, p) for p in IGNORED):
        out.append("ignored")
    return out


def select(cfg: Any, patterns: Sequence[str], **roots: Any) -> dict[str, Any]:
    """The leaves of ``cfg`` under ``patterns``, flat (``{"trainer.precision": ...}``).

    ``roots`` replace a top-level node (``model=<evaluator_model>``, ``sampling=<greedy>``);
    the paths keep the pattern's name, so keys of one step kind stay comparable.
    """
    out: dict[str, Any] = {}
    for top in sorted({p.split(".")[0] for p in patterns}):
        node = roots[top] if top in roots else _get(cfg, top)
        if node is None and not (isinstance(cfg, Mapping | DictConfig) and top in cfg):
            continue
        raw = OmegaConf.to_container(node, resolve=False) \
            if isinstance(node, DictConfig | ListConfig) else node
        for path in leaves(raw, top):
            if any(matches(path, p) for p in patterns) and \
                    not any(matches(path, ig) for ig in IGNORED):
                # resolve only what is selected (other leaves may need a running Hydra job)
                out[path] = _resolve(node, path.split(".", 1)[1]) if "." in path else \
                    to_plain(node)
    return out


def _get(cfg: Any, key: str) -> Any:
    return cfg.get(key) if isinstance(cfg, Mapping | DictConfig) else None


def _resolve(node: Any, sub: str) -> Any:
    if isinstance(node, DictConfig):
        return to_plain(OmegaConf.select(node, sub))
    for part in sub.split("."):
        node = node[part]
    return to_plain(node)


def _key(spec: str, cfg: Any, inputs: Mapping[str, Any], **roots: Any) -> dict[str, Any]:
    picked = select(cfg, STEPS[spec].config, **roots)
    key = {"keys_version": KEYS_VERSION,
           **{k: v for k, v in picked.items() if k not in ADDED or v != ADDED[k]}}
    key.update({f"input.{k}": to_plain(v) for k, v in inputs.items()})
    return key


def generator_kind(cfg: Any) -> str:
    """``sequential`` or ``ssft`` (``stages=evaluator`` trains the SSFT generator first)."""
    return "sequential" if str(cfg.stages.get("mode", "ssft")) == "sequential" else "ssft"


def generator_key(cfg: Any, model_cfg: Any, problems: Any = None) -> dict[str, Any]:
    """Key of a trained generator on ``model_cfg``; ``problems``: the evaluator-training
    problem identity (sequential runs only)."""
    key = _key("generator", cfg, {}, model=model_cfg)
    key["kind"] = generator_kind(cfg)
    if key["kind"] == "sequential":
        key.update(_key("generator_sequential", cfg, {"evaluator_train_problems": problems,
                                                      "stage_engine": stage_engine(cfg, model_cfg)}))
    return key


def stage_engine(cfg: Any, model_cfg: Any) -> dict[str, str]:
    """The engine and dtype a sequential run samples its stage-2 candidates with (the
    model is in memory: :func:`~mathft.sampling.factory.resolve_in_memory_engine`)."""
    # local: both import torch and transformers, which planning and key listing
    # (scripts/step_keys.py) otherwise never load; only sequential runs need them here
    from mathft.models.loading import torch_dtype
    from mathft.sampling.factory import resolve_in_memory_engine

    s = cfg.get("sampling") or {}
    dtype = str(torch_dtype(model_cfg.get("dtype") if model_cfg is not None else None))
    return resolve_in_memory_engine(str(s.get("engine", "auto")), str(s.get("precision", "auto")),
                                    dtype)


def samples_key(cfg: Any, model_cfg: Any, sampling: Mapping[str, Any], generator_id: str,
                problems: Any, engine: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Key of a candidate store; ``sampling`` is the decoding actually used (stop strings of
    the prompt included, greedy settings for greedy stores); ``engine``: the engine and
    compute dtype ``sampling.engine``/``precision`` resolved to on this machine."""
    return _key("samples", cfg, {"generator": generator_id, "problems": problems,
                                 "engine": dict(engine or {})},
                model=model_cfg, sampling=sampling)


def evaluator_key(cfg: Any, model_cfg: Any, train_hash: str, val_hash: str,
                  init_generator: str | None) -> dict[str, Any]:
    return _key("evaluator", cfg, {"train_candidates": train_hash, "val_candidates": val_hash,
                                   "init": init_generator or "base"}, model=model_cfg)


def scores_key(cfg: Any, evaluator_hash: str, candidates_hash: str, dtype: str) -> dict[str, Any]:
    # label_head: the label logits are computed in fp32 from the last hidden state
    # (mathft.models.evaluator.label_logits); bf16 scores written before that differ
    return _key("scores", cfg, {"evaluator": evaluator_hash, "candidates": candidates_hash,
                                "dtype": dtype, "label_head": "float32"})


def metrics_key(cfg: Any, **inputs: str | None) -> dict[str, Any]:
    return _key("metrics", cfg, inputs)


def key_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``"path: old → new"`` for every key entry that differs (flattened)."""
    a, b = leaves(dict(old)), leaves(dict(new))
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            out.append(f"{k}: {_show(a.get(k, '<absent>'))} → {_show(b.get(k, '<absent>'))}")
    return out


def _show(v: Any) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."

"""The schema of ``conf/``: every key of a composed config, its type, and where it lives.

Registered with Hydra's ConfigStore (:func:`register_configs`, run on ``import mathft.runs``)
and named first in the defaults list of every entry config (``pipeline_schema``, ...), so a
misspelled key or a value of the wrong type fails when the config is composed, with Hydra's
own message naming the key (``Key 'temprature' not in 'SamplingConf'``, ``Value 'abc' of type
'str' could not be converted to Integer  full_key: sampling.n``). Rules a type cannot state
(ranges, allowed names, rules across keys) are checked by :mod:`mathft.runs.validate`.

The values live in the yaml files, once each: a schema gives types only, every default is
``MISSING`` (``???``, "a yaml file sets it"). So a schema merged late (``sample_schema`` after
``pipeline``) never resets a value, and never adds a key that the yaml files do not set: the
keys of the cached steps (:mod:`mathft.runs.keys`) are made of these leaves. Nodes whose keys
differ between options (``finetune``, ``prompt``, ``stages``) have one schema per option,
named in that option's own defaults list (``conf/prompt/fewshot_math.yaml`` starts with
``schema_few_shot``); ``trainer`` and ``logger`` are free-form ``_target_`` nodes, checked
against the class they build by :mod:`mathft.runs.validate`.

Adding a setting: one field here (type, and ``MISSING`` or its default), its value in the
yaml file that owns it, and its classification in :mod:`mathft.runs.keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


@dataclass
class RunConf:
    """``run``: where steps are cached and how a job treats them."""

    cache_dir: str = MISSING
    ckpt_every_n_steps: int = MISSING
    continue_on_failure: bool = MISSING
    dry_run: bool = MISSING
    keep_checkpoints: bool = MISSING


@dataclass
class GeneratorConf:
    """``generator``: the generator step (SSFT or sequential, ``stages``)."""

    train: bool = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    warmup_ratio: float = MISSING
    batch_size: int = MISSING
    max_length: int = MISSING
    overlong: str = MISSING
    packing: bool = MISSING
    max_steps: int = MISSING
    val_examples: int = MISSING
    select: str = MISSING
    sequential_steps: list[int] | None = MISSING


@dataclass
class SampleGeneratorConf(GeneratorConf):
    """``generator`` of ``mathft.sample``: also ``path``, a generator to sample instead."""

    path: str | None = MISSING


@dataclass
class EvaluatorConf:
    """``evaluator``: the evaluator step, its scores, and the LightningModule it trains."""

    enabled: bool = MISSING
    same_model: bool = MISSING
    init: str = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    warmup_ratio: float = MISSING
    batch_size: int = MISSING
    max_length: int = MISSING
    max_steps: int = MISSING
    n_per_problem: int = MISSING
    balance: bool = MISSING
    val_max_per_problem: int | None = MISSING
    score_batch_size: int = MISSING
    score_precision: str = MISSING
    score_workers: Any = MISSING  # "auto" or a number of processes (validate checks it)
    score_shard: str | None = MISSING
    module: dict[str, Any] = MISSING


@dataclass
class ProblemSetConf:
    """One problem set of ``eval`` (``name``: math500 | math | gsm8k | jsonl)."""

    name: str = MISSING
    split: str = MISSING
    limit: int | None = MISSING
    levels: list[int] | None = MISSING
    path: str | None = MISSING


@dataclass
class EvalConf:
    """``eval``: the problems each step runs on."""

    greedy: bool = MISSING
    test: ProblemSetConf = field(default_factory=ProblemSetConf)
    val: ProblemSetConf = field(default_factory=ProblemSetConf)
    evaluator_train: ProblemSetConf = field(default_factory=ProblemSetConf)


@dataclass
class DataConf:
    """``data`` (``conf/data/``): the SSFT training mixture and the paper's split."""

    mixture: str = MISSING
    weights: Any = MISSING  # {source: float} or None (typed Optional[Dict], an override could not set it)
    seed: int = MISSING
    n_val: int = MISSING
    n_train: int | None = MISSING
    min_rating: int = MISSING
    prm800k_format: str = MISSING
    prm800k_path: str | None = MISSING
    gsm8k_n_val: int = MISSING
    gsm8k_strip_calculator: bool = MISSING
    limit_train: int | None = MISSING
    limit_val: int | None = MISSING
    template: str = MISSING


@dataclass
class ModelConf:
    """``model`` and ``evaluator_model`` (``conf/model/``): the checkpoint and how to load it."""

    name: str = MISSING
    name_or_path: str = MISSING
    dtype: str = MISSING
    attn_implementation: str = MISSING
    gradient_checkpointing: bool = MISSING
    padding_side: str = MISSING
    cache_dir: str | None = MISSING
    seed: int = MISSING


@dataclass
class FullFinetuneConf:
    """``conf/finetune/full.yaml``."""

    method: str = MISSING


@dataclass
class LoraFinetuneConf(FullFinetuneConf):
    """``conf/finetune/lora.yaml`` (``target_modules``: names, or ``all-linear``;
    ``merge_on_export``: the steps' exported ``model/`` has the adapters merged in)."""

    r: int = MISSING
    alpha: int = MISSING
    dropout: float = MISSING
    target_modules: Any = MISSING
    merge_on_export: bool = MISSING


@dataclass
class SSFTPromptConf:
    """``prompt`` of kind ``ssft`` (:class:`mathft.data.prompts.PromptBuilder`)."""

    _target_: str = MISSING
    kind: str = MISSING
    template: str = MISSING


@dataclass
class ZeroShotPromptConf(SSFTPromptConf):
    """``prompt`` of kind ``zero_shot``, plain text."""

    chat: bool = MISSING
    instruction: str = MISSING


@dataclass
class ChatPromptConf(ZeroShotPromptConf):
    """``prompt`` rendered by a chat template (also ``system``)."""

    system: str | None = MISSING


@dataclass
class FewShotPromptConf(ChatPromptConf):
    """``prompt`` of kind ``few_shot``: ``k`` exemplars of one solution style."""

    k: int = MISSING
    style: str = MISSING
    exemplar_split: str = MISSING
    split_seed: int = MISSING
    seed: int = MISSING
    max_exemplar_chars: int | None = MISSING
    match_problems: bool = MISSING
    separator: str = MISSING


@dataclass
class SamplingConf:
    """``sampling`` (``conf/sampling/``): :class:`mathft.sampling.engine.SamplingParams`, plus
    the engine, its compute dtype and a job-array slice."""

    engine: str = MISSING
    precision: str = MISSING
    n: int = MISSING
    temperature: float = MISSING
    top_p: float = MISSING
    max_new_tokens: int = MISSING
    seed: int = MISSING
    greedy: bool = MISSING
    stop_on_answer: bool = MISSING
    batch_size: int = MISSING
    stop: list[str] = MISSING
    shard: str | None = MISSING
    workers: Any = MISSING  # "auto" or a number of processes (validate checks it)


@dataclass
class ObjectiveConf:
    """``objective`` (``conf/objective/``): :class:`mathft.models.objectives.Objective`."""

    name: str = MISSING
    normalize: str = MISSING
    lam: float = MISSING
    margin: float = MISSING
    weights: dict[str, float] = MISSING


@dataclass
class StageCandidatesConf:
    """``stages.candidates``: the in-run candidates of the first evaluator stage (their
    problems are ``eval.evaluator_train``, their decoding ``sampling``)."""

    problem_seed: int = MISSING


@dataclass
class StageEvaluatorDataConf:
    """``stages.evaluator_data``: evaluator-stage examples beyond ``evaluator.*``."""

    n_pairs_per_problem: int | None = MISSING
    single_class: str = MISSING
    truncation: str = MISSING


@dataclass
class StageExportConf:
    """``stages.export``: the exported generator of a sequential run."""

    merge_lora: bool = MISSING


@dataclass
class StagesConf:
    """``stages`` (``conf/stages/``): how the generator is trained, and its LightningModule."""

    mode: str = MISSING
    module: dict[str, Any] = MISSING


@dataclass
class SequentialStagesConf(StagesConf):
    """``conf/stages/sequential.yaml``: also the stages of
    :meth:`mathft.callbacks.sequential.SequentialStages.from_config`."""

    stages: list[Any] = MISSING
    candidates: StageCandidatesConf = field(default_factory=StageCandidatesConf)
    evaluator_data: StageEvaluatorDataConf = field(default_factory=StageEvaluatorDataConf)
    export: StageExportConf = field(default_factory=StageExportConf)
    seed: int = MISSING


@dataclass
class RerankConf:
    """``rerank`` (``conf/rerank/``): strategies, K / N and their grids, bootstrap."""

    strategies: list[str] = MISSING
    k: int = MISSING
    topn: int = MISSING
    select_on_validation: bool = MISSING
    k_grid: list[int] = MISSING
    topn_grid: list[int] = MISSING
    n_sub: int | None = MISSING
    n_subsets: int = MISSING
    n_boot: int = MISSING
    seed: int = MISSING
    figure1: bool = MISSING


@dataclass
class QualityConf:
    """``quality`` (``experiment=evaluator_quality``, read by ``mathft.evaluate``)."""

    aucs: list[float] = MISSING
    n_seeds: int = MISSING
    strategies: list[str] = MISSING
    k_grid: list[int] = MISSING
    seed: int = MISSING
    n_boot: int = MISSING
    mark_auc: dict[str, float] = MISSING
    trained_evaluator: bool = MISSING


@dataclass
class StoresConf:
    """``stores`` of ``mathft.evaluate``: store files to read instead of running the cell."""

    test: str | None = MISSING
    greedy: str | None = MISSING
    test_scores: str | None = MISSING
    val: str | None = MISSING
    val_scores: str | None = MISSING


@dataclass
class PipelineConf:
    """``conf/pipeline.yaml``: one experiment cell (``mathft.pipeline``, ``mathft.train``)."""

    data: DataConf = field(default_factory=DataConf)
    model: ModelConf = field(default_factory=ModelConf)
    evaluator_model: ModelConf = field(default_factory=ModelConf)
    finetune: Any = MISSING  # FullFinetuneConf | LoraFinetuneConf (each option names its own)
    prompt: Any = MISSING  # SSFTPromptConf | ZeroShotPromptConf | ... (idem)
    sampling: SamplingConf = field(default_factory=SamplingConf)
    objective: ObjectiveConf = field(default_factory=ObjectiveConf)
    stages: Any = MISSING  # StagesConf | SequentialStagesConf (idem)
    rerank: RerankConf = field(default_factory=RerankConf)
    trainer: Any = MISSING  # pytorch_lightning.Trainer arguments (checked by validate)
    logger: Any = MISSING  # a Lightning logger's arguments
    experiment_name: str = MISSING
    recipe_name: str = MISSING
    seed: int = MISSING
    run: RunConf = field(default_factory=RunConf)
    generator: GeneratorConf = field(default_factory=GeneratorConf)
    evaluator: EvaluatorConf = field(default_factory=EvaluatorConf)
    eval: EvalConf = field(default_factory=EvalConf)
    quality: QualityConf | None = MISSING


@dataclass
class SampleConf(PipelineConf):
    """``conf/sample.yaml`` (``mathft.sample``)."""

    generator: SampleGeneratorConf = field(default_factory=SampleGeneratorConf)


@dataclass
class EvaluateConf(PipelineConf):
    """``conf/evaluate.yaml`` (``mathft.evaluate``)."""

    stores: StoresConf = field(default_factory=StoresConf)


ROOTS: dict[str, type] = {"pipeline_schema": PipelineConf, "sample_schema": SampleConf,
                          "evaluate_schema": EvaluateConf}
"""Root schemas, named first (``pipeline``) or right after ``pipeline`` in the entry configs."""

GROUP_SCHEMAS: dict[tuple[str, str], type] = {
    ("finetune", "schema_full"): FullFinetuneConf,
    ("finetune", "schema_lora"): LoraFinetuneConf,
    ("prompt", "schema_ssft"): SSFTPromptConf,
    ("prompt", "schema_zero_shot"): ZeroShotPromptConf,
    ("prompt", "schema_chat"): ChatPromptConf,
    ("prompt", "schema_few_shot"): FewShotPromptConf,
    ("stages", "schema_ssft"): StagesConf,
    ("stages", "schema_sequential"): SequentialStagesConf,
}
"""Per-option schemas of the groups whose options have different keys (named first in each
option's defaults list)."""


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    for name, node in ROOTS.items():
        cs.store(name=name, node=node)
    for (group, name), node in GROUP_SCHEMAS.items():
        cs.store(group=group, name=name, node=node)


def added_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Keys of schema-typed nodes that their schema does not declare.

    Composition already refuses them in yaml files and in ``key=value`` overrides; Hydra's
    ``+key=value`` appends a key to any node, typed or not, so such keys are found here.
    """
    out: list[str] = []
    typ = OmegaConf.get_type(cfg)
    known = {f.name for f in fields(typ)} if typ is not None and is_dataclass(typ) else None
    for key in cfg.keys():
        path = f"{prefix}{key}"
        if not prefix and key == "hydra":  # Hydra's own node (composed with return_hydra_config)
            continue
        if known is not None and key not in known:
            out.append(path)
            continue
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing():
            out += added_keys(child, path + ".")
    return out

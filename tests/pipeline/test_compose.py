"""Every yaml under conf/ composes with conf/pipeline.yaml, resolves fully and validates.

The option lists are discovered by globbing conf/ (never hard-coded), so a new broken yaml
fails here. Every experiment's ``hydra.sweeper.params`` grid is expanded and each cell
composed as ``-m`` would. Each composition passes :func:`mathft.runs.validate.validate`
(which builds the sampling parameters, objective, prompt builder, rerank strategies and
stages); CPU trainers and loggers are instantiated, GPU trainers checked for their target and
strategy only (no GPU here). A misspelled key or a wrong type fails at composition, naming
the key, in every entry config (mathft/runs/schema.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

import mathft.runs.lifecycle  # noqa: F401  (registers the resolver of hydra.sweep.subdir)
from mathft.data.templates import SSFT_PROMPT

CONF = Path(__file__).resolve().parents[2] / "conf"
MAIN_CONFIGS = ["pipeline", "train", "sample", "evaluate"]
# config groups selected in conf/pipeline.yaml's defaults (group dir -> override key)
GROUPS = {
    "data": "data", "model": "model", "finetune": "finetune", "prompt": "prompt",
    "sampling": "sampling", "objective": "objective", "stages": "stages", "rerank": "rerank",
    "trainer": "trainer", "logger": "logger", "recipe": "recipe", "scale": "scale",
    "experiment": "experiment",
}
GPU_TRAINERS = {"gpu", "ddp", "fsdp"}


@pytest.fixture(autouse=True)
def _clear_hydra_config() -> Any:
    """Leave no global HydraConfig behind for other tests."""
    yield
    HydraConfig.instance().cfg = None  # type: ignore[assignment]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


# Known-broken compositions (strict: the test fails once they are fixed, so this list shrinks).
KNOWN_BROKEN: dict[tuple[str, str], str] = {}


def _all_group_options() -> list[Any]:
    out = []
    for g in sorted(GROUPS):
        for o in _options(g):
            reason = KNOWN_BROKEN.get((g, o))
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            out.append(pytest.param(g, o, marks=marks))
    return out


def _sweep_cells(experiment: str) -> list[list[str]]:
    """The cells ``-m experiment=<experiment>`` would run (its hydra.sweeper.params grid)."""
    raw = OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml")
    params = OmegaConf.select(raw, "hydra.sweeper.params") or {}
    parser = OverridesParser.create()
    axes = []
    for key, value in params.items():
        (ov,) = parser.parse_overrides([f"{key}={value}"])
        values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.value()]
        axes.append([f"{key}={v}" for v in values])
    return [list(cell) for cell in itertools.product(*axes)]


def _compose(overrides: list[str], tmp_path: Path, config: str = "pipeline") -> DictConfig:
    """Compose like a Hydra job: hydra node present, runtime.output_dir set, HydraConfig set."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config, overrides=overrides, return_hydra_config=True)
    out = tmp_path / "job"
    cfg.hydra.runtime.output_dir = str(out)
    HydraConfig.instance().set_config(cfg)
    return cfg


def _resolve(cfg: DictConfig) -> dict[str, Any]:
    """Fully resolved job config; every interpolation (hydra:, oc.env, now) must work.

    The hydra node's own run-time fields (job.num, override_dirname) are filled as Hydra
    fills them before its run/sweep directories are resolved.
    """
    if "hydra" in cfg:
        hc = cfg.hydra
        with read_write(hc), open_dict(hc):
            if OmegaConf.is_missing(hc.job, "num"):
                hc.job.num = 0
        for key in ("run.dir", "sweep.dir", "sweep.subdir"):
            assert str(OmegaConf.select(hc, key, throw_on_missing=True)), key
        cfg = cfg.copy()
        with open_dict(cfg):
            del cfg["hydra"]
    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(plain, dict)
    return plain


def _check_cell(cfg: DictConfig, tmp_path: Path) -> None:
    """What a run checks before any work, and the job-directory interpolations."""
    from mathft.runs.validate import validate

    plain = _resolve(cfg)
    if "save_dir" in plain["logger"]:
        assert plain["logger"]["save_dir"] == str(tmp_path / "job")
    assert plain["run"]["cache_dir"]
    validate(cfg)
    # one home: every prompt samples in the SSFT training template's frame
    assert plain["prompt"]["template"] == plain["data"]["template"] == SSFT_PROMPT


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_main_configs_compose(config: str, tmp_path: Path) -> None:
    cfg = _compose([], tmp_path, config)
    _check_cell(cfg, tmp_path)
    assert cfg.hydra.callbacks.failures._target_ == "mathft.runs.lifecycle.FailureSummary"


def test_every_group_option_is_discovered() -> None:
    """The glob sees every yaml: each conf/ subdirectory is a known group (or hydra/)."""
    dirs = {p.name for p in CONF.iterdir() if p.is_dir()}
    assert dirs - {"hydra"} == set(GROUPS), "a new config group must be added to GROUPS"
    assert all(_options(g) for g in GROUPS)


@pytest.mark.parametrize(("group", "option"), _all_group_options())
def test_group_option_composes_and_resolves(group: str, option: str, tmp_path: Path) -> None:
    cfg = _compose([f"{GROUPS[group]}={option}"], tmp_path)
    assert cfg.hydra.runtime.choices[GROUPS[group]] == option
    _check_cell(cfg, tmp_path)
    if group == "trainer":
        _check_trainer(cfg, option)
    if group == "logger":
        _check_logger(cfg, tmp_path)


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiment_sweep_cells_compose(experiment: str, tmp_path: Path) -> None:
    cells = _sweep_cells(experiment)
    assert cells, experiment
    # every cell at the default scale; every scale on the first cell
    runs = [("cpu", c) for c in cells] + [(s, cells[0]) for s in _options("scale") if s != "cpu"]
    for scale, cell in runs:
        cfg = _compose([f"experiment={experiment}", f"scale={scale}", *cell], tmp_path)
        assert cfg.experiment_name == experiment
        for ov in cell:
            key, value = ov.split("=", 1)
            choice = cfg.hydra.runtime.choices.get(key)
            if choice is not None:
                assert choice == value, (experiment, ov)
            else:
                assert str(OmegaConf.select(cfg, key)) == value, (experiment, ov)
        _check_cell(cfg, tmp_path)


def test_paper_scale_selects_gpu_trainer_and_n64(tmp_path: Path) -> None:
    cfg = _compose(["scale=paper"], tmp_path)
    assert cfg.trainer.accelerator == "gpu" and cfg.sampling.n == 64
    assert cfg.rerank.k == 8 and cfg.eval.test.limit is None


def test_experiment_overrides_win_over_scale(tmp_path: Path) -> None:
    """experiment: is after scale: in the defaults list, so its sizes win (smoke stays small)."""
    cfg = _compose(["experiment=smoke", "scale=paper"], tmp_path)
    assert cfg.eval.test.levels == [1] and cfg.sampling.n == 16


def test_sweep_grid_expansion_is_real() -> None:
    assert len(_sweep_cells("table2_ssft")) == 2 * 3 * 2
    assert ["objective=xent", "model=smollm2_135m"] in _sweep_cells("table3_rerank")


def test_sweep_subdir_is_a_valid_file_name(tmp_path: Path) -> None:
    """Many overrides must not give a job dir name over the 255-byte limit."""
    from mathft.runs.lifecycle import short_dirname

    many = [f"+extra.key_{i}=value_{i}" for i in range(40)]
    cfg = _compose(["experiment=smoke", *many], tmp_path)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.job.num = 3
        cfg.hydra.job.override_dirname = ",".join(o.lstrip("+") for o in many)
    sub = str(cfg.hydra.sweep.subdir)
    assert sub.startswith("3_extra.key_0=value_0,") and len(sub) <= 130
    assert short_dirname("a=b/c,d=e") == "a=b_c,d=e"
    assert short_dirname("x" * 300) != short_dirname("x" * 299 + "y")


# (override, the key Hydra's message must name): a misspelled key, a wrong type
BAD_OVERRIDES = [
    ("sampling.temprature=0.5", "sampling.temprature"),
    ("generator.max_step=3", "generator.max_step"),
    ("data.mixtur=math", "data.mixtur"),
    ("sampling.n=abc", "sampling.n"),
    ("generator.lr=fast", "generator.lr"),
    ("eval.test.limit=ten", "eval.test.limit"),
    ("prompt.kk=3", "prompt.kk"),
    ("prompt.k=3", "prompt.k"),  # the ssft prompt has no k (the few-shot prompts do)
    ("finetune.r=8", "finetune.r"),  # full fine-tuning has no LoRA rank
]


@pytest.mark.parametrize("config", MAIN_CONFIGS)
@pytest.mark.parametrize(("override", "key"), BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_key_or_type_fails_at_composition(config: str, override: str, key: str,
                                              tmp_path: Path) -> None:
    """Hydra's own message names the key, before anything runs (mathft/runs/schema.py)."""
    with pytest.raises(Exception) as e:  # noqa: PT011 - Hydra's exception types vary by case
        _compose([override], tmp_path, config)
    chain, err = [], e.value
    while err is not None:
        chain.append(str(err))
        err = err.__cause__
    text = "\n".join(chain)
    assert key in text or key.rsplit(".", 1)[1] in text, text


def test_yaml_typo_fails_at_composition(tmp_path: Path) -> None:
    """A misspelled key inside a yaml file (here an experiment) fails when it is merged."""
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nsampling: {temprature: 0.5}\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises(Exception, match="temprature"):  # noqa: PT011
            compose("pipeline", overrides=["experiment=typo"])


def test_appended_keys_and_bad_values_fail_validation(tmp_path: Path) -> None:
    """``+key=value`` may append to any node; validate names such keys, and values no type
    can rule out (unknown objective, a step-owned trainer argument, broken module wiring)."""
    from mathft.runs.validate import ConfigError, validate

    cases = [(["+sampling.nucleus=0.9"], "sampling.nucleus: not a key of the schema"),
             (["+generator.max_step=3"], "generator.max_step: not a key of the schema"),
             (["objective.name=hinge"], "objective.name must be one of"),
             (["+trainer.max_steps=5"], "trainer.max_steps: set by every training step"),
             (["+trainer.max_step=5"], "trainer.max_step: not an argument of"),
             (["evaluator.module.lr=0.1"], "evaluator.module.lr: must refer to the setting"),
             (["stages.module._target_=mathft.models.evaluator.EvaluatorModule"],
              "stages.module._target_: must be mathft.models.ssft.SSFTModule"),
             (["data.weights={gsm8k: 1.0}"], "data.weights: sources ['gsm8k'] are not in"),
             (["sampling.engine=prefx"], "sampling.engine: expected one of"),
             (["sampling.workers=many"], "sampling.workers: sampling.workers must be"),
             (["finetune=lora", "finetune.merge_on_export=false"],
              "finetune.merge_on_export: false exports a peft adapter directory")]
    for overrides, expected in cases:
        cfg = _compose(overrides, tmp_path)
        with pytest.raises(ConfigError) as e:
            validate(cfg)
        assert expected in str(e.value), (overrides, str(e.value))


def _check_trainer(cfg: DictConfig, option: str) -> None:
    import pytorch_lightning as pl

    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if option in GPU_TRAINERS:
        assert cfg.trainer.accelerator == "gpu"
        assert cfg.trainer.precision == "bf16-mixed"
        strategy = cfg.trainer.get("strategy")
        from mathft.runs.distributed import check_trainer

        if option == "ddp":  # spawn start: only fit runs in the workers (no Hydra re-launch)
            assert strategy.start_method == "spawn" and cfg.trainer.devices == -1
            check_trainer(cfg.trainer)
        elif option == "fsdp":
            assert strategy._target_ == "pytorch_lightning.strategies.FSDPStrategy"
            assert cfg.trainer.devices == -1
            with pytest.raises(ValueError, match="not supported"):
                check_trainer(cfg.trainer)
        else:
            assert strategy is None and cfg.trainer.devices == 1
        return
    trainer = instantiate(cfg.trainer, logger=False, max_steps=1, default_root_dir=str(cfg.hydra.runtime.output_dir))
    assert isinstance(trainer, pl.Trainer)
    assert trainer.max_steps == 1


def _check_logger(cfg: DictConfig, tmp_path: Path) -> None:
    logger = instantiate(cfg.logger, prefix="generator")
    assert Path(logger.save_dir) == tmp_path / "job"
    if "Wandb" in cfg.logger._target_:
        assert cfg.logger.offline is True
        assert cfg.logger.group == "adhoc"


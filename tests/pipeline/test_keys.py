"""Step keys: each override changes exactly the steps whose output it can change.

The table composes the real configs (conf/) with one override and compares every step's key
with the base composition's. A second test walks every leaf of every shipped config and fails
on one that ``mathft.runs.keys`` does not classify (a new setting forces the decision).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from pipeline_cli import AUTO_PRECISION, OTHER_PRECISION

from mathft.hardware import fast_bf16
from mathft.runs import keys
from mathft.runs.cache import config_hash
from mathft.runs.cell import greedy_sampling
from mathft.runs.lifecycle import CONF_DIR
from mathft.runs.steps import decoding
from mathft.sampling.engine import inference_dtype

STEPS = ("generator", "samples", "greedy", "evaluator", "scores", "metrics")


@pytest.fixture(scope="module", autouse=True)
def _hydra() -> Any:
    """One Hydra initialisation for the module (composing is then ~10x faster)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        yield


def _compose(overrides: list[str], config: str = "pipeline") -> Any:
    return compose(config, overrides=["run.cache_dir=/nonexistent", *overrides])


@functools.cache
def _hashes_of(overrides: tuple[str, ...]) -> dict[str, str]:
    return _hashes(_compose(list(overrides)))


def _hashes(cfg: Any) -> dict[str, str]:
    """Each step's key hash, with fixed ids for the steps it consumes."""
    problems = {"n": 1, "sha": "p"}
    return {
        "generator": config_hash(keys.generator_key(cfg, cfg.model, problems)),
        "samples": config_hash(keys.samples_key(cfg, cfg.model, decoding(cfg, cfg.sampling),
                                                "gen", problems)),
        "greedy": config_hash(keys.samples_key(cfg, cfg.model,
                                               decoding(cfg, greedy_sampling(cfg)), "gen",
                                               problems)),
        "evaluator": config_hash(keys.evaluator_key(cfg, cfg.model, "tr", "va", None)),
        "scores": config_hash(keys.scores_key(cfg, "ev", "ca", inference_dtype(
            cfg.evaluator.score_precision, cfg.model.dtype))),
        "metrics": config_hash(keys.metrics_key(cfg, test="t")),
    }


G, S, GR, E, SC, M = STEPS
# (base overrides, override, steps whose key must change; every other step must stay)
TABLE: list[tuple[list[str], str, set[str]]] = [
    ([], f"trainer.precision={OTHER_PRECISION}", {G, E}),
    ([], "trainer.accumulate_grad_batches=2", {G, E}),
    ([], "trainer.gradient_clip_val=0.5", {G, E}),
    ([], "trainer=ddp", {G, E}),
    ([], "sampling.batch_size=3", set()),
    ([], "evaluator.score_batch_size=2", set()),
    ([], f"evaluator.score_precision={'float32' if fast_bf16() else 'bfloat16'}", {SC}),
    ([], "sampling.workers=3", set()),
    ([], "evaluator.score_workers=1", set()),
    ([], "sampling.n=8", {S}),
    ([], "sampling.temperature=0.7", {S}),
    ([], "sampling.max_new_tokens=100", {S, GR}),
    ([], "sampling.engine=vllm", {S, GR}),
    ([], "prompt=fewshot_math", {S, GR}),
    ([], "stages=evaluator", set()),  # mathft.train stages=evaluator reuses the generator
    ([], "stages=sequential", {G}),
    (["stages=sequential"], "sampling.batch_size=3", set()),
    (["stages=sequential"], "evaluator.score_batch_size=2", set()),
    (["stages=sequential"], "sampling.n=8", {G, S}),
    (["stages=sequential"], "sampling.engine=hf", {G, S, GR}),  # the in-run engine too
    (["stages=sequential"], "sampling.engine=vllm", {S, GR}),  # in-run: prefix, as auto
    (["stages=sequential"], "sampling.workers=1", set()),
    (["stages=sequential"], "objective=margin", {G, E}),
    (["stages=sequential"], "generator.sequential_steps=[1,2,3]", {G}),
    ([], "objective=margin", {E}),
    ([], "generator.max_steps=5", {G}),
    ([], "generator.lr=1e-4", {G}),
    ([], "generator.val_examples=4", {G}),
    ([], "generator.select=best_val", {G}),
    ([], "data=math", {G}),
    ([], "data.limit_train=8", {G}),
    ([], "finetune=lora", {G, E}),
    ([], "evaluator.max_steps=5", {E}),
    ([], "evaluator.max_length=256", {E, SC}),
    ([], "model.dtype=bfloat16", {G, S, GR, E}),
    ([], "model=gemma3_270m", {G, S, GR, E}),
    ([], "model.cache_dir=/elsewhere", set()),
    ([], "model.gradient_checkpointing=true", set()),
    ([], "model.name=renamed", set()),
    ([], "seed=1", {G, E}),
    ([], "rerank.k=4", {M}),
    ([], "logger=csv", set()),
    ([], "run.ckpt_every_n_steps=3", set()),
    ([], "run.keep_checkpoints=true", set()),
    ([], "trainer.log_every_n_steps=5", set()),
    ([], "sampling=n16", {S}),  # the user's sampling option wins over the scale's N
    (["stages=sequential"], "stages.seed=1", {G}),
    ([], "experiment_name=other", set()),
    ([], "eval.test.limit=3", set()),  # reaches the samples key through the problems' content
]


@pytest.mark.parametrize(("base", "override", "changed"), TABLE,
                         ids=[" ".join([*b, o]) for b, o, _ in TABLE])
def test_override_changes_exactly_these_steps(base: list[str], override: str,
                                              changed: set[str]) -> None:
    before, after = _hashes_of(tuple(base)), _hashes_of((*base, override))
    got = {s for s in STEPS if before[s] != after[s]}
    assert got == changed, f"{override}: changed {sorted(got)}, expected {sorted(changed)}"


def test_diff_names_the_key_and_values() -> None:
    a = keys.generator_key(_compose([]), _compose([]).model)
    cfg = _compose([f"trainer.precision={OTHER_PRECISION}"])
    assert keys.key_diff(a, keys.generator_key(cfg, cfg.model)) == \
        [f"trainer.precision: {AUTO_PRECISION} → {OTHER_PRECISION}"]


def test_cross_model_keys_read_the_evaluator_model() -> None:
    cfg = _compose(["evaluator.same_model=false", "model@evaluator_model=gemma3_270m"])
    own = keys.evaluator_key(cfg, cfg.model, "tr", "va", None)
    cross = keys.evaluator_key(cfg, cfg.evaluator_model, "tr", "va", None)
    assert own["model.name_or_path"] == "embedded:smollm2-135m"
    assert cross["model.name_or_path"] == "embedded:gemma3-270m"


def _all_leaves() -> dict[str, str]:
    """Every leaf of every shipped composition: main configs, each group option, experiments."""
    conf = Path(CONF_DIR)
    runs = [([], c) for c in ("pipeline", "train", "sample", "evaluate")]
    for group in sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        for opt in sorted(conf.glob(f"{group}/*.yaml")):
            runs.append(([f"{group}={opt.stem}"], "evaluate"))
    out: dict[str, str] = {}
    for overrides, config in runs:
        cfg = OmegaConf.to_container(_compose(overrides, config), resolve=False)
        for path in keys.leaves(cfg):
            out.setdefault(path, " ".join([config, *overrides]))
    return out


def _unclassified(paths: dict[str, str]) -> list[str]:
    return sorted(f"{p} (from {src})" for p, src in paths.items() if not keys.classify(p))


def test_every_config_key_is_classified() -> None:
    missing = _unclassified(_all_leaves())
    assert not missing, ("config keys that no step classifies: decide in mathft/runs/keys.py "
                         "whether each changes a step's output:\n  " + "\n  ".join(missing))


def test_a_new_key_is_caught() -> None:
    cfg = OmegaConf.to_container(_compose(["+generator.new_knob=1", "+trainer.foo=2"]),
                                 resolve=False)
    missing = _unclassified({p: "test" for p in keys.leaves(cfg)})
    assert [m.split()[0] for m in missing] == ["generator.new_knob", "trainer.foo"]


def test_no_key_is_both_hashed_and_ignored() -> None:
    """A named key is hashed or ignored, not both (``IGNORED`` carves leaves out of a wider
    ``a.*`` pattern, e.g. the parts of ``stages.*`` that the pipeline replaces)."""
    for spec in keys.STEPS.values():
        for pat in spec.config:
            if not pat.endswith(".*"):
                assert not any(keys.matches(pat, ig) for ig in keys.IGNORED), (spec.name, pat)
    cfg = _compose(["stages=sequential"])
    key = keys.generator_key(cfg, cfg.model, {"n": 0})
    assert "stages.mode" in key and "stages.export.dir" not in key

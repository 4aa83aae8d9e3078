"""Modules train in train mode: from_pretrained returns eval mode and Lightning keeps it."""

from __future__ import annotations

import pytest

from mathft.models.evaluator import EvaluatorModule
from mathft.models.loading import load_model_and_tokenizer
from mathft.models.ssft import SSFTModule


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory) -> str:
    """A tiny model saved and reloaded through from_pretrained (which returns eval mode)."""
    out = tmp_path_factory.mktemp("tiny_pretrained")
    model, tok = load_model_and_tokenizer("tiny")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.mark.parametrize("cls", [SSFTModule, EvaluatorModule])
@pytest.mark.parametrize("finetune", [{"method": "full"}, {"method": "lora", "r": 2, "alpha": 4,
                                                             "dropout": 0.1,
                                                             "target_modules": ["q_proj"]}])
def test_module_starts_in_train_mode(cls, finetune, pretrained_dir) -> None:
    module = cls(pretrained_dir, finetune)
    assert all(m.training for m in module.model.modules()), "some submodules are in eval mode"

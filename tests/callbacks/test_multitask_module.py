"""MultiTaskModule losses per stage, stage specs, stage configs and the callback's state checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from seqft_harness import examples, problems

from mathft.callbacks.sequential import SequentialStages, pass_batches, stream_batches
from mathft.data.collate import SSFTCollator, tokenize_examples
from mathft.data.evaluator_data import EvaluatorCollator, encode_many
from mathft.models.multitask import MultiTaskModule, StageSpec, parse_stages

CONF = Path(__file__).resolve().parents[2] / "conf" / "stages"


@pytest.fixture(scope="module")
def module() -> MultiTaskModule:
    return MultiTaskModule({"name_or_path": "tiny", "seed": 0}, objective="xent")


def _ssft_batch(module: MultiTaskModule) -> dict:
    toks, _ = tokenize_examples(examples(2), module.tokenizer, max_length=96)
    return SSFTCollator(module.tokenizer.pad_token_id)(toks)


def _ev_batch(module: MultiTaskModule, n_point: int, n_pair: int) -> dict:
    texts = [("What is 2+2?", f"It is {k}. \\boxed{{{k}}}") for k in range(n_point + 2 * n_pair)]
    ids, _ = encode_many(module.tokenizer, texts, 96)
    items = [("point", ids[i], i % 2, -1, i) for i in range(n_point)]
    items += [("pair", ids[n_point + 2 * j], ids[n_point + 2 * j + 1]) for j in range(n_pair)]
    return EvaluatorCollator(module.tokenizer.pad_token_id)(items)


def _last_logits(module: MultiTaskModule, batch: dict) -> torch.Tensor:
    """Reference: full forward, logits at each row's last real (right-padded) token."""
    out = module.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    last = batch["attention_mask"].sum(1) - 1
    return out.logits[torch.arange(len(last)), last].float()


def test_generator_stage_uses_the_ssft_loss(module):
    module.set_stage(StageSpec("gen", "generator", steps=1), 0, 1)
    batch = _ssft_batch(module)
    logits = module.model(input_ids=batch["input_ids"],
                          attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    want = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                           ignore_index=-100)
    torch.testing.assert_close(module.training_step(batch, 0), want)
    with pytest.raises(RuntimeError, match="evaluator batch"):
        module.training_step(_ev_batch(module, 2, 0), 0)


def test_evaluator_stage_uses_xent_on_the_label_word(module):
    module.set_stage(StageSpec("ev", "evaluator", steps=1), 1, 1)
    batch = _ev_batch(module, 4, 0)
    logits = _last_logits(module, batch)
    targets = torch.where(batch["labels"] == 1, module.pos_id, module.neg_id)
    want = F.cross_entropy(logits, targets)  # Eq. 9, softmax over the vocabulary
    torch.testing.assert_close(module.training_step(batch, 0), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="generator batch"):
        module.training_step(_ssft_batch(module), 0)


def test_evaluator_stage_margin_and_joint_variant():
    m = MultiTaskModule({"name_or_path": "tiny", "seed": 0}, objective={"name": "margin",
                                                                         "lam": 0.5})
    m.set_stage(StageSpec("ev", "evaluator", steps=1, joint_alpha=0.25), 1, 1)
    batch = _ev_batch(m, 0, 3)
    logits = _last_logits(m, batch)
    log_s = F.logsigmoid(logits[:, m.pos_id] - logits[:, m.neg_id])
    want = torch.clamp(log_s[3:] - log_s[:3] + 0.5, min=0).mean()  # Eq. 8
    torch.testing.assert_close(m.evaluator_terms(batch)["loss"], want, rtol=1e-4, atol=1e-5)
    gen = _ssft_batch(m)
    joint = m.training_step({"evaluator": batch, "generator": gen}, 0)
    torch.testing.assert_close(joint, want + 0.25 * m.generator_loss(gen), rtol=1e-4, atol=1e-5)


def test_optimizer_is_sized_to_the_stage(module):
    module.set_stage(StageSpec("ev", "evaluator", steps=10, lr=3e-4, warmup_steps=2), 1, 10)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert opt.param_groups[0]["lr"] == pytest.approx(3e-4 / 2)  # warmup step 1 of 2
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(3e-4) and lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_stage_spec_validation():
    with pytest.raises(ValueError, match="exactly one of steps / epochs"):
        StageSpec("a", "generator")
    with pytest.raises(ValueError, match="kind"):
        StageSpec("a", "critic", steps=1)
    with pytest.raises(ValueError, match="joint_alpha"):
        StageSpec("a", "generator", steps=1, joint_alpha=0.5)
    with pytest.raises(ValueError, match=r"stages\[1\]: unknown keys \['step'\]"):
        parse_stages([{"kind": "generator", "steps": 1}, {"kind": "evaluator", "step": 2}])
    with pytest.raises(ValueError, match="unique"):
        parse_stages([{"name": "g", "kind": "generator", "steps": 1}] * 2)


def test_stage_configs():
    """conf/stages/: the sequential stages parse; each option names its generator module."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "sequential.yaml"))
    specs = parse_stages(cfg["stages"])
    assert [s.kind for s in specs] == ["generator", "evaluator", "generator"]
    assert all(s.joint_alpha == 0.0 for s in specs)  # the joint variant is off by default
    assert [s.steps for s in specs][2] == 200  # paper: stage 3 converges in ~200 steps
    assert cfg["module"]["_target_"] == "mathft.models.multitask.MultiTaskModule"
    ssft = OmegaConf.load(CONF / "ssft.yaml")
    assert ssft.module._target_ == "mathft.models.ssft.SSFTModule"
    assert OmegaConf.load(CONF / "evaluator.yaml").defaults[0] == "ssft"  # same generator


def test_sequential_config_builds_the_callback(module, tmp_path):
    """The pipeline's stages config (conf/stages/sequential.yaml completed from sampling,
    evaluator and the scale by mathft.runs.sequential_step.stages_config) builds the callback."""
    from types import SimpleNamespace

    from hydra import compose, initialize_config_dir

    from mathft.runs.lifecycle import CONF_DIR
    from mathft.runs.sequential_step import stages_config

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        composed = compose("pipeline", overrides=["stages=sequential", "sampling.n=16"])
    cfg = stages_config(composed, SimpleNamespace(dir=tmp_path))
    cb = SequentialStages.from_config(cfg, tokenizer=module.tokenizer, generator_data=lambda: None,
                                      train_problems=problems(5), objective="margin")
    assert len(cb.candidates.problems) == 5 and cb.candidates.params.n == 16
    assert cb.lengths == [160, 80, 80]  # generator.sequential_steps of conf/scale/cpu.yaml
    assert cb.export_dir == str(tmp_path / "model")
    with pytest.raises(ValueError, match="unknown keys"):
        SequentialStages.from_config({**cfg, "stage": []}, tokenizer=module.tokenizer,
                                     generator_data=lambda: None, train_problems=problems())
    with pytest.raises(ValueError, match="must follow a generator stage"):
        SequentialStages.from_config({**cfg, "stages": cfg["stages"][1:]},
                                     tokenizer=module.tokenizer, generator_data=lambda: None,
                                     train_problems=problems())
    other = dict(cb.state_dict())
    other["stages"] = other["stages"][:2]
    with pytest.raises(ValueError, match="same stage plan"):
        cb.load_state_dict(other)


def test_stream_batches_is_positional():
    """Batch b of a stage's stream is the same whether streamed from 0 or resumed at b."""
    from torch.utils.data import DataLoader

    dl = DataLoader(list(range(7)), batch_size=2, shuffle=True)
    full = [b.tolist() for _, b in zip(range(9), stream_batches(dl, 0, seed=5))]
    assert [b.tolist() for _, b in zip(range(4), stream_batches(dl, 5, seed=5))] == full[5:]
    assert sorted(sum(full[:4], [])) == list(range(7))  # one pass = every item once
    assert full[:4] != full[4:8]  # passes are reshuffled
    assert pass_batches(dl, 1) == pass_batches(dl, 1)


def test_stream_batches_shards_ranks():
    from torch.utils.data import DataLoader

    dl = DataLoader(list(range(9)), batch_size=2, shuffle=True)  # 5 batches -> 4 used by 2 ranks
    r0 = [b.tolist() for _, b in zip(range(2), stream_batches(dl, 0, 3, rank=0, world=2))]
    r1 = [b.tolist() for _, b in zip(range(2), stream_batches(dl, 0, 3, rank=1, world=2))]
    seen = sum(r0 + r1, [])
    assert len(seen) == len(set(seen)) == 8

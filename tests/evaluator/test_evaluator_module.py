"""EvaluatorModule: label tokens, metrics, real Lightning training with every objective,
LoRA and full fine-tuning, save -> reload -> identical scores (docs/method.md#solution-evaluator)."""

from __future__ import annotations

import itertools
import math

import pytest
import pytorch_lightning as pl
import torch
from transformers import AutoModelForCausalLM

from mathft.data.evaluator_data import EvaluatorDataModule
from mathft.data.templates import LABEL_WORDS, format_evaluator_prompt
from mathft.models.evaluator import EvaluatorModule, binary_auc, label_token_ids, rerank_accuracy
from mathft.models.export import export_generator
from mathft.sampling.scoring import score_texts

LORA = {"method": "lora", "r": 8, "alpha": 16, "dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def test_label_first_tokens_differ(tokenizer):
    pos, neg = label_token_ids(tokenizer, LABEL_WORDS)
    assert pos != neg
    assert tokenizer.convert_ids_to_tokens([pos, neg]) == ["Ġcorrect", "Ġincorrect"]
    # in context, the label word right after the template is exactly that first token
    prompt = format_evaluator_prompt("What is 1+1?", "It is 2.")
    p_ids = tokenizer(prompt)["input_ids"]
    for word, tid in zip(LABEL_WORDS, (pos, neg)):
        full = tokenizer(prompt + word)["input_ids"]
        assert full[:len(p_ids)] == p_ids and full[len(p_ids)] == tid
    with pytest.raises(ValueError, match="share their first token"):
        label_token_ids(tokenizer, (" correct", " correct"))


def test_binary_auc_matches_pair_counting():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        s = torch.randint(0, 6, (40,), generator=gen).double()   # many ties
        y = torch.randint(0, 2, (40,), generator=gen)
        pos, neg = s[y == 1].tolist(), s[y == 0].tolist()
        want = sum((a > b) + 0.5 * (a == b) for a, b in itertools.product(pos, neg))
        assert binary_auc(s, y) == pytest.approx(want / (len(pos) * len(neg)))
    assert binary_auc([0.1, 0.9], [0, 1]) == 1.0 and binary_auc([0.9, 0.1], [0, 1]) == 0.0
    assert math.isnan(binary_auc([0.3, 0.4], [1, 1]))


def test_rerank_accuracy():
    # problem 0: top score is correct; problem 1: top incorrect (tie -> earlier index 0);
    # problem 2: nothing correct
    pidx = [0, 0, 1, 1, 1, 2]
    sidx = [0, 1, 0, 1, 2, 0]
    scores = [0.2, 0.9, 0.7, 0.7, 0.1, 0.5]
    labels = [0, 1, 0, 1, 1, 0]
    assert rerank_accuracy(pidx, sidx, scores, labels) == pytest.approx((1 / 3, 2 / 3))


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def _data(tokenizer, make_problems, make_candidates, objective, batch_size=8):
    probs = make_problems(14)
    cands = make_candidates(probs, n=6, n_correct=lambda i: 1 + i % 4)
    ids = sorted(probs)
    return probs, cands, EvaluatorDataModule(
        tokenizer, cands, probs, ids[:10], ids[10:], objective=objective, n_per_problem=4,
        batch_size=batch_size, max_length=96, seed=0)


def _fit(module, dm, tmp_path, max_steps, **kw):
    rec = LossRecorder()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=str(tmp_path), callbacks=[rec], **kw)
    trainer.fit(module, datamodule=dm)
    return trainer, rec.losses


def _val_scores(module, probs, cands, ids):
    items = [(probs[p].problem, c.text) for p in ids for c in cands[p]]
    return torch.tensor(score_texts(module.model, module.tokenizer, items, batch_size=16,
                                    max_length=96))


OBJECTIVES = [{"name": "xent"}, {"name": "xent", "normalize": "pair"},
              {"name": "margin", "lam": 1.0}, {"name": "bt"}, {"name": "xent+margin"}]


def _held_out_auc(module, probs, cands) -> float:
    val_ids = sorted(probs)[10:]
    y = torch.tensor([int(c.correct) for p in val_ids for c in cands[p]])
    return binary_auc(_val_scores(module, probs, cands, val_ids), y)


@torch.no_grad()
def _train_set_loss(module, dm) -> float:
    """The objective over the whole training set (every batch), in eval mode."""
    module.eval()
    total = []
    for b in dm.train_dataloader():
        logits = module(b["input_ids"], b["attention_mask"])
        n_p, n_q = b["n_point"], b["n_pair"]
        total.append(float(module.objective(
            module.pos_id, module.neg_id, point_logits=logits[:n_p], point_labels=b["labels"],
            pair_pos_logits=logits[n_p:n_p + n_q], pair_neg_logits=logits[n_p + n_q:])["loss"]))
    module.train()
    return sum(total) / len(total)


@pytest.mark.parametrize("objective", OBJECTIVES, ids=lambda o: "-".join(map(str, o.values())))
def test_each_objective_trains(objective, tokenizer, tiny_model, make_problems, make_candidates,
                               tmp_path):
    """A real Trainer, a few steps: the loss is finite and the training-set loss falls."""
    pl.seed_everything(0)
    _, _, dm = _data(tokenizer, make_problems, make_candidates, objective)
    module = EvaluatorModule(tiny_model, objective=objective, lr=5e-3, warmup_steps=1,
                             min_lr_ratio=1.0, tokenizer=tokenizer)
    dm.setup("fit")
    before = _train_set_loss(module, dm)
    trainer, losses = _fit(module, dm, tmp_path, max_steps=10, check_val_every_n_epoch=100)
    after = _train_set_loss(module, dm)
    assert len(losses) == 10 and all(math.isfinite(x) for x in losses)
    assert after < 0.9 * before, (before, after, losses)
    counts = trainer.callback_metrics
    assert float(counts["train/n_point"] + counts["train/n_pair"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("objective", OBJECTIVES, ids=lambda o: "-".join(map(str, o.values())))
def test_each_objective_learns_separable_set(objective, tokenizer, tiny_model, make_problems,
                                             make_candidates, tmp_path):
    """40 steps: held-out problems' correct candidates are ranked above incorrect ones."""
    pl.seed_everything(0)
    probs, cands, dm = _data(tokenizer, make_problems, make_candidates, objective)
    lr = 3e-3 if objective == {"name": "xent"} else 1e-2  # vocab xent must first move the mass
    module = EvaluatorModule(tiny_model, objective=objective, lr=lr, warmup_steps=2,
                             tokenizer=tokenizer)
    _, losses = _fit(module, dm, tmp_path, max_steps=40, check_val_every_n_epoch=100)
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]), losses
    assert _held_out_auc(module, probs, cands) > 0.9


def test_learns_validation_metrics_and_lightning_checkpoint(
        tokenizer, make_problems, make_candidates, tmp_path):
    """Margin objective, model built from its config ("tiny"): validation metrics computed over
    the held-out problems' candidates; checkpoint -> load_from_checkpoint -> same scores."""
    pl.seed_everything(0)
    probs, cands, dm = _data(tokenizer, make_problems, make_candidates, {"name": "margin"})
    module = EvaluatorModule("tiny", objective="margin", lr=1e-2, warmup_steps=2)
    trainer, _ = _fit(module, dm, tmp_path, max_steps=15, check_val_every_n_epoch=3)
    m = trainer.callback_metrics
    assert {"val/acc", "val/auc", "val/rr_all", "val/pass_n", "val/xent"} <= set(m)
    assert float(m["val/n_candidates"]) == 4 * 6 and float(m["val/pass_n"]) == 1.0
    assert float(m["val/auc"]) > 0.9 and float(m["val/rr_all"]) == 1.0
    assert float(m["val/auc"]) == pytest.approx(_held_out_auc(module, probs, cands), abs=1e-6)
    ckpt = tmp_path / "eval.ckpt"
    trainer.save_checkpoint(ckpt)
    again = EvaluatorModule.load_from_checkpoint(ckpt)
    assert again.objective == module.objective and again.pos_id == module.pos_id
    ids = sorted(probs)
    assert torch.equal(_val_scores(again, probs, cands, ids), _val_scores(module, probs, cands, ids))


def test_lora_train_save_reload(tokenizer, tiny_model, make_problems, make_candidates, tmp_path):
    """LoRA on a passed nn.Module: only adapters train; checkpoint and both exports reload."""
    from peft import PeftModel

    from mathft.models.tiny import build_tiny_model

    pl.seed_everything(0)
    probs, cands, dm = _data(tokenizer, make_problems, make_candidates, {"name": "margin"})
    base_state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    module = EvaluatorModule(tiny_model, LORA, objective="margin", lr=1e-2, tokenizer=tokenizer)
    assert isinstance(module.model, PeftModel)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    ids = sorted(probs)
    before = _val_scores(module, probs, cands, ids)
    trainer, losses = _fit(module, dm, tmp_path, max_steps=10, check_val_every_n_epoch=100)
    assert all(math.isfinite(x) for x in losses) and sum(losses[-5:]) < sum(losses[:5])
    after = _val_scores(module, probs, cands, ids)
    assert not torch.allclose(before, after)
    merged_base = module.model.get_base_model().state_dict()
    assert all(torch.equal(base_state[k], merged_base[k]) for k in base_state if k in merged_base)
    # Lightning checkpoint -> a fresh base model gets the adapters re-applied and loaded
    ckpt = tmp_path / "lora.ckpt"
    trainer.save_checkpoint(ckpt)
    fresh = build_tiny_model(tokenizer, seed=0)
    again = EvaluatorModule.load_from_checkpoint(ckpt, model=fresh, tokenizer=tokenizer)
    assert torch.equal(_val_scores(again, probs, cands, ids), after)
    # export merged (plain from_pretrained) and as an adapter (PeftModel.from_pretrained)
    out = export_generator(module, tokenizer, tmp_path / "merged")
    plain = AutoModelForCausalLM.from_pretrained(out)
    assert torch.allclose(_scores(plain, tokenizer, probs, cands, ids), after, atol=1e-5)
    out = export_generator(module, tokenizer, tmp_path / "adapter", merge_lora=False)
    peft = PeftModel.from_pretrained(build_tiny_model(tokenizer, seed=0), out)
    assert torch.allclose(_scores(peft, tokenizer, probs, cands, ids), after, atol=1e-6)


def _scores(model, tokenizer, probs, cands, ids):
    items = [(probs[p].problem, c.text) for p in ids for c in cands[p]]
    return torch.tensor(score_texts(model, tokenizer, items, batch_size=16, max_length=96))


def test_full_finetune_export_reload(tokenizer, tiny_model, make_problems, make_candidates,
                                     tmp_path):
    pl.seed_everything(0)
    probs, cands, dm = _data(tokenizer, make_problems, make_candidates, {"name": "bt"})
    module = EvaluatorModule(tiny_model, objective="bt", lr=3e-3, tokenizer=tokenizer)
    assert all(p.requires_grad for p in module.model.parameters())
    _fit(module, dm, tmp_path, max_steps=5, check_val_every_n_epoch=100)
    ids = sorted(probs)
    after = _val_scores(module, probs, cands, ids)
    out = export_generator(module, tokenizer, tmp_path / "full")
    plain = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(_scores(plain, tokenizer, probs, cands, ids), after)


def test_extra_loss_term_is_added(tokenizer, tiny_model, make_problems, make_candidates, tmp_path):
    """The joint-variant hook: an extra term enters the optimised loss and is logged."""
    probs, cands, dm = _data(tokenizer, make_problems, make_candidates, {"name": "xent"})
    module = EvaluatorModule(tiny_model, objective="xent", tokenizer=tokenizer)
    module.add_loss_term("const", lambda mod, batch, i: torch.tensor(5.0), weight=2.0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    plain = module.objective(module.pos_id, module.neg_id,
                             point_logits=module(batch["input_ids"], batch["attention_mask"]),
                             point_labels=batch["labels"])["loss"]
    trainer, losses = _fit(module, dm, tmp_path, max_steps=1, check_val_every_n_epoch=100)
    assert "train/const" in trainer.callback_metrics
    assert losses[0] == pytest.approx(float(plain) + 10.0, rel=1e-4)


def test_validation_gather_across_ranks(tokenizer, tiny_model):
    """With 2 ranks, rows of both are merged and DistributedSampler's padding duplicates dropped."""
    from types import SimpleNamespace

    module = EvaluatorModule(tiny_model, tokenizer=tokenizer)
    mine = torch.tensor([[0, 0, 0.5, 1, 0.1], [0, 1, -0.5, 0, 0.2]], dtype=torch.float64)
    other = torch.tensor([[1, 0, 1.5, 1, 0.3], [0, 0, 0.5, 1, 0.1]], dtype=torch.float64)
    other = other[:1]   # rank 1 holds one real row (+ one duplicate of rank 0's, below)
    dup = mine[:1]
    ranks = [mine, torch.cat([other, dup])]

    def fake_all_gather(t):
        if t.dtype != torch.float64:   # the sizes
            return torch.tensor([[len(r)] for r in ranks])
        width = max(len(r) for r in ranks)
        return torch.stack([torch.cat([r, torch.zeros(width - len(r), 5, dtype=r.dtype)])
                            for r in ranks])

    module._val = [mine]
    module.all_gather = fake_all_gather
    module._trainer = SimpleNamespace(world_size=2)
    rows = module._gathered()
    assert sorted(map(tuple, rows.tolist())) == sorted(
        map(tuple, torch.cat([mine, other]).tolist()))

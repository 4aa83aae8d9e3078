"""SequentialStages + MultiTaskModule: stage switching, per-stage losses and data, in-run
sampling, resume from a checkpoint of any stage, export (docs/method.md#sequential-multi-task-fine-tuning)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from seqft_harness import N_PROBLEMS, N_SAMPLES, StopAt, StopRun, problems, read_batches, run

from mathft.sampling.store import CandidateStore

STEPS = (3, 3, 2)
STAGE_OF_STEP = [0] * STEPS[0] + [1] * STEPS[1] + [2] * STEPS[2]


def _metrics(root: Path) -> list[dict[str, str]]:
    with open(next(root.rglob("metrics.csv"))) as f:
        return list(csv.DictReader(f))


def _store_keys(root: Path) -> list[tuple[str, int]]:
    return [(c.problem_id, c.sample_idx) for c in CandidateStore(
        root / "candidates" / "stage1.jsonl").load()]


def test_stages_switch_at_their_steps(reference_run):
    root, trainer, module, stages = reference_run
    assert trainer.global_step == sum(STEPS)
    assert stages.starts == [0, 3, 6] and stages.lengths == list(STEPS)
    rows = read_batches(root)
    assert [r["step"] for r in rows] == list(range(sum(STEPS)))
    assert [r["stage"] for r in rows] == STAGE_OF_STEP
    kinds = ["generator", "evaluator", "generator"]
    assert [r["kind"] for r in rows] == [kinds[s] for s in STAGE_OF_STEP]
    assert [r["batch"] for r in rows] == [kinds[s] for s in STAGE_OF_STEP]  # data follow the stage
    # a fresh AdamW (new object, empty state, warmup restarted) at each boundary, kept within
    opt_of_stage = {s: {r["opt"] for r in rows if r["stage"] == s} for s in range(3)}
    assert all(len(v) == 1 for v in opt_of_stage.values())
    assert len(set.union(*opt_of_stage.values())) == 3
    for start in stages.starts:
        first = rows[start]
        assert first["opt_steps"] == 0 and first["lr"] == pytest.approx(1e-3)


def test_each_stage_logs_its_own_loss(reference_run):
    root = reference_run[0]
    names = {0: "generator1", 1: "evaluator", 2: "generator2"}
    for row in _metrics(root):
        if not row.get("train/loss"):
            continue
        stage = int(float(row["stage"]))
        assert stage == STAGE_OF_STEP[int(row["step"])]
        for s, name in names.items():
            assert bool(row[f"train/{name}/loss"]) == (s == stage), row
        assert bool(row["train/evaluator/xent"]) == (stage == 1)
        assert float(row["train/loss"]) == pytest.approx(float(row[f"train/{names[stage]}/loss"]))


def test_stage2_trains_on_candidates_sampled_from_the_stage1_model(reference_run):
    root, trainer, module, stages = reference_run
    keys = _store_keys(root)
    assert sorted(keys) == sorted((p.uid, j) for p in problems() for j in range(N_SAMPLES))
    cands = CandidateStore(root / "candidates" / "stage1.jsonl").load()
    assert {c.model_id for c in cands} == {"sequential/stage1"}
    # every evaluator row is the evaluator template around a stored candidate
    tok = module.tokenizer
    texts = [c.text for c in cands]
    ev_rows = [r for r in read_batches(root) if r["batch"] == "evaluator"]
    assert len(ev_rows) == STEPS[1]
    for r in ev_rows:
        for ids in r["ids"]:
            text = tok.decode(ids, skip_special_tokens=True)
            assert text.startswith("Here is a math problem:")
            assert text.rstrip().endswith("The above candidate solution is")
            assert any(t.strip() and t.strip() in text for t in texts), text


def test_candidates_are_samples_of_the_model_at_the_end_of_stage1(tmp_path):
    """Re-sample with the weights the model had when stage 1 ended: same texts as the store."""
    import pytorch_lightning as pl

    from mathft.hardware import fast_bf16
    from mathft.sampling.engine import SamplingParams
    from mathft.sampling.factory import make_engine
    from mathft.sampling.runner import sample_to_store

    snap: dict[str, torch.Tensor] = {}
    s1 = 2

    class Snapshot(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.global_step == s1 and not snap:
                snap.update({k: v.clone() for k, v in pl_module.model.state_dict().items()})

    # Snapshot is listed before SequentialStages: it sees the model before the sampling
    trainer, module, stages = run(tmp_path, steps=(s1, 1, 1), pre_callbacks=[Snapshot()])
    assert snap, "stage-1 weights were not captured"
    auto_dtype = "bfloat16" if fast_bf16() else "float32"  # the CPU decides (auto)
    assert stages.engine_id(module) == {"engine": "prefix", "dtype": auto_dtype}  # in-run
    stored = {(c.problem_id, c.sample_idx): c.text
              for c in CandidateStore(tmp_path / "candidates" / "stage1.jsonl").load()}
    final = {k: v.clone() for k, v in module.model.state_dict().items()}
    assert any(not torch.equal(final[k], snap[k]) for k in snap)  # later stages did train
    params = SamplingParams(n=N_SAMPLES, max_new_tokens=12, batch_size=8, seed=0)

    def resample(weights: dict[str, torch.Tensor], name: str) -> dict[tuple[str, int], str]:
        module.model.load_state_dict(weights)
        store = CandidateStore(tmp_path / name, config_hash="check")
        engine = make_engine(stages.engine_id(module)["engine"], module.model.eval(),
                             module.tokenizer, precision=stages.candidates.precision)
        sample_to_store(engine, problems(), store, params, stages.candidates.prompt_fn,
                        config_hash="check", progress=False)
        return {(c.problem_id, c.sample_idx): c.text for c in store.load()}

    assert resample(snap, "stage1.jsonl") == stored
    assert resample(final, "final.jsonl") != stored  # the check can tell models apart


def test_candidates_in_worker_processes_equal_one_process(tmp_path):
    """``workers=2``: the stage model is exported, two processes sample it into the store,
    the export is removed; in fp32 the store equals the one-process store row for row."""
    stores = {}
    for w in (1, 2):
        root = tmp_path / f"w{w}"
        run(root, steps=(2, 1, 1), candidates={"workers": w, "precision": "float32"})
        stores[w] = [(c.problem_id, c.sample_idx, c.text, c.answer, c.correct)
                     for c in CandidateStore(root / "candidates" / "stage1.jsonl").load()]
        assert sorted(p.name for p in (root / "candidates").iterdir()) == \
            ["stage1.jsonl", "stage1.jsonl.meta.json"]  # no exported model, no parts left
    assert len(stores[1]) == N_PROBLEMS * N_SAMPLES
    assert stores[2] == stores[1]


@pytest.mark.parametrize("stop_at", [1, 4, 7], ids=["stage1", "stage2", "stage3"])
def test_resume_mid_stage_is_exact(tmp_path, reference_run, stop_at):
    """Stop at a step of any stage, resume from last.ckpt: same stages, same batches, same
    optimizer trajectory, hence bit-identical final weights; stage-1 samples stored once."""
    ref_root, _, ref_module, _ = reference_run
    with pytest.raises(StopRun):
        run(tmp_path, callbacks=[StopAt(stop_at)])
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == stop_at
    state = next(v for k, v in ckpt["callbacks"].items() if "SequentialStages" in k)
    assert state["current"] == STAGE_OF_STEP[stop_at - 1]
    sampled_before = (tmp_path / "candidates" / "stage1.jsonl").exists()
    n_before = len(_store_keys(tmp_path)) if sampled_before else 0
    trainer, module, stages = run(tmp_path, resume=True)
    assert trainer.global_step == sum(STEPS)
    assert stages.starts == [0, 3, 6] and stages.exported
    keys = _store_keys(tmp_path)
    assert len(keys) == len(set(keys)) == N_PROBLEMS * N_SAMPLES
    if sampled_before:
        assert n_before == len(keys)
    rows = read_batches(tmp_path)
    resumed = [r for r in rows if r["step"] >= stop_at]
    ref_rows = read_batches(ref_root)
    # the resumed steps see exactly the reference's batches, stages and learning rates
    last = {r["step"]: r for r in resumed}
    for r in ref_rows[stop_at:]:
        got = last[r["step"]]
        assert (got["stage"], got["batch"], got["ids"]) == (r["stage"], r["batch"], r["ids"])
        assert got["lr"] == pytest.approx(r["lr"]) and got["opt_steps"] == r["opt_steps"]
    for a, b in zip(ref_module.model.parameters(), module.model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_resume_at_stage_boundaries(tmp_path, reference_run):
    """Checkpoints taken exactly at a stage's last step resume into the next stage."""
    ref_module = reference_run[2]
    for stop_at in (3, 6):
        root = tmp_path / str(stop_at)
        with pytest.raises(StopRun):
            run(root, callbacks=[StopAt(stop_at)])
        trainer, module, stages = run(root, resume=True)
        assert trainer.global_step == sum(STEPS)
        for a, b in zip(ref_module.model.parameters(), module.model.parameters()):
            assert torch.equal(a, b)


def test_export_is_a_plain_generator_with_identical_logits(reference_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, trainer, module, stages = reference_run
    out = root / "generator"
    assert Path(stages.exported) == out
    meta = json.loads((out / "mathft_export.json").read_text())
    assert [s["name"] for s in meta["stages"]] == ["generator1", "evaluator", "generator2"]
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(["Problem:\nWhat is $1 + 1$?\n\nSolution:"], return_tensors="pt")
    with torch.no_grad():
        want = module.model.eval()(**enc).logits
        got = model(**enc).logits
    assert torch.equal(got, want)


def test_epoch_lengths_accumulation_and_joint_variant(tmp_path):
    """Stage 3 in epochs (resolved when it starts), gradient accumulation, evaluator + a*MLE,
    generator validation at the end of every stage."""
    trainer, module, stages = run(tmp_path, steps=(2, 2, 0), accumulate=2, joint_alpha=0.5,
                                  stage3_epochs=1.0, val=True)
    per_pass = 3  # 6 SSFT examples, batch size 2
    assert stages.lengths == [2, 2, math.ceil(per_pass / 2)]
    assert trainer.global_step == sum(stages.lengths)
    rows = read_batches(tmp_path)
    assert [r["stage"] for r in rows] == [0] * 4 + [1] * 4 + [2] * 4  # 2 batches per step
    val_steps = [int(m["step"]) for m in _metrics(tmp_path) if m.get("val/loss")]
    assert val_steps == [1, 3, 5]  # the last step of each stage (0-based)
    metrics = [m for m in _metrics(tmp_path) if m.get("train/evaluator/mle")]
    assert len(metrics) == 2
    for m in metrics:
        total = float(m["train/evaluator/xent"]) + 0.5 * float(m["train/evaluator/mle"])
        assert float(m["train/evaluator/loss"]) == pytest.approx(total, rel=1e-5)


def test_lora_run_exports_merged_generator(tmp_path):
    """LoRA through all stages; the export merges the adapters into plain weights."""
    from transformers import AutoModelForCausalLM

    lora = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0,
            "target_modules": ["q_proj", "v_proj"]}
    trainer, module, stages = run(tmp_path, steps=(1, 1, 1), finetune=lora)
    assert type(module.model).__name__.startswith("PeftModel")
    assert [r["stage"] for r in read_batches(tmp_path)] == [0, 1, 2]
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "generator").eval()
    assert not any("lora" in n for n, _ in exported.named_parameters())
    enc = module.tokenizer(["Problem:\nWhat is $2 + 2$?\n\nSolution:"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(exported(**enc).logits, module.model.eval()(**enc).logits,
                                   rtol=1e-5, atol=1e-5)

"""SSFT training throughput: mathft (unpacked, packed) vs TRL's SFTTrainer, same run.

Same model, examples (MATH train, prompt/completion, completion-only loss), batch size, max
length, precision and thread count for every contestant. TRL's ``SFTConfig`` defaults differ
from plain ``TrainingArguments`` (``bf16=True``, ``gradient_checkpointing=True``): both are set
explicitly here to match ``--precision`` and mathft's default (no checkpointing), otherwise TRL
would be timed in bf16 autocast against fp32. Each run does ``--warmup`` untimed optimizer
steps, then ``--steps`` timed ones; the list of runs is cycled ``--repeats`` times (the first
run in a process is slower, whichever it is) and each contestant's best cycle is reported.
Reported per run: real (non-pad) tokens/s, target tokens/s for mathft, and useful
FLOP/s = 6 * N * real_tokens / time (N = parameters that do matmuls per token, i.e. without the
input embedding, with the LM head) against a matmul peak measured in the compute dtype. TRL is optional (``pip install '.[bench]'``); ``--skip-trl``
runs mathft alone.

    .venv/bin/python benchmarks/ssft.py --n-examples 24 --max-length 192 --batch-size 4 --steps 5
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import sys
import time
from importlib.resources import files
from typing import Any

import pytorch_lightning as pl
import torch

from mathft.data.collate import tokenize_examples
from mathft.data.datamodule import SSFTDataModule
from mathft.data.templates import format_prompt
from mathft.models.loading import load_tokenizer
from mathft.models.ssft import SSFTModule
from mathft.records import SolutionExample


def load_examples(n: int, max_length: int, tokenizer: Any, seed: int) -> list[SolutionExample]:
    """``n`` random MATH-train examples that fit ``max_length`` (so nobody truncates)."""
    raw = (files("mathft.data") / "files" / "math_train.jsonl.xz").read_bytes()
    rows = [json.loads(line) for line in lzma.decompress(raw).decode().splitlines() if line]
    random.Random(seed).shuffle(rows)
    out: list[SolutionExample] = []
    for i, r in enumerate(rows):
        ex = SolutionExample(f"math/{i}", r["problem"], r["solution"], "", "math", "math")
        toks, stats = tokenize_examples([ex], tokenizer, max_length=max_length)
        if toks and not stats.truncated:
            out.append(ex)
        if len(out) == n:
            return out
    raise RuntimeError(f"only {len(out)} examples fit max_length={max_length}")


def matmul_peak(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def matmul_params(model: torch.nn.Module) -> int:
    emb = model.get_input_embeddings().weight
    n = sum(p.numel() for p in model.parameters()) - emb.numel()
    return n + model.get_output_embeddings().weight.numel() if model.config.tie_word_embeddings \
        else n


class _Timer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.t0, self.tokens, self.target, self.steps = warmup, 0.0, 0, 0, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.steps == 0 and not self.t0:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.t0:
            self.tokens += int(batch["num_tokens"])
            self.target += int((batch["labels"][:, 1:] != -100).sum())
            self.steps += 1
            self.elapsed = time.perf_counter() - self.t0


def run_mathft(args, examples, packing: bool) -> dict[str, Any]:
    pl.seed_everything(args.seed, verbose=False)
    module = SSFTModule({"name_or_path": args.model, "dtype": args.dtype}, lr=1e-5)
    dm = SSFTDataModule(module.tokenizer, examples, batch_size=args.batch_size,
                        max_length=args.max_length, packing=packing, seed=args.seed)
    timer = _Timer(args.warmup)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=args.warmup + args.steps,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer],
                         precision=args.precision)
    trainer.fit(module, datamodule=dm)
    return {"name": f"mathft{'+packing' if packing else ''}", "tokens": timer.tokens,
            "target_tokens": timer.target, "seconds": timer.elapsed, "steps": timer.steps,
            "n_matmul_params": matmul_params(module.model)}


def run_trl(args, examples, packing: bool) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from mathft.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(args.model, dtype=args.dtype, attn_implementation="sdpa")
    ds = Dataset.from_list([{"prompt": format_prompt(e.problem), "completion": " " + e.solution}
                            for e in examples])
    cfg = SFTConfig(
        output_dir=str(args.tmp), max_steps=args.warmup + args.steps,
        per_device_train_batch_size=args.batch_size, learning_rate=1e-5, max_length=args.max_length,
        packing=packing, completion_only_loss=True, report_to=[], logging_steps=10**6,
        save_strategy="no", use_cpu=True, dataloader_num_workers=0, seed=args.seed,
        bf16=args.precision == "bf16-mixed", fp16=False, gradient_checkpointing=False,
        include_num_input_tokens_seen="non_padding", disable_tqdm=True,
    )
    state: dict[str, Any] = {}

    class Timer(TrainerCallback):
        def on_step_begin(self, a, s, c, **kw):
            if s.global_step == args.warmup and "t0" not in state:
                state["t0"], state["tok0"] = time.perf_counter(), s.num_input_tokens_seen

        def on_step_end(self, a, s, c, **kw):
            if "t0" in state:
                state["t1"], state["tok1"] = time.perf_counter(), s.num_input_tokens_seen

    trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                         callbacks=[Timer()])
    trainer.train()
    return {"name": f"trl{'+packing' if packing else ''}", "tokens": state["tok1"] - state["tok0"],
            "target_tokens": None, "seconds": state["t1"] - state["t0"], "steps": args.steps,
            "n_matmul_params": matmul_params(model)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="embedded:smollm2-135m")
    p.add_argument("--dtype", default="float32", help="weights (master copy) dtype")
    p.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"],
                   help="Lightning precision; TRL gets bf16=True for bf16-mixed")
    p.add_argument("--repeats", type=int, default=2, help="cycles over --runs; best one reported")
    p.add_argument("--n-examples", type=int, default=16)
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-trl", action="store_true")
    p.add_argument("--runs", default="mathft,mathft+packing,trl,trl+packing")
    p.add_argument("--tmp", default="/tmp/mathft-bench-trl")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tok = load_tokenizer(args.model)
    examples = load_examples(args.n_examples, args.max_length, tok, args.seed)
    compute = torch.bfloat16 if args.precision == "bf16-mixed" else torch_dtype_of(args.dtype)
    peak = matmul_peak(compute)
    best: dict[str, dict[str, Any]] = {}
    names = [n for n in args.runs.split(",") if not (n.startswith("trl") and args.skip_trl)]
    for cycle in range(args.repeats):
        for name in names:
            fn = run_trl if name.startswith("trl") else run_mathft
            r = fn(args, examples, packing=name.endswith("+packing"))
            r["cycle"] = cycle
            r["tokens_per_s"] = r["tokens"] / r["seconds"]
            r["flops_per_s"] = 6 * r["n_matmul_params"] * r["tokens"] / r["seconds"]
            r["mfu"] = r["flops_per_s"] / peak
            if name not in best or r["tokens_per_s"] > best[name]["tokens_per_s"]:
                best[name] = r
            print(json.dumps(r), file=sys.stderr, flush=True)
    results = [best[n] for n in names]
    print(f"\nmodel={args.model} dtype={args.dtype} precision={args.precision} "
          f"threads={args.threads} batch={args.batch_size} max_length={args.max_length} "
          f"steps={args.steps} (+{args.warmup} warmup) best of {args.repeats} cycles, "
          f"matmul peak={peak / 1e9:.1f} GFLOP/s ({compute})")
    base = next((r for r in results if r["name"] == "trl"), None)
    print(f"{'run':<16}{'tokens/s':>10}{'GFLOP/s':>10}{'MFU':>7}{'vs trl':>8}")
    for r in results:
        ratio = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        print(f"{r['name']:<16}{r['tokens_per_s']:>10.1f}{r['flops_per_s'] / 1e9:>10.1f}"
              f"{r['mfu']:>7.1%}{ratio:>8}")


def torch_dtype_of(name: str) -> torch.dtype:
    from mathft.models.loading import torch_dtype

    return torch_dtype(name)


if __name__ == "__main__":
    main()

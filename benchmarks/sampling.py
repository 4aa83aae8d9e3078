"""Batched sampling engine vs one-at-a-time ``generate`` on the embedded SmolLM2-135M.

Same MATH500 prompts, same ``max_new_tokens``, no answer stop (EOS still ends a row), greedy;
prints new tokens/s of each, a raw batched ``model.generate`` reference, and the ratio
(goal: >= 3x). ``--prompt chat`` (default) uses the instruct chat template, as the plain SSFT
prompt makes the untuned instruct model emit EOS at once on some problems.

    .venv/bin/python benchmarks/sampling.py --prompts 8 --new-tokens 64
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from mathft.data.sources import read_math500
from mathft.data.templates import format_prompt
from mathft.models.loading import load_model_and_tokenizer
from mathft.sampling.engine import SamplingParams
from mathft.sampling.hf import HFEngine


def count_new(new: torch.Tensor, eos: int | None) -> int:
    """Generated tokens per row up to (excluding) the first EOS, summed (as HFEngine counts)."""
    n = 0
    for row in new.tolist():
        n += row.index(eos) if eos is not None and eos in row else len(row)
    return n


def one_at_a_time(model, tok, prompts: list[str], new_tokens: int) -> tuple[int, float]:
    """Plain ``model.generate`` per prompt (greedy, KV cache, batch 1)."""
    n, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        for p in prompts:
            enc = tok(p, return_tensors="pt")
            out = model.generate(
                **enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
            n += count_new(out[:, enc["input_ids"].shape[1] :], tok.eos_token_id)
    return n, time.perf_counter() - t0


def raw_batched(model, tok, prompts: list[str], new_tokens: int) -> tuple[int, float]:
    """Reference: one left-padded ``model.generate`` call over all prompts."""
    tok.padding_side = "left"
    t0 = time.perf_counter()
    with torch.inference_mode():
        enc = tok(prompts, return_tensors="pt", padding=True)
        out = model.generate(
            **enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    return count_new(
        out[:, enc["input_ids"].shape[1] :], tok.eos_token_id
    ), time.perf_counter() - t0


def batched(engine: HFEngine, prompts: list[str], params: SamplingParams) -> tuple[int, float]:
    t0 = time.perf_counter()
    gens = engine.generate(prompts, params)
    return sum(g.n_tokens for x in gens for g in x), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--samples", type=int, default=1, help="n for the sampled batched run")
    ap.add_argument("--prompt", choices=["chat", "ssft"], default="chat")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tok = load_model_and_tokenizer(args.model)
    model.eval()
    problems = [p.problem for p in read_math500()[: args.prompts]]
    if args.prompt == "chat":
        msg = "\nPut the final answer in \\boxed{}."
        prompts = [
            tok.apply_chat_template(
                [{"role": "user", "content": p + msg}], tokenize=False, add_generation_prompt=True
            )
            for p in problems
        ]
    else:
        prompts = [format_prompt(p) for p in problems]
    engine = HFEngine(model, tok)
    engine.closers()
    common = {
        "max_new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "stop_on_answer": False,
    }
    batched(engine, prompts[:1], SamplingParams(greedy=True, **{**common, "max_new_tokens": 4}))

    rows = []
    n1, t1 = one_at_a_time(model, tok, prompts, args.new_tokens)
    rows.append(("one-at-a-time generate, greedy", n1, t1))
    nr, tr = raw_batched(model, tok, prompts, args.new_tokens)
    rows.append(("reference: one batched model.generate, greedy", nr, tr))
    n2, t2 = batched(engine, prompts, SamplingParams(greedy=True, **common))
    rows.append((f"HFEngine batch {args.batch_size}, greedy", n2, t2))
    ps = SamplingParams(n=args.samples, temperature=0.9, top_p=0.95, **common)
    n3, t3 = batched(engine, prompts, ps)
    rows.append((f"HFEngine batch {args.batch_size}, T=0.9 top-p 0.95, n={args.samples}", n3, t3))

    print(
        f"model={args.model} prompts={len(prompts)} new_tokens={args.new_tokens} "
        f"torch_threads={torch.get_num_threads()} loadavg={os.getloadavg()[0]:.1f}"
    )
    for name, n, t in rows:
        print(f"{name:55s} {n:6d} tok {t:7.2f} s {n / t:8.1f} tok/s")
    print(f"ratio batched greedy / one-at-a-time: {(n2 / t2) / (n1 / t1):.2f}x")
    print(f"ratio batched sampled / one-at-a-time: {(n3 / t3) / (n1 / t1):.2f}x")


if __name__ == "__main__":
    main()

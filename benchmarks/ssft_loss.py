"""SSFT loss: LM head at labelled positions only (mathft) vs full-vocabulary logits (baseline).

Both variants compute the same completion-only loss (docs/method.md#ssft; tests/models/test_ssft_loss.py
checks value and gradients agree). Each runs in its own subprocess on the embedded SmolLM2-135M
with one batch of real MATH train examples (``--batch-size`` x up to ``--max-length`` tokens,
unpacked, right-padded): ``--reps`` forward + backward passes after one warm-up. Reported: the
process's peak RSS during the passes above its RSS before them (Linux: the high-water mark
``VmHWM`` is reset through ``/proc/self/clear_refs`` after loading, so loading peaks do not
count) and the median seconds per forward + backward.

    .venv/bin/python benchmarks/ssft_loss.py --batch-size 4 --max-length 512
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("labelled", "full")


def child(args: argparse.Namespace) -> dict[str, float]:
    import psutil
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ssft import load_examples

    from mathft.data.collate import IGNORE_INDEX, SSFTCollator, tokenize_examples
    from mathft.models.loading import load_model_and_tokenizer
    from mathft.models.ssft import completion_loss, completion_loss_terms, model_inputs

    torch.set_num_threads(args.threads)
    model, tok = load_model_and_tokenizer(args.model)
    model.train()
    examples = load_examples(args.batch_size, args.max_length, tok, args.seed)
    batch = SSFTCollator(tok.pad_token_id)(tokenize_examples(examples, tok, max_length=args.max_length)[0])
    base_mb = psutil.Process().memory_info().rss / 2**20
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS

    def step() -> float:
        t = time.perf_counter()
        if args.variant == "labelled":
            loss_sum, n = completion_loss(model, batch)
        else:
            loss_sum, n = completion_loss_terms(model(**model_inputs(batch)).logits, batch["labels"])
        (loss_sum / n).backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    step()
    times = [step() for _ in range(args.reps)]
    status = Path("/proc/self/status").read_text().splitlines()
    peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    return {"variant": args.variant, "tokens": int(batch["attention_mask"].sum()),
            "positions": batch["input_ids"].numel(),
            "targets": int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()),
            "peak_above_model_mb": peak_mb - base_mb, "s_per_fwd_bwd": statistics.median(times)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="embedded:smollm2-135m")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.variant:
        print(json.dumps(child(args)))
        return
    rows = []
    for v in VARIANTS:
        cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--variant", v]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    r0 = rows[0]  # the same batch in both children
    print(f"\nmodel={args.model} batch={args.batch_size} max_length={args.max_length}: "
          f"{r0['tokens']} tokens, {r0['positions']} positions, {r0['targets']} targets")
    print(f"{'loss':<34}{'peak MB above model':>20}{'s / fwd+bwd':>13}")
    names = {"labelled": "LM head at targets (mathft)", "full": "full logits (baseline)"}
    for r in rows:
        print(f"{names[r['variant']]:<34}{r['peak_above_model_mb']:>20.0f}{r['s_per_fwd_bwd']:>13.2f}")
    lab, full = rows
    print(f"ratio baseline/mathft: memory {full['peak_above_model_mb'] / lab['peak_above_model_mb']:.2f}x, "
          f"time {full['s_per_fwd_bwd'] / lab['s_per_fwd_bwd']:.2f}x")


if __name__ == "__main__":
    main()

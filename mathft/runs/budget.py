"""Token budget of one experiment cell, from its config alone (no data or model loaded).

For each step of :func:`mathft.runs.cell.run_cell` (generator, the sample steps, the
evaluator, the score steps) :func:`estimate_budget` counts

- ``train_tokens``: tokens through forward + backward (optimizer steps x global batch x
  tokens per example, capped at ``max_length``);
- ``generate_tokens``: new tokens sampled (problems x samples x mean new tokens);
- ``prompt_tokens``: prompt tokens prefilled for sampling (once per problem with prefix
  caching, as vLLM does; the HF engine encodes each row: ``x n``);
- ``score_tokens``: tokens through one forward pass of the evaluator (prompt + candidate).

Counts of problems come from the config and the dataset sizes (MATH500 test 500; the
paper's 12,000-problem MATH pool split into ``n_val`` and the rest); token lengths are the
stated :class:`Assumptions` (means, not maxima: measure your own data to refine them).
:func:`gpu_hours` turns the counts into GPU-hours from throughputs you state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MATH_POOL = 12_000       # MATH train + test minus MATH500 (the paper's split pool)
SPLIT_SIZES = {("math500", "test"): 500, ("math", "test"): 500, ("gsm8k", "test"): 1319}
GSM8K_TRAIN = 7473
MATH500_LEVELS = {1: 43, 2: 90, 3: 105, 4: 128, 5: 134}  # problems per level of MATH500


@dataclass(frozen=True)
class Assumptions:
    """Mean token lengths (SmolLM2/Qwen-style BPE; MATH solutions are ~200-400 tokens)."""

    prompt_tokens: int = 120           # problem + SSFT/evaluator prompt template
    solution_tokens: int = 300         # reference solution (SSFT) or sampled candidate
    new_tokens_fraction: float = 1.0   # mean new tokens = min(max_new_tokens, solution_tokens x this)
    prefix_caching: bool = True        # prompt prefilled once per problem (vLLM) or per sample


@dataclass
class StepBudget:
    """Tokens one step processes (0 where it does not apply)."""

    step: str
    problems: int = 0
    samples: int = 0
    train_tokens: int = 0
    generate_tokens: int = 0
    prompt_tokens: int = 0
    score_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(node: Any, key: str, default: Any = None) -> Any:
    if node is None:
        return default
    if isinstance(node, Mapping) or hasattr(node, "get"):
        v = node.get(key, default)
        return default if v is None else v
    return getattr(node, key, default)


def _devices(cfg: Any, devices: int | None) -> int:
    if devices is not None:
        return int(devices)
    d = _get(_get(cfg, "trainer"), "devices", 1)
    if isinstance(d, int) and d > 0:
        return d
    if isinstance(d, Sequence) and not isinstance(d, str):
        return len(d)
    raise ValueError(f"trainer.devices={d!r} depends on the machine: pass devices=<GPUs>")


def n_problems(cfg: Any, which: str) -> int:
    """How many problems ``cfg.eval.<which>`` selects (a levels filter is exact on MATH500,
    an upper bound elsewhere)."""
    node = _get(_get(cfg, "eval"), which)
    name, split = str(_get(node, "name", "math500")), str(_get(node, "split", "test"))
    data = _get(cfg, "data")
    levels = _get(node, "levels")
    if (name, split) == ("math500", "test") and levels:
        total = sum(MATH500_LEVELS.get(int(lv), 0) for lv in levels)
    elif (name, split) in SPLIT_SIZES:
        total = SPLIT_SIZES[name, split]
    elif name == "gsm8k":
        n_val = int(_get(data, "gsm8k_n_val", 500))
        total = n_val if split == "val" else GSM8K_TRAIN - n_val
    else:
        n_val = int(_get(data, "n_val", 1000))
        total = n_val if split == "val" else MATH_POOL - n_val
    limit = _get(node, "limit")
    return min(total, int(limit)) if limit is not None else total


def _train(name: str, node: Any, devices: int, a: Assumptions) -> StepBudget:
    steps, batch = int(_get(node, "max_steps", 0)), int(_get(node, "batch_size", 1))
    per_example = min(int(_get(node, "max_length", 10**9)), a.prompt_tokens + a.solution_tokens)
    b = StepBudget(name, train_tokens=steps * batch * devices * per_example)
    b.notes.append(f"{steps} steps x {batch}x{devices} examples x {per_example} tokens")
    return b


def _sample(name: str, problems: int, n: int, max_new: int, a: Assumptions) -> StepBudget:
    mean_new = min(max_new, int(a.solution_tokens * a.new_tokens_fraction))
    prefill = problems * a.prompt_tokens * (1 if a.prefix_caching else n)
    return StepBudget(f"sample:{name}", problems=problems, samples=problems * n,
                      generate_tokens=problems * n * mean_new, prompt_tokens=prefill,
                      notes=[f"{problems} problems x {n} samples x {mean_new} new tokens"])


def _score(name: str, samples: int, max_length: int, a: Assumptions) -> StepBudget:
    per = min(max_length, a.prompt_tokens + a.solution_tokens)
    return StepBudget(f"score:{name}", samples=samples, score_tokens=samples * per)


def estimate_budget(cfg: Any, assumptions: Assumptions | None = None, *,
                    devices: int | None = None) -> list[StepBudget]:
    """Per-step token counts of one cell of ``cfg`` (a composed pipeline config or a mapping).

    Steps follow :func:`mathft.runs.cell.run_cell`: ``generator`` (absent when
    ``generator.train=false``), ``sample:test_greedy`` (when ``eval.greedy``), ``sample:test``,
    and with ``evaluator.enabled``: ``sample:val``, ``sample:evaluator_train``, ``evaluator``,
    ``score:test``, ``score:val``. A sequential cell counts its stages' steps (sampling inside
    the run as ``sample:sequential``). Shards (``sampling.shard``) split but do not change
    the totals. ``devices``: data-parallel processes (default ``trainer.devices``; required
    when that is ``-1``/``auto``): ``batch_size`` is per process.
    """
    a = assumptions or Assumptions()
    devices = _devices(cfg, devices)
    gen, ev, samp = _get(cfg, "generator"), _get(cfg, "evaluator"), _get(cfg, "sampling")
    stages = _get(cfg, "stages")
    n, max_new = int(_get(samp, "n", 1)), int(_get(samp, "max_new_tokens", 512))
    out: list[StepBudget] = []
    if _get(gen, "train", True):
        if str(_get(stages, "mode", "ssft")) == "sequential":
            seq = _get(gen, "sequential_steps") or [
                int(_get(s, "steps", 0) or 0) for s in _get(stages, "stages", [])]
            b = _train("generator", {**_plain(gen), "max_steps": sum(int(x) for x in seq)},
                       devices, a)
            b.notes.append(f"sequential stages {list(seq)}")
            out.append(b)
            cand = _get(stages, "candidates") or {}
            sp = _get(cand, "sampling") or {}
            n_p = _get(cand, "num_problems") or n_problems(cfg, "evaluator_train")
            out.append(_sample("sequential", int(n_p), int(_get(sp, "n", n)),
                               int(_get(sp, "max_new_tokens", max_new)), a))
        else:
            out.append(_train("generator", gen, devices, a))
    test = n_problems(cfg, "test")
    if _get(_get(cfg, "eval"), "greedy", True):
        out.append(_sample("test_greedy", test, 1, max_new, a))
    out.append(_sample("test", test, n, max_new, a))
    if _get(ev, "enabled", True):
        val, tr = n_problems(cfg, "val"), n_problems(cfg, "evaluator_train")
        out.append(_sample("val", val, n, max_new, a))
        out.append(_sample("evaluator_train", tr, n, max_new, a))
        b = _train("evaluator", ev, devices, a)
        per_problem = int(_get(ev, "n_per_problem", 10))
        b.notes.append(f"data: {tr} problems x {per_problem} examples = {tr * per_problem}")
        out.append(b)
        ml = int(_get(ev, "max_length", 1024))
        out.append(_score("test", test * n, ml, a))
        out.append(_score("val", val * n, ml, a))
    return out


def _plain(node: Any) -> dict[str, Any]:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover
        pass
    return dict(node or {})


def totals(rows: Sequence[StepBudget]) -> dict[str, int]:
    """Sum of every token count over ``rows``."""
    keys = ("train_tokens", "generate_tokens", "prompt_tokens", "score_tokens")
    return {k: sum(getattr(r, k) for r in rows) for k in keys}


def gpu_hours(rows: Sequence[StepBudget], *, params: float, train_mfu: float = 0.4,
              peak_flops: float = 989e12, generate_tokens_per_s: float = 2000.0,
              prefill_tokens_per_s: float = 20000.0) -> dict[str, float]:
    """GPU-hours per step kind from token counts and stated throughputs (per GPU).

    Training: ``6 * params * tokens`` FLOPs at ``train_mfu`` of ``peak_flops`` (H100 bf16
    dense: 989e12). Generation: ``generate_tokens_per_s`` new tokens per GPU (batched vLLM),
    prompt prefill and scoring at ``prefill_tokens_per_s``.
    """
    t = totals(rows)
    train_s = 6.0 * params * t["train_tokens"] / (train_mfu * peak_flops)
    gen_s = t["generate_tokens"] / generate_tokens_per_s + t["prompt_tokens"] / prefill_tokens_per_s
    score_s = t["score_tokens"] / prefill_tokens_per_s
    h = {"train": train_s / 3600, "generate": gen_s / 3600, "score": score_s / 3600}
    h["total"] = sum(h.values())
    return h


def format_budget(rows: Sequence[StepBudget]) -> str:
    """A plain-text table of ``rows`` (for logs and the dry run)."""
    head = f"{'step':<24}{'train':>14}{'generate':>14}{'prompt':>14}{'score':>14}"
    lines = [head, "-" * len(head)]
    for r in [*rows, StepBudget("total", **totals(rows))]:
        lines.append(f"{r.step:<24}{r.train_tokens:>14,}{r.generate_tokens:>14,}"
                     f"{r.prompt_tokens:>14,}{r.score_tokens:>14,}")
    return "\n".join(lines)

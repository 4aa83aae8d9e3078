"""OpenVINO GenAI engine: continuous batching with paged attention and prefix caching on the
CPU, under the same contract as the ``prefix`` engine (docs/sampling.md#openvino).

Two environments serve it. ``openvino-genai`` (the runtime, no torch) installs into mathft's
own environment; the one-off conversion of a checkpoint to OpenVINO IR needs
``optimum-intel``, which pins an older transformers, so it runs in its own environment
(``make openvino``: ``.venv-openvino``) as a subprocess. Conversions are cached by the content
of the checkpoint (:func:`ir_key`), so a fine-tuned generator is converted once, inside its
sample step, never by hand.

Every (prompt, sample) is its own request with its own seed (``GenerationConfig.rng_seed``),
so a sample does not depend on which other samples share its batch (tested). The answer stop
is applied while decoding: after each step a row whose newest token can close an answer
(:func:`~mathft.sampling.engine.closer_mask`) is decoded, and stopped once its answer closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mathft.models.export import weights_digest
from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingParams,
    StreamingEngine,
    closer_mask,
    kept_tokens,
    truncate_at_stop,
)

OV_PRECISION = {"float32": "f32", "bfloat16": "bf16"}
"""mathft compute dtype -> OpenVINO ``INFERENCE_PRECISION_HINT`` (also the KV cache's)."""
CONVERTER_ENV = "MATHFT_OPENVINO_PYTHON"
"""Interpreter with ``optimum-intel`` (default: ``.venv-openvino/bin/python`` of the checkout)."""
IR_CACHE_ENV = "MATHFT_OPENVINO_CACHE"
"""Where converted checkpoints live (default ``~/.cache/mathft/openvino``)."""
_IR_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "chat_template.jinja")


def converter_python() -> str | None:
    """The interpreter that converts checkpoints (``optimum-intel``), or None."""
    exe = os.environ.get(CONVERTER_ENV) or \
        str(Path(__file__).resolve().parents[2] / ".venv-openvino" / "bin" / "python")
    return exe if os.access(exe, os.X_OK) else None


def openvino_available() -> bool:
    """True when OpenVINO GenAI is importable here and a converter environment exists."""
    import importlib.util

    return importlib.util.find_spec("openvino_genai") is not None and \
        converter_python() is not None


def ir_key(model_dir: Path) -> str:
    """Content hash of a checkpoint: its weights (:func:`~mathft.models.export.weights_digest`,
    as the weights pins use) and the other files conversion reads. Two checkpoints with the same
    key convert to the same IR; any changed weight changes it."""
    digest = weights_digest(model_dir)
    if digest is None:
        raise FileNotFoundError(f"{model_dir}: no weights (*.safetensors / *.bin) to convert")
    h = hashlib.sha256(digest.encode())
    for p in sorted(p for p in model_dir.iterdir() if p.name in _IR_FILES):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def convert(model_dir: str | Path, cache: str | Path | None = None) -> Path:
    """OpenVINO IR of the transformers checkpoint ``model_dir`` (fp32 weights; the compute
    precision is chosen at load), converted once and cached by :func:`ir_key`. The
    conversion writes to a temporary directory renamed into place, so a killed one leaves
    nothing half-written."""
    model_dir = Path(model_dir)
    root = Path(cache or os.environ.get(IR_CACHE_ENV) or
                Path.home() / ".cache" / "mathft" / "openvino")
    out = root / ir_key(model_dir)
    if (out / "openvino_model.xml").exists():
        return out
    python = converter_python()
    if python is None:
        raise RuntimeError(
            f"engine 'openvino' converts checkpoints with optimum-intel: run `make openvino` "
            f"(builds .venv-openvino) or set ${CONVERTER_ENV}; or set sampling.engine=prefix")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=root))
    cmd = [python, "-m", "optimum.commands.optimum_cli", "export", "openvino", "--model",
           str(model_dir), "--task", "text-generation-with-past", "--weight-format", "fp32",
           str(tmp / "ir")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not (tmp / "ir" / "openvino_model.xml").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"converting {model_dir} to OpenVINO IR failed:\n{tail}")
    versions = subprocess.run(
        [python, "-c", "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) "
         "for p in ('optimum-intel', 'openvino', 'transformers', 'torch')}))"],
        capture_output=True, text=True)
    (tmp / "ir" / "mathft_source.json").write_text(json.dumps(
        {"source": str(model_dir), "key": out.name,
         "converter": json.loads(versions.stdout) if versions.returncode == 0 else None},
        indent=2))
    try:
        os.replace(tmp / "ir", out)
    except OSError:  # another process converted it first
        if not (out / "openvino_model.xml").exists():
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def eos_ids(tokenizer: Any, ir: Path) -> set[int]:
    """Tokens that end a sample: the tokenizer's EOS and the checkpoint's
    ``generation_config.json`` ones (OpenVINO stops on those, e.g. Gemma's end of turn)."""
    ids = {tokenizer.eos_token_id} - {None}
    gc = ir / "generation_config.json"
    if gc.is_file():
        e = json.loads(gc.read_text()).get("eos_token_id")
        ids |= set(e if isinstance(e, list) else [e]) - {None}
    return ids


def generation_config(og: Any, params: SamplingParams, seed: int) -> Any:
    """``openvino_genai.GenerationConfig`` of one sample: the prompt is used as given (the
    prompt builder already applied any chat template), stop strings stop it; the closed-answer
    stop is the engine's."""
    g = og.GenerationConfig()
    g.max_new_tokens = int(params.max_new_tokens)
    g.apply_chat_template = False
    if params.stop:  # kept in the output, so that the engine's cut finds and counts them
        g.stop_strings = set(params.stop)
        g.include_stop_str_in_output = True
    if not params.greedy:
        g.do_sample = True
        g.temperature = float(params.temperature)
        g.top_p = float(params.top_p)
        g.top_k = 0
        g.rng_seed = int(seed) & 0x7FFFFFFF
    return g


def _drain(handle: Any, toks: list[int]) -> None:
    """Append the tokens ``handle`` produced since it was last read."""
    if handle.can_read():
        for o in handle.read().values():
            toks.extend(o.generated_ids)


class OpenVINOEngine(StreamingEngine):
    """Sampling engine over ``openvino_genai.ContinuousBatchingPipeline``.

    ``model``: a checkpoint directory (converted and cached by :func:`convert`).
    ``tokenizer``: the transformers tokenizer that built the prompts: it also tokenizes them
    here and decodes the outputs, so text and token counts match the other engines'.
    ``dtype``: ``float32`` or ``bfloat16``, the compute and KV-cache precision (keyed).
    ``threads``: OpenVINO inference threads (default: torch's thread count).
    """

    name = "openvino"

    def __init__(self, model: str | Path, tokenizer: Any, dtype: str = "float32",
                 threads: int | None = None, cache_gb: int = 2, batched_tokens: int = 256):
        try:
            import openvino as ov
            import openvino_genai as og
        except ImportError as e:
            raise ImportError("engine 'openvino' needs `pip install 'mathft[openvino]'` and "
                              "`make openvino`; or set sampling.engine=prefix") from e
        if dtype not in OV_PRECISION:
            raise ValueError(f"engine 'openvino' computes in {sorted(OV_PRECISION)}, not {dtype!r}")
        import torch

        self._ov, self._og, self.tok = ov, og, tokenizer
        self.ir = convert(model)
        sc = og.SchedulerConfig()
        sc.cache_size = int(cache_gb)
        sc.max_num_batched_tokens = int(batched_tokens)
        sc.enable_prefix_caching = True
        self._scheduler = sc
        self._props = {"INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
                       "INFERENCE_PRECISION_HINT": OV_PRECISION[dtype],
                       "KV_CACHE_PRECISION": OV_PRECISION[dtype]}
        self.eos = eos_ids(tokenizer, self.ir)
        self._pipe: Any = None
        self._closers: list[bool] | None = None

    def _pipeline(self, batch_size: int) -> Any:
        if self._pipe is None or self._scheduler.max_num_seqs != batch_size:
            self._scheduler.max_num_seqs = int(batch_size)
            self._pipe = self._og.ContinuousBatchingPipeline(str(self.ir), self._scheduler,
                                                            "CPU", self._props)
        return self._pipe

    def closers(self) -> list[bool]:
        """Tokens that can close an answer (:func:`~mathft.sampling.engine.closer_mask`)."""
        if self._closers is None:
            self._closers = closer_mask(self.tok, len(self.tok)).tolist()
        return self._closers

    def stream(self, requests: Sequence[Request],
               params: SamplingParams) -> Iterator[tuple[int, Generation]]:
        """Yield ``(request index, generation)`` as samples finish. Requests are admitted
        as rows free up (at most ``params.batch_size`` running); the other samples of a prompt
        wait one step after its first, so that they find the prompt in the prefix cache."""
        pipe, og = self._pipeline(params.batch_size), self._og
        closers = self.closers() if params.stop_on_answer else None
        ids_of: dict[str, Any] = {}
        pending = list(range(len(requests)))[::-1]
        running: dict[int, tuple[Any, list[int]]] = {}
        prefilled: set[str] = set()
        while pending or running:
            fresh: set[str] = set()  # prompts first admitted in this step
            while pending and len(running) < params.batch_size:
                i = pending[-1]
                r = requests[i]
                if r.prompt in fresh:  # a sibling: wait until its prompt is in the cache
                    break
                pending.pop()
                if r.prompt not in ids_of:
                    enc = self.tok(r.prompt, add_special_tokens=True)["input_ids"]
                    ids_of[r.prompt] = self._ov.Tensor(np.asarray([enc], dtype=np.int64))
                h = pipe.add_request(i, ids_of[r.prompt], generation_config(og, params, r.seed))
                running[i] = (h, [])
                if r.prompt not in prefilled:
                    fresh.add(r.prompt)
            pipe.step()
            prefilled |= fresh
            for i in list(running):
                h, toks = running[i]
                seen = len(toks)
                _drain(h, toks)
                finished = h.get_status() != og.GenerationStatus.RUNNING
                if not finished and closers is not None and any(
                        t < len(closers) and closers[t] for t in toks[seen:]) and truncate_at_stop(
                            self.tok.decode(toks, skip_special_tokens=True), params)[1]:
                    h.stop()
                    finished = True
                if finished:
                    _drain(h, toks)
                    del running[i]
                    yield i, self._generation(toks, params, self.eos)

    def _generation(self, toks: list[int], params: SamplingParams,
                    eos: set[int]) -> Generation:
        """The HF engine's accounting: EOS not counted, the answer cut where it closed."""
        if toks and toks[-1] in eos:
            ids, reason = toks[:-1], "eos"
        else:  # no EOS: the length cap, or a stop string (cut below)
            ids, reason = toks, "length"
        text, cut = truncate_at_stop(self.tok.decode(ids, skip_special_tokens=True), params)
        if cut:
            n = kept_tokens(ids, lambda t: self.tok.decode(t, skip_special_tokens=True), params)
            return Generation(text=text, n_tokens=n, finish_reason="stop")
        return Generation(text=text, n_tokens=len(ids), finish_reason=reason)

    def close(self) -> None:
        """Free the pipeline and its KV cache now."""
        self._pipe = None


def main() -> None:
    """``python -m mathft.sampling.openvino_engine CHECKPOINT``: convert (or find) its IR."""
    print(convert(sys.argv[1]))


if __name__ == "__main__":
    main()

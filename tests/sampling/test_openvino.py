"""The ``openvino`` engine (docs/sampling.md#openvino).

Always run: how ``auto`` resolves with and without OpenVINO, the conversion cache's content key,
the clear errors, the HF engine's token accounting. Run where OpenVINO is installed
(``pip install 'mathft[openvino]'`` and ``make openvino``), ``slow``: the real CLI,
``python -m mathft.sample sampling.engine=openvino``, on the embedded SmolLM2-135M in fp32
against the same command with ``sampling.engine=hf``, checking the contract every engine keeps
(as tests/sampling/test_vllm_cpu.py does for vLLM): the stores' schema; greedy equal to HF's
greedy row for row; nothing after a closed answer, ``n_tokens`` counted to the closing token;
per-sample seeds (a store cut to half its rows and resumed regenerates the lost rows field for
field, now decoded beside other rows).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _engine_cli import (
    MAX_NEW,
    N,
    assert_keeps_hf_contract,
    cli_env,
    cut_to_half,
    run_sample,
    write_problems,
)

from mathft.sampling import factory, openvino_engine
from mathft.sampling.engine import Request, SamplingParams, answer_end, compute_dtype
from mathft.sampling.openvino_engine import OpenVINOEngine, convert, ir_key


@pytest.fixture
def with_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_engine, "openvino_available", lambda: True)
    monkeypatch.setattr(factory.vllm_engine, "vllm_on_gpu", lambda: False)


def test_auto_picks_openvino_for_checkpoints_only(with_openvino: None) -> None:
    assert factory.resolve_engine("auto", "float32", model="embedded:smollm2-135m") == \
        {"engine": "openvino", "dtype": "float32"}
    assert factory.resolve_engine("auto", "float32", model="/x/model")["engine"] == "openvino"
    # tiny test models and models in memory stay on the prefix engine
    assert factory.resolve_engine("auto", "float32", model="tiny:llama")["engine"] == "prefix"
    assert factory.resolve_engine("auto", "float32", model=object())["engine"] == "prefix"
    for kind in ("auto", "openvino"):
        assert factory.resolve_in_memory_engine(kind, "float32")["engine"] == "prefix"


def test_auto_is_prefix_without_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_engine, "openvino_available", lambda: False)
    monkeypatch.setattr(factory.vllm_engine, "vllm_on_gpu", lambda: False)
    assert factory.resolve_engine("auto", model="embedded:smollm2-135m")["engine"] == "prefix"


def test_openvino_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from mathft import hardware

    for fast, want in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(hardware, "fast_bf16", lambda fast=fast: fast)
        assert compute_dtype("openvino", "auto", "float32") == want
    assert compute_dtype("openvino", "float32", "float32") == "float32"
    with pytest.raises(ValueError, match="sampling.precision"):
        compute_dtype("openvino", "fp8", "float32")


def test_ir_key_is_the_checkpoints_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "config.json").write_text('{"model_type": "llama"}')
        (d / "model.safetensors").write_bytes(b"\x00" * 64)
        (d / "README.md").write_text(d.name)  # not read by conversion: not keyed
    assert ir_key(a) == ir_key(b)
    (b / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")  # one weight byte
    assert ir_key(a) != ir_key(b)
    (b / "model.safetensors").write_bytes(b"\x00" * 64)
    (b / "config.json").write_text('{"model_type": "llama", "rope_theta": 1}')
    assert ir_key(a) != ir_key(b)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no weights"):
        ir_key(empty)


def test_convert_without_a_converter_says_how_to_get_one(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 8)
    monkeypatch.setattr(openvino_engine, "converter_python", lambda: None)
    with pytest.raises(RuntimeError, match="make openvino"):
        convert(tmp_path, cache=tmp_path / "ir")
    assert not (tmp_path / "ir").exists() or not any((tmp_path / "ir").iterdir())


def test_a_loaded_model_is_refused() -> None:
    with pytest.raises(TypeError, match="checkpoint path"):
        factory.make_engine("openvino", object(), None, precision="float32")


def test_accounting_matches_the_hf_engine(tok) -> None:
    """EOS is not counted; a closed answer cuts the text and counts tokens to its closing one."""
    eng = object.__new__(OpenVINOEngine)
    eng.tok = tok
    eos = {tok.eos_token_id}
    p = SamplingParams(max_new_tokens=64, stop_on_answer=True)
    plain = tok("so it is 3", add_special_tokens=False)["input_ids"]
    g = eng._generation(plain + [tok.eos_token_id], p, eos)
    assert (g.finish_reason, g.n_tokens) == ("eos", len(plain))
    g = eng._generation(plain, SamplingParams(max_new_tokens=len(plain)), eos)
    assert (g.finish_reason, g.n_tokens) == ("length", len(plain))
    boxed = tok("so \\boxed{3} and more words", add_special_tokens=False)["input_ids"]
    g = eng._generation(boxed, p, eos)
    assert g.finish_reason == "stop" and answer_end(g.text) == len(g.text)
    assert g.n_tokens < len(boxed)
    assert answer_end(tok.decode(boxed[: g.n_tokens])) is not None
    assert answer_end(tok.decode(boxed[: g.n_tokens - 1])) is None


def _require_openvino() -> None:
    if not openvino_engine.openvino_available():
        pytest.skip("OpenVINO not installed: `pip install 'mathft[openvino]'` and `make openvino`")
    from mathft.models.loading import resolve_model_path

    try:
        resolve_model_path("embedded:smollm2-135m")
    except FileNotFoundError as e:
        pytest.skip(str(e))


def _sample(tmp: Path, cache: Path, problems: Path, *extra: str) -> dict[str, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    env = cli_env(tmp)
    env["MATHFT_OPENVINO_CACHE"] = str(cache / "openvino")
    args = ["sampling.engine=openvino", "sampling.precision=float32",
            "generator.path=embedded:smollm2-135m", "logger=csv",
            "eval.test.name=jsonl", f"eval.test.path={problems}", "eval.test.levels=null",
            f"sampling.n={N}", f"sampling.max_new_tokens={MAX_NEW}", "sampling.batch_size=8",
            f"run.cache_dir={cache}", *extra]
    return run_sample(sys.executable, tmp, env, *args)


@pytest.mark.slow
@pytest.mark.openvino
def test_sampling_openvino_keeps_the_engine_contract(tmp_path: Path, store_rows) -> None:
    _require_openvino()
    problems = write_problems(tmp_path / "problems.jsonl")
    cache = tmp_path / "steps"
    v = _sample(tmp_path / "v", cache, problems)
    h = _sample(tmp_path / "h", cache, problems, "sampling.engine=hf")
    assert v["test"] != h["test"] and v["greedy"] != h["greedy"]  # the engine is keyed
    done = json.loads((v["test"].parent / "DONE.json").read_text())
    assert done["engine"] == {"engine": "openvino", "dtype": "float32"}
    assert len(list((cache / "openvino").iterdir())) == 1  # converted once, for both stores

    assert_keeps_hf_contract(v, h)

    before = store_rows(v["test"])  # same seeds, same samples, in another batch
    cut_to_half(v["test"])
    again = _sample(tmp_path / "v2", cache, problems)
    assert again == v
    assert store_rows(v["test"]) == before


@pytest.mark.slow
@pytest.mark.openvino
def test_engine_samples_do_not_depend_on_their_batch() -> None:
    """fp32: a request decoded alone equals the same request decoded among others (bf16 GEMMs
    round differently by batch shape, so there only the distribution is the same)."""
    _require_openvino()
    from mathft.models.loading import load_tokenizer, resolve_model_path

    path = resolve_model_path("embedded:smollm2-135m")
    tok = load_tokenizer(path, padding_side="left")
    eng = factory.make_engine("openvino", "embedded:smollm2-135m", tok, precision="float32")
    reqs = [Request(f"Problem: What is {a}+{a}?\nSolution:", seed=s)
            for a in (2, 3) for s in range(4)]
    p = SamplingParams(max_new_tokens=24, stop_on_answer=False, batch_size=8)
    full = eng.generate_requests(reqs, p)
    alone = eng.generate_requests([reqs[5], reqs[2]], p)
    assert [alone[0].text, alone[1].text] == [full[5].text, full[2].text]
    assert len({g.text for g in full}) > 2


class _FakePipe:
    """Stands in for ``ContinuousBatchingPipeline``: each request emits its script of tokens,
    one per step, then finishes; records which requests each step admitted."""

    def __init__(self, scripts: dict[int, list[int]]):
        self.scripts, self.handles, self.steps, self.admitted = scripts, {}, 0, [[]]

    def add_request(self, i: int, ids, cfg):
        h = _FakeHandle(list(self.scripts[i]))
        self.handles[i] = h
        self.admitted[-1].append(i)
        return h

    def step(self) -> None:
        self.steps += 1
        self.admitted.append([])
        for h in self.handles.values():
            h.advance()


class _FakeHandle:
    RUNNING, FINISHED = 0, 1

    def __init__(self, script: list[int]):
        self.script, self.out, self.status, self.stopped = script, [], self.RUNNING, False

    def advance(self) -> None:
        if self.status == self.RUNNING and self.script:
            self.out.append(self.script.pop(0))
            if not self.script:
                self.status = self.FINISHED

    def can_read(self) -> bool:
        return bool(self.out)

    def read(self) -> dict:
        from types import SimpleNamespace

        out, self.out = self.out, []
        return {0: SimpleNamespace(generated_ids=out)}

    def get_status(self) -> int:
        return self.status

    def stop(self) -> None:
        self.stopped, self.status = True, self.FINISHED


def _fake_engine(tok, scripts: dict[int, list[int]]) -> tuple[OpenVINOEngine, _FakePipe]:
    from types import SimpleNamespace

    eng = object.__new__(OpenVINOEngine)
    pipe = _FakePipe(scripts)
    eng.tok, eng._closers, eng._pipe, eng.eos = tok, None, pipe, {tok.eos_token_id}
    eng._ov = SimpleNamespace(Tensor=lambda a: a)
    eng._og = SimpleNamespace(GenerationConfig=SimpleNamespace,
                              GenerationStatus=SimpleNamespace(RUNNING=_FakeHandle.RUNNING))
    eng._pipeline = lambda batch_size: pipe
    return eng, pipe


def test_admission_shares_prompts_without_starving_new_ones(tok) -> None:
    """Distinct prompts (greedy: one row each) are admitted together; a prompt's other
    samples come one step after its first, when its prompt is in the prefix cache."""
    words = tok(" one two three", add_special_tokens=False)["input_ids"]
    p = SamplingParams(max_new_tokens=len(words), stop_on_answer=False, batch_size=16)
    greedy = [Request(f"Problem {k}", seed=0) for k in range(5)]
    eng, pipe = _fake_engine(tok, {i: words for i in range(5)})
    gens = eng.generate_requests(greedy, p)
    assert pipe.admitted[0] == [0, 1, 2, 3, 4]
    assert [g.n_tokens for g in gens] == [len(words)] * 5
    sampled = [Request(f"Problem {k}", seed=j) for k in range(2) for j in range(3)]
    eng, pipe = _fake_engine(tok, {i: words for i in range(6)})
    eng.generate_requests(sampled, p)
    assert pipe.admitted[:3] == [[0], [1, 2, 3], [4, 5]]
    capped = SamplingParams(max_new_tokens=len(words), stop_on_answer=False, batch_size=2)
    eng, pipe = _fake_engine(tok, {i: words for i in range(5)})
    eng.generate_requests(greedy, capped)  # never more than batch_size rows at once
    assert max(len(a) for a in pipe.admitted) == 2 and sum(map(len, pipe.admitted)) == 5


def test_a_closed_answer_stops_the_row(tok) -> None:
    boxed = tok(" so \\boxed{3} and then many more words", add_special_tokens=False)["input_ids"]
    eng, pipe = _fake_engine(tok, {0: boxed})
    (g,) = eng.generate_requests([Request("Problem", seed=1)],
                                 SamplingParams(max_new_tokens=64, stop_on_answer=True))
    assert pipe.handles[0].stopped and g.finish_reason == "stop"
    assert g.text.endswith("\\boxed{3}") and g.n_tokens < len(boxed)
    assert pipe.steps < len(boxed)  # stopped while decoding, not after the script ran out

"""Prompt builder: SSFT prompt identity, few-shot exemplars (determinism, k, style, grading,
MATH500 guard), chat rendering and the conf/prompt configs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mathft.data.collate import tokenize_example
from mathft.data.prompts import (
    STYLES,
    PromptBuilder,
    build_prompt_builder,
    load_exemplar_pool,
    select_exemplars,
)
from mathft.data.sources import read_math500
from mathft.data.splits import math500_keys, math_split, normalize_problem_text
from mathft.data.templates import SSFT_PROMPT, format_prompt
from mathft.grading import extract_answer, is_equiv
from mathft.records import SolutionExample

CONF = Path(__file__).resolve().parents[2] / "conf" / "prompt"
PROBLEMS = [
    "What is $1+1$?",
    "Find $x$ if $\\frac{x}{2} = \\{3\\}$ and $f(x)={x}^2$.",  # braces must survive formatting
    "Compute $\\dbinom{5}{2}$.\n\nExpress your answer as an integer.",
]
SEEDS = (0, 1, 2, 3, 7)


def few(style: str, pool_loader, **kw) -> PromptBuilder:
    return PromptBuilder(kind="few_shot", style=style, pool_loader=pool_loader, **kw)


# ---- SSFT: sampling prompt == training prompt ------------------------------------------------
@pytest.mark.parametrize("problem", PROBLEMS)
def test_ssft_prompt_is_the_collators_prompt(problem, group_option):
    assert PromptBuilder().build(problem) == format_prompt(problem)
    assert build_prompt_builder(None).build(problem) == format_prompt(problem, SSFT_PROMPT)
    cfg = group_option("prompt", "ssft")
    assert build_prompt_builder(cfg).build(problem) == format_prompt(problem)


def test_ssft_prompt_tokens_match_training(chat_tokenizer):
    """The ids the HF engine feeds the model (add_special_tokens=False) are the collator's
    prompt ids: fine-tuned generators are sampled on exactly their training prompt."""
    b = PromptBuilder(kind="ssft")
    for i, problem in enumerate(PROBLEMS):
        ex = SolutionExample(f"p{i}", problem, "So $\\boxed{2}$.", "2", "math", "math")
        tok, _ = tokenize_example(ex, chat_tokenizer)
        n_prompt = sum(1 for x in tok.labels if x == -100)
        engine_ids = chat_tokenizer(b.build(problem), add_special_tokens=False)["input_ids"]
        assert tok.input_ids[:n_prompt] == list(engine_ids)


def test_ssft_refuses_chat_and_instruction():
    with pytest.raises(ValueError, match="kind=ssft"):
        PromptBuilder(kind="ssft", chat=True)
    with pytest.raises(ValueError, match="kind=ssft"):
        PromptBuilder(kind="ssft", instruction="box it")


# ---- few-shot exemplars ------------------------------------------------------------------------
def test_pools_come_from_the_training_split(pools):
    sp = math_split()
    train = {normalize_problem_text(p.problem) for p in sp.train}
    held_out = {normalize_problem_text(p.problem) for p in sp.val + sp.test}
    for style in STYLES:
        assert pools[style], style
        assert {ex.style for ex in pools[style]} == {style}
        keys = {normalize_problem_text(ex.problem) for ex in pools[style]}
        assert not keys & held_out
        assert len(keys & train) >= 0.9 * len(keys)  # PRM800K adds a few non-MATH problems
    with pytest.raises(ValueError, match="never from the test set"):
        load_exemplar_pool("math", "test")


@pytest.mark.parametrize("style", STYLES)
def test_deterministic_by_seed(style, pool_loader):
    a = few(style, pool_loader, seed=3)
    b = few(style, pool_loader, seed=3)
    assert [e.uid for e in a.exemplars] == [e.uid for e in b.exemplars]
    assert a.build(PROBLEMS[0]) == b.build(PROBLEMS[0])
    draws = {tuple(e.uid for e in few(style, pool_loader, seed=s).exemplars) for s in SEEDS}
    assert len(draws) == len(SEEDS)  # seeds change the draw


def test_draw_does_not_depend_on_pool_order(pools):
    shuffled = {s: list(reversed(p)) for s, p in pools.items()}
    for style in STYLES:
        a = select_exemplars(pools, style, 4, seed=5)
        b = select_exemplars(shuffled, style, 4, seed=5)
        assert [e.uid for e in a] == [e.uid for e in b]


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_k_respected(k, pool_loader):
    for style in STYLES:
        b = few(style, pool_loader, k=k)
        assert len(b.exemplars) == k
        assert len({normalize_problem_text(e.problem) for e in b.exemplars}) == k
        prompt = b.build(PROBLEMS[0])
        assert prompt.count("Problem:\n") == k + 1
        assert prompt.endswith(format_prompt(PROBLEMS[0]))  # target problem last
        assert all(len(e.problem) + len(e.solution) <= b.max_exemplar_chars for e in b.exemplars)


@pytest.mark.parametrize("seed", SEEDS)
def test_styles_differ_only_in_solution_style(seed, pool_loader):
    m, p = few("math", pool_loader, seed=seed), few("prm800k", pool_loader, seed=seed)
    assert [e.problem for e in m.exemplars] == [e.problem for e in p.exemplars]
    for e in m.exemplars:
        assert e.style == "math" and "\\boxed" in e.solution and "# Answer" not in e.solution
    for e in p.exemplars:
        assert e.style == "prm800k" and re.search(r"\n# Answer\n\n[^\n]+$", e.solution)
    # replacing each solution by a placeholder leaves identical prompts
    pm, pp = m.build(PROBLEMS[1]), p.build(PROBLEMS[1])
    for i, (em, ep) in enumerate(zip(m.exemplars, p.exemplars, strict=True)):
        pm, pp = pm.replace(em.solution, f"<S{i}>", 1), pp.replace(ep.solution, f"<S{i}>", 1)
    assert pm == pp
    assert m.build(PROBLEMS[1]) != p.build(PROBLEMS[1])


@pytest.mark.parametrize("style", STYLES)
def test_grader_extracts_every_exemplar_answer(style, pool_loader):
    for seed in SEEDS:
        for ex in few(style, pool_loader, seed=seed, k=8).exemplars:
            got = extract_answer(ex.solution)
            assert got is not None and is_equiv(got, ex.answer), (ex.uid, got, ex.answer)


@pytest.mark.parametrize("style", STYLES)
def test_no_math500_leakage(style, pool_loader):
    keys = math500_keys()
    uids = {p.uid for p in read_math500()}
    for seed in range(10):
        for ex in few(style, pool_loader, seed=seed, k=8, max_exemplar_chars=None).exemplars:
            assert normalize_problem_text(ex.problem) not in keys, ex.uid
            assert ex.uid not in uids


def test_guard_drops_math500_even_if_the_pool_has_them(pools):
    """The guard works on its own: a pool polluted with MATH500 never yields a test problem."""
    leaked = [SolutionExample(p.uid, p.problem, p.solution or f"$\\boxed{{{p.answer}}}$",
                              p.answer, "math", "math500") for p in read_math500()]
    polluted = {"math": leaked + pools["math"][:20]}
    for seed in SEEDS:
        chosen = select_exemplars(polluted, "math", 4, seed=seed, max_chars=None)
        assert not {e.uid for e in chosen} & {e.uid for e in leaked}
    with pytest.raises(ValueError, match="not in MATH500"):
        select_exemplars({"math": leaked}, "math", 1, max_chars=None)


def test_too_few_exemplars_is_a_clear_error(pools):
    with pytest.raises(ValueError, match="prm800k-style .* raise prompt.max_exemplar_chars"):
        select_exemplars(pools, "prm800k", 4, max_chars=10)
    with pytest.raises(ValueError, match="k=100000"):
        select_exemplars(pools, "prm800k", 100000, max_chars=None)


def test_unmatched_problems_fill_from_own_pool(pools, caplog):
    small = {"math": pools["math"], "prm800k": pools["prm800k"][:2]}
    with caplog.at_level(logging.WARNING, logger="mathft.data.prompts"):
        chosen = select_exemplars(small, "math", 4, seed=0, max_chars=None)
    assert len(chosen) == 4 and "not shared across styles" in caplog.text
    shared = {normalize_problem_text(e.problem) for e in small["prm800k"]}
    assert shared <= {normalize_problem_text(e.problem) for e in chosen}


# ---- zero-shot and chat ------------------------------------------------------------------------
def test_zero_shot_plain():
    b = PromptBuilder(kind="zero_shot")
    assert b.build(PROBLEMS[0]) == format_prompt(PROBLEMS[0]) and b.exemplars == []
    b = PromptBuilder(kind="zero_shot", instruction="Box the answer.")
    assert b.build(PROBLEMS[0]) == format_prompt(PROBLEMS[0] + "\n\nBox the answer.")


def test_zero_shot_chat(chat_tokenizer, group_option):
    b = build_prompt_builder(group_option("prompt", "zero_shot_chat"))
    out = b.build(PROBLEMS[2], chat_tokenizer)
    assert out.count("<|im_start|>user\n") == 1
    assert out.endswith("<|im_start|>assistant\n")  # add_generation_prompt=True
    assert PROBLEMS[2] + "\n\n" + b.instruction in out and "\\boxed{}" in b.instruction
    with pytest.raises(ValueError, match="chat template"):
        b.build(PROBLEMS[2], None)


@pytest.mark.parametrize("style", STYLES)
def test_few_shot_chat_turns(style, pool_loader, chat_tokenizer):
    b = few(style, pool_loader, chat=True, system="You solve math problems.")
    msgs = b.messages(PROBLEMS[0])
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert [m["content"] for m in msgs[2:-1:2]] == [e.solution for e in b.exemplars]
    out = b.build(PROBLEMS[0], chat_tokenizer)
    assert out.startswith("<|im_start|>system\nYou solve math problems.<|im_end|>")
    assert out.count("<|im_start|>assistant\n") == 5 and out.endswith("<|im_start|>assistant\n")
    assert out.rindex(PROBLEMS[0]) > max(out.index(e.solution) for e in b.exemplars)


# ---- configs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ssft", "zero_shot", "zero_shot_chat", "fewshot_math",
                                  "fewshot_prm800k"])
def test_configs_instantiate(name, group_option):
    from hydra.utils import instantiate

    cfg = OmegaConf.create(group_option("prompt", name))
    b = instantiate(cfg)
    assert isinstance(b, PromptBuilder)
    assert b == build_prompt_builder(cfg)
    if name.startswith("fewshot"):
        assert b.k == 4 and b.style == name.split("_")[1] and b.exemplar_split == "train"
    with pytest.raises(ValueError, match="unknown prompt config key"):
        build_prompt_builder(cfg, shots=3)


def test_plain_few_shot_stop_string(pool_loader):
    b = few("math", pool_loader)
    assert b.stop_strings == ("\n\nProblem:",)
    # the stop string separates blocks, and never occurs inside an exemplar's solution
    assert all(b.stop_strings[0] not in e.solution for e in b.exemplars)
    assert PromptBuilder().stop_strings == ()


@pytest.mark.parametrize("chat", [False, True])
def test_few_shot_runs_through_the_sampler(chat, pool_loader, chat_tokenizer, tmp_path):
    """Few-shot baselines use the generator's engine, runner and candidate store unchanged."""
    from mathft.models.tiny import build_tiny_model
    from mathft.records import Problem
    from mathft.sampling.engine import SamplingParams
    from mathft.sampling.hf import HFEngine
    from mathft.sampling.runner import sample_to_store
    from mathft.sampling.store import CandidateStore

    b = few("prm800k", pool_loader, k=2, chat=chat)
    tok = chat_tokenizer
    engine = HFEngine(build_tiny_model(tok, seed=0).eval(), tok)
    params = SamplingParams(n=2, max_new_tokens=4, batch_size=4, stop=b.stop_strings)
    probs = [Problem("test/a/1.json", "What is $1+1$?", "2"), Problem("test/a/2.json", "Is 7 prime?",
                                                                          "yes")]
    store = CandidateStore(tmp_path / "c.jsonl", config_hash="h", model_id="tiny",
                           sampling=params.to_dict())
    stats = sample_to_store(engine, probs, store, params, prompt_fn=b.prompt_fn(tok),
                            progress=False)
    assert stats.generated == 4 and len(store.load()) == 4

"""Prompt construction: the one function every sampler calls to turn a problem into model input.

Three kinds (config group ``prompt``):

* ``ssft`` -- the plain SSFT template (docs/method.md#ssft), ``format_prompt(problem, template)``: the exact
  string the SSFT collator tokenizes, so a fine-tuned generator is sampled with the prompt it was
  trained on. Never wrapped in a chat template.
* ``zero_shot`` -- optional instruction (e.g. "put the final answer in \\boxed{}") plus the
  problem; plain text for base models, or the tokenizer's chat template for instruct models.
* ``few_shot`` -- the paper's "few-shot, no fine-tuning" baseline (Table 2) and its exemplar
  style ablation (Table 5): ``k`` worked exemplars drawn deterministically (``seed``) from the
  TRAINING split, rendered in MATH style (``\\boxed{}`` in prose) or PRM800K style (steps, then
  ``# Answer``), target problem last. Plain mode joins "Problem:/Solution:" blocks; chat mode
  makes the exemplars alternating user/assistant turns.

Exemplar selection (:func:`select_exemplars`): candidates are training solutions whose final answer
the grader extracts, whose problem is not in MATH500 (normalized text, the data layer's guard),
and whose problem + solution is at most ``max_exemplar_chars`` characters (short prompts keep CPU
runs cheap). With ``match_problems`` the candidates are restricted to problems that have a
solution in BOTH styles, so that MATH-style and PRM800K-style prompts with the same seed show the
same problems in the same order and differ only in solution style.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from mathft.data.mixtures import build_ssft_examples
from mathft.data.splits import math500_keys, normalize_problem_text
from mathft.data.templates import SSFT_PROMPT, format_prompt
from mathft.grading.extract import extract_answer
from mathft.records import Problem, SolutionExample

log = logging.getLogger(__name__)

__all__ = [
    "KINDS", "STYLES", "PromptBuilder", "build_prompt_builder", "load_exemplar_pool",
    "select_exemplars",
]

KINDS = ("ssft", "zero_shot", "few_shot")
STYLES = ("math", "prm800k")
DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""Zero-shot instruction for instruct models (MATH style answer marker)."""


@lru_cache(maxsize=1)
def _math500_keys() -> frozenset[str]:
    return math500_keys()


@lru_cache(maxsize=8)
def _cached_pool(style: str, split: str, split_seed: int) -> tuple[SolutionExample, ...]:
    return tuple(build_ssft_examples(style, split, seed=split_seed))


def load_exemplar_pool(style: str, split: str = "train", split_seed: int = 0) -> list[SolutionExample]:
    """SSFT solutions of one style from the paper split (``train`` or ``val``; never test).

    MATH style: the MATH solutions of the 11,000-problem training split; PRM800K style: the
    PRM800K SSFT solutions (docs/data.md#prm800k-conversion) of the same split (``split_seed`` = the data split's seed).
    """
    if style not in STYLES:
        raise ValueError(f"prompt.style={style!r}; expected one of {STYLES}")
    if split not in ("train", "val"):
        raise ValueError(
            f"prompt.exemplar_split={split!r}: exemplars come from the training split "
            "('train', or 'val'), never from the test set (MATH500)"
        )
    return list(_cached_pool(style, split, split_seed))


@lru_cache(maxsize=65536)
def _usable_key(problem: str, solution: str) -> str | None:
    """Normalized problem text, or None when the grader finds no answer in ``solution``."""
    return normalize_problem_text(problem) if extract_answer(solution) is not None else None


def _eligible(
    pool: Sequence[SolutionExample], max_chars: int | None, forbidden: frozenset[str]
) -> dict[str, SolutionExample]:
    """Normalized problem -> shortest usable exemplar (answer extractable, not in MATH500)."""
    out: dict[str, SolutionExample] = {}
    for ex in pool:
        size = len(ex.problem) + len(ex.solution)
        if max_chars is not None and size > max_chars:
            continue
        key = _usable_key(ex.problem, ex.solution)
        if key is None or key in forbidden:
            continue
        old = out.get(key)
        if old is None or (size, ex.uid) < (len(old.problem) + len(old.solution), old.uid):
            out[key] = ex
    return out


def select_exemplars(
    pools: Mapping[str, Sequence[SolutionExample]],
    style: str,
    k: int,
    *,
    seed: int = 0,
    max_chars: int | None = 800,
    match_problems: bool = True,
    forbidden: frozenset[str] | None = None,
) -> list[SolutionExample]:
    """Draw ``k`` exemplars of ``style`` from ``pools[style]``, deterministically by ``seed``.

    Candidates are sorted by normalized problem text before the seeded draw, so the result does
    not depend on pool order. With ``match_problems`` (and every style of :data:`STYLES` in
    ``pools``) only problems with an eligible solution in every style are drawn; if fewer than
    ``k`` exist the rest is filled from the style's own pool (with a warning). Raises
    ``ValueError`` when the style's pool has fewer than ``k`` eligible solutions.
    """
    if k < 0:
        raise ValueError(f"prompt.k must be >= 0, got {k}")
    if style not in pools:
        raise ValueError(f"no exemplar pool for style {style!r}; have {sorted(pools)}")
    forbidden = _math500_keys() if forbidden is None else forbidden
    own = _eligible(pools[style], max_chars, forbidden)
    if len(own) < k:
        raise ValueError(
            f"only {len(own)} {style}-style training solutions are usable as exemplars "
            f"(max_exemplar_chars={max_chars}, answer extractable, not in MATH500) but k={k}: "
            "raise prompt.max_exemplar_chars or lower prompt.k"
        )
    rng = random.Random(seed)
    chosen: list[str] = []
    if match_problems and all(s in pools for s in STYLES):
        others = [_eligible(pools[s], max_chars, forbidden) for s in STYLES if s != style]
        shared = sorted(key for key in own if all(key in o for o in others))
        chosen = rng.sample(shared, min(k, len(shared)))
        if len(chosen) < k:
            log.warning(
                "only %d problems have short solutions in every style; %d %s exemplar(s) are "
                "not shared across styles", len(shared), k - len(chosen), style,
            )
    rest = sorted(key for key in own if key not in set(chosen))
    chosen += rng.sample(rest, k - len(chosen))
    return [own[key] for key in chosen]


@dataclass
class PromptBuilder:
    """Turns a problem into the model's input text (config group ``prompt``).

    Keys: ``kind`` (ssft | zero_shot | few_shot); ``template`` (the "Problem:/Solution:" frame,
    default :data:`~mathft.data.templates.SSFT_PROMPT`); ``chat`` (render through the tokenizer's
    chat template; instruct models); ``system`` (chat system message, None = the template's
    default); ``instruction`` (appended to each user problem; zero-shot/few-shot only);
    few-shot only: ``k``, ``style`` (math | prm800k), ``exemplar_split`` (train | val),
    ``split_seed`` (seed of the paper split the pool comes from), ``seed`` (exemplar draw),
    ``max_exemplar_chars``, ``match_problems``, ``separator`` (between plain-text blocks).
    """

    kind: str = "ssft"
    template: str = SSFT_PROMPT
    chat: bool = False
    system: str | None = None
    instruction: str = ""
    k: int = 4
    style: str = "math"
    exemplar_split: str = "train"
    split_seed: int = 0
    seed: int = 0
    max_exemplar_chars: int | None = 800
    match_problems: bool = True
    separator: str = "\n\n"
    pool_loader: Callable[[str, str], Sequence[SolutionExample]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"prompt.kind={self.kind!r}; expected one of {KINDS}")
        if self.style not in STYLES:
            raise ValueError(f"prompt.style={self.style!r}; expected one of {STYLES}")
        if "{problem}" not in self.template:
            raise ValueError(f"prompt.template={self.template!r} has no '{{problem}}' field")
        if self.kind == "ssft" and (self.chat or self.instruction):
            raise ValueError(
                "prompt.kind=ssft samples with the exact SSFT training prompt: set chat=false "
                "and instruction='' (use kind=zero_shot for instruct models)"
            )
        if self.kind == "few_shot" and self.k < 1:
            raise ValueError(f"prompt.k={self.k}: few_shot needs k >= 1 (use kind=zero_shot)")
        self._exemplars: list[SolutionExample] | None = None

    # ---- exemplars -------------------------------------------------------------------------
    @property
    def exemplars(self) -> list[SolutionExample]:
        """The few-shot exemplars (empty for other kinds), selected once and cached."""
        if self.kind != "few_shot":
            return []
        if self._exemplars is None:
            styles = STYLES if self.match_problems else (self.style,)
            if self.pool_loader is not None:
                pools = {s: self.pool_loader(s, self.exemplar_split) for s in styles}
            else:
                pools = {s: load_exemplar_pool(s, self.exemplar_split, self.split_seed)
                         for s in styles}
            self._exemplars = select_exemplars(
                pools, self.style, self.k, seed=self.seed,
                max_chars=self.max_exemplar_chars, match_problems=self.match_problems,
            )
        return list(self._exemplars)

    # ---- rendering -------------------------------------------------------------------------
    def _user(self, problem: str) -> str:
        return f"{problem}\n\n{self.instruction}" if self.instruction else problem

    def _plain(self, problem: str) -> str:
        blocks = [self._frame(ex.problem) + " " + ex.solution for ex in self.exemplars]
        blocks.append(self._frame(problem))
        return self.separator.join(blocks)

    def _frame(self, problem: str) -> str:
        return format_prompt(self._user(problem), self.template)

    def messages(self, problem: str) -> list[dict[str, str]]:
        """Chat messages: optional system, exemplars as user/assistant turns, then the problem."""
        msgs = [] if self.system is None else [{"role": "system", "content": self.system}]
        for ex in self.exemplars:
            msgs.append({"role": "user", "content": self._user(ex.problem)})
            msgs.append({"role": "assistant", "content": ex.solution})
        msgs.append({"role": "user", "content": self._user(problem)})
        return msgs

    def build(self, problem: str, tokenizer: Any = None) -> str:
        """The model's input text for ``problem`` (chat mode needs ``tokenizer``)."""
        if self.kind == "ssft":
            return format_prompt(problem, self.template)
        if not self.chat:
            return self._plain(problem)
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "prompt.chat=true needs a tokenizer with a chat template (instruct model); "
                "use chat=false for base models"
            )
        return tokenizer.apply_chat_template(
            self.messages(problem), tokenize=False, add_generation_prompt=True
        )

    def prompt_fn(self, tokenizer: Any = None) -> Callable[[Problem], str]:
        """``Problem -> prompt`` for :func:`mathft.sampling.runner.sample_to_store`."""
        return lambda problem: self.build(problem.problem, tokenizer)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Strings at which a plain few-shot continuation starts a new exemplar block (add them
        to ``SamplingParams.stop``)."""
        if self.kind == "few_shot" and not self.chat:
            head = self.template.split("{problem}", 1)[0].rstrip()
            return (self.separator + head,) if head else ()
        return ()

    def identity(self) -> dict[str, Any]:
        """JSON-ready description (config + exemplar uids), for candidate-store metadata."""
        d = {k: v for k, v in asdict(self).items() if k != "pool_loader"}
        d["exemplar_uids"] = [ex.uid for ex in self.exemplars]
        return d


def build_prompt_builder(cfg: Mapping[str, Any] | None = None, **overrides: Any) -> PromptBuilder:
    """A :class:`PromptBuilder` from a ``prompt`` config (``_target_`` ignored); None = ssft."""
    kw = {str(k): v for k, v in dict(cfg or {}).items() if not str(k).startswith("_")}
    kw.update(overrides)
    known = set(PromptBuilder.__dataclass_fields__)
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ValueError(f"unknown prompt config key(s) {unknown}; known: {sorted(known)}")
    return PromptBuilder(**kw)

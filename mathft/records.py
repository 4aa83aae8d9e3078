"""Records that flow between the pipeline's stages (docs/design.md#data-flow).

Each stage reads and writes these plain dataclasses; on disk they are JSON lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One math problem with its gold final answer (docs/data.md#sources).

    ``uid`` follows the MATH/PRM800K convention (``test/precalculus/807.json``) for
    MATH-derived sources and ``gsm8k/<split>/<index>`` for GSM8K.
    """

    uid: str
    problem: str
    answer: str | None
    solution: str | None = None
    source: str = "math"
    level: int | None = None
    subject: str | None = None


@dataclass(frozen=True)
class SolutionExample:
    """A supervised step-by-step solution (SSFT target, docs/method.md#ssft).

    ``solution`` is kept in its source style: MATH prose with ``\\boxed{}``, or PRM800K
    steps ending with ``# Answer\\n\\n<answer>``. ``style`` names which.
    """

    uid: str
    problem: str
    solution: str
    answer: str
    style: str  # "math" | "prm800k" | "gsm8k"
    source: str


@dataclass
class Candidate:
    """One sampled solution for one problem: a row of the candidate store (docs/design.md#stores)."""

    problem_id: str
    sample_idx: int
    text: str
    answer: str | None
    correct: bool
    model_id: str
    sampling: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    n_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample_idx)

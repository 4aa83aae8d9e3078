"""Lightning callbacks: the multi-task sequential stage switcher (SPEC §4)."""

from mathft.callbacks.sequential import (
    CandidateSampling,
    SequentialStages,
    StageLoader,
    evaluator_loader_factory,
)

__all__ = ["CandidateSampling", "SequentialStages", "StageLoader", "evaluator_loader_factory"]

"""Lightning callbacks: the multi-task sequential stage switcher (docs/method.md#sequential-multi-task-fine-tuning)."""

from mathft.callbacks.sequential import (
    CandidateSampling,
    SequentialStages,
    StageLoader,
    evaluator_loader_factory,
)

__all__ = ["CandidateSampling", "SequentialStages", "StageLoader", "evaluator_loader_factory"]

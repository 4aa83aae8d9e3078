"""Sampling: decoding engines (HF generate, vLLM) and the candidate/score stores (docs/method.md#decoding, docs/design.md#stores)."""

from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingEngine,
    SamplingParams,
    answer_end,
    make_engine,
    sample_seed,
)
from mathft.sampling.hashing import config_hash
from mathft.sampling.store import CandidateStore, ScoreStore, StoreError, score_path

__all__ = [
    "CandidateStore",
    "Generation",
    "Request",
    "SamplingEngine",
    "SamplingParams",
    "ScoreStore",
    "StoreError",
    "answer_end",
    "config_hash",
    "make_engine",
    "sample_seed",
    "score_path",
]

"""Sampling: decoding engines (HF generate, vLLM) and the candidate/score stores (docs/method.md#decoding, docs/design.md#stores).

Engines are built by :func:`mathft.sampling.factory.make_engine`, not exported here: the
factory imports torch and transformers, and this package is imported by light code (the
stores, for planning).
"""

from mathft.sampling.engine import (
    Generation,
    Request,
    SamplingEngine,
    SamplingParams,
    answer_end,
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
    "sample_seed",
    "score_path",
]

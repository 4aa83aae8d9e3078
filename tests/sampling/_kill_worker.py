"""Subprocess for the SIGKILL test: sample many problems into a store, slowly, until killed."""

from __future__ import annotations

import sys

from transformers import AutoModelForCausalLM, AutoTokenizer

from mathft.records import Problem
from mathft.sampling.engine import SamplingParams
from mathft.sampling.hashing import config_hash
from mathft.sampling.hf import HFEngine
from mathft.sampling.runner import sample_to_store
from mathft.sampling.store import CandidateStore

PARAMS = SamplingParams(n=2, max_new_tokens=4, batch_size=2, seed=3)
PROBLEMS = [
    Problem(uid=f"kill/{i}", problem=f"What is {i} + {i}?", answer=str(2 * i)) for i in range(40)
]
HASH = config_hash({"model": "tiny", "sampling": PARAMS.identity()})


def main(model_dir: str, store_path: str) -> None:
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    store = CandidateStore(store_path, config_hash=HASH, model_id="tiny", sampling=PARAMS.to_dict())
    sample_to_store(HFEngine(model, tok), PROBLEMS, store, PARAMS, model_id="tiny", progress=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Subprocess for the scoring SIGKILL test: score a fixed candidate store with the tiny
evaluator (random init, fixed seed) into ``<dir>/scores.jsonl``; resumable."""

from __future__ import annotations

import sys
from pathlib import Path

from mathft.models.loading import load_model_and_tokenizer
from mathft.records import Candidate, Problem
from mathft.sampling.scoring import score_store
from mathft.sampling.store import CandidateStore, ScoreStore

PROBLEMS = [Problem(uid=f"p{i}", problem=f"Compute {i} * {i + 3}.", answer=str(i * (i + 3)))
            for i in range(30)]


def candidates() -> list[Candidate]:
    out = []
    for p in PROBLEMS:
        for j in range(4):
            ans = str(int(p.answer) + j % 2)
            text = f"We multiply step by step. {' '.join(['Then'] * (5 + 7 * j))} \\boxed{{{ans}}}"
            out.append(Candidate(problem_id=p.uid, sample_idx=j, text=text, answer=ans,
                                 correct=j % 2 == 0, model_id="tiny", sampling={},
                                 config_hash="faults", n_tokens=len(text) // 4))
    return out


def main(out_dir: str) -> None:
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    cstore = CandidateStore(d / "candidates.jsonl", config_hash="faults", model_id="tiny",
                            sampling={})
    todo = [c for c in candidates() if c.key not in cstore.existing_keys()]
    if todo:
        cstore.append(todo)
    model, tok = load_model_and_tokenizer("tiny", padding_side="left")
    model.eval()
    score_store(model, tok, cstore, PROBLEMS, ScoreStore(d / "scores.jsonl", "tiny-eval"),
                batch_size=2, max_length=256, progress=False)


if __name__ == "__main__":
    main(sys.argv[1])

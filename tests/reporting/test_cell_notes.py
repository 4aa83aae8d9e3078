"""Every printed cell table says what its rows mean, one line each."""

from __future__ import annotations

from mathft.runs.report import cell_tables


def _row(**extra: object) -> dict[str, object]:
    return {"accuracy": 0.5, "accuracy_lo": 0.1, "accuracy_hi": 0.9, "n_problems": 4, **extra}


def test_each_row_has_a_meaning_line() -> None:
    rerank = {name: _row(strategy=strat, cost_ratio=0.3, vs_maj1=0.1, vs_maj1_lo=-0.1,
                         vs_maj1_hi=0.2)
              for name, strat in [("Maj1", "maj1"), ("RR.All", "rr_all"), ("RR.Top-2", "rr_topk"),
                                  ("W.RR", "wrr"), ("W.RR.Top-2", "wrr_topk"),
                                  ("Maj1.Top2", "maj1_topn"), ("Maj2", "majk")]}
    metrics = {"n_samples": 16, "n_problems": 4, "selection": {}, "rerank": rerank,
               "generation": {"Pass@1": _row(), "Pass@N": _row(), "Maj1@N": _row(),
                              "Maj2@N": _row()}}
    gen, rr = cell_tables(metrics, "demo")
    assert [n.split(":")[0] for n in gen.notes] == ["Pass@1", "Pass@16", "Maj1@16", "Maj2@16"]
    assert "2 most voted" in gen.notes[-1]
    heads = [n.split(":")[0] for n in rr.notes]
    for head in ["Maj1", "RR.All", "RR.Top-K (SCR)", "W.RR", "W.RR.Top-K", "Maj1.TopN",
                 "MajK", "evaluator cost"]:
        assert head in heads

"""Evaluator-quality sweep (mathft.rerank.quality): synthetic evaluators of known AUC on stores
whose answer is known, the sweep's rows, table, plot and the Hydra entry's run()."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from rerank_util import make_pc

from mathft.rerank import evaluate_many, pass_at_k_metric
from mathft.rerank.quality import (
    auc_score,
    binormal_d,
    pooled_auc,
    quality_sweep,
    synthetic_scores,
    with_synthetic_scores,
    within_problem_auc,
)


def _problems(tag: str, m: int, n: int = 8, seed: int = 0) -> list:
    """m problems of n candidates; gold 'a' with a per-problem rate, wrong answers b/c/d/None."""
    rng = random.Random(seed)
    out = []
    for i in range(m):
        p = rng.random()
        ans = [("a" if rng.random() < p else rng.choice(["b", "b", "c", "d", None]))
               for _ in range(n)]
        out.append(make_pc(ans, problem_id=f"{tag}{i}"))
    return out


def test_auc_score_matches_definition() -> None:
    assert auc_score([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auc_score([0.5, 0.5], [0, 1]) == pytest.approx(0.5)  # ties count one half
    assert np.isnan(auc_score([0.1, 0.2], [1, 1]))
    assert binormal_d(0.5) == 0.0 and binormal_d(1.0) == float("inf")
    with pytest.raises(ValueError):
        binormal_d(0.0)


@pytest.mark.parametrize("target", [0.6, 0.75, 0.9])
def test_realised_auc_within_tolerance(target: float) -> None:
    probs = _problems("t", 300, n=16)  # ~4800 candidates: AUC standard error ~0.01
    aucs = [pooled_auc(with_synthetic_scores(probs, target, s)) for s in range(3)]
    assert abs(float(np.mean(aucs)) - target) < 0.02, aucs


def test_scores_seeded_per_problem_and_in_range() -> None:
    probs = _problems("t", 20)
    a = with_synthetic_scores(probs, 0.7, seed=3)
    b = with_synthetic_scores(probs[5:], 0.7, seed=3)  # other problems do not change a problem's
    assert [pc.scores for pc in a[5:]] == [pc.scores for pc in b]
    assert synthetic_scores(probs[0], 0.7, 3) != synthetic_scores(probs[0], 0.7, 4)
    assert all(0.0 <= s <= 1.0 for pc in a for s in pc.scores)
    perfect = with_synthetic_scores(probs, 1.0, seed=0)
    assert pooled_auc(perfect) == 1.0 and within_problem_auc(perfect) == 1.0
    assert abs(within_problem_auc(with_synthetic_scores(_problems("t", 300, 16), 0.8)) - 0.8) < 0.03
    assert [pc.clusters for pc in a] == [pc.clusters for pc in probs]  # only the scores change


def test_perfect_evaluator_rr_all_is_pass_at_n() -> None:
    test, val = _problems("t", 40), _problems("v", 20, seed=1)
    sw = quality_sweep(test, val, aucs=[1.0], n_seeds=2, k_grid=[1, 2, 8], n_boot=100)
    pt = sw.points[0]
    pass_n = sw.references["Pass@N"]
    assert np.array_equal(pt.results["RR.All"].correct, pass_n.correct)
    assert pt.realised_auc == [1.0, 1.0]
    # a perfect evaluator re-ranks better than majority vote wherever a correct answer exists
    assert pt.results["RR.All"].accuracy >= sw.maj1.accuracy
    row = next(r for r in sw.rows() if r["target_auc"] == 1.0 and r["strategy"] == "RR.All")
    assert row["accuracy"] == pytest.approx(pass_n.accuracy) and row["cost_ratio"] == 1.0


def test_uninformative_evaluator_rr_all_is_a_random_pick() -> None:
    test = _problems("t", 150)
    sw = quality_sweep(test, None, aucs=[0.5], n_seeds=12, strategies=["rr_all"], n_boot=100)
    rr_all = sw.points[0].results["RR.All"].accuracy
    random_pick = pass_at_k_metric(test, k=1).accuracy
    assert abs(rr_all - random_pick) < 0.04, (rr_all, random_pick)


def test_k_chosen_on_validation_only() -> None:
    val = _problems("v", 30, seed=1)
    t1, t2 = _problems("t", 30, seed=2), _problems("u", 30, seed=3)
    kw = {"aucs": [0.6, 0.9], "n_seeds": 2, "k_grid": [1, 2, 4], "n_boot": 50,
          "strategies": ["rr_topk", {"name": "rr_topk", "k": 2}]}
    s1, s2 = quality_sweep(t1, val, **kw), quality_sweep(t2, val, **kw)
    assert [p.chosen for p in s1.points] == [p.chosen for p in s2.points]
    assert s1.labels == ["RR.Top-K", "RR.Top-2"]
    with pytest.raises(ValueError, match="validation"):
        quality_sweep(t1, None, aucs=[0.7], strategies=["rr_topk"])


def test_rows_breakeven_table_and_plot(tmp_path: Path) -> None:
    from mathft.reporting.quality_plot import plot_quality, quality_table
    from mathft.reporting.tables import to_csv, to_markdown

    test, val = _problems("t", 40), _problems("v", 20, seed=1)
    sw = quality_sweep(test, val, aucs=[0.5, 0.75, 1.0], n_seeds=2, k_grid=[1, 2, 4], n_boot=100)
    rows = sw.rows()
    assert len(rows) == 3 + 3 * 4
    for r in rows:
        assert r["accuracy_lo"] - 1e-9 <= r["accuracy"] <= r["accuracy_hi"] + 1e-9
        if r["target_auc"] is not None:
            assert r["vs_maj1_lo"] <= r["vs_maj1"] <= r["vs_maj1_hi"]
            assert r["n_seeds"] == 2 and 0.0 <= r["cost_ratio"] <= 1.0
    # seed-averaged per-problem values: accuracy = mean of the seeds' accuracies
    pt = sw.points[1]
    assert pt.results["W.RR"].accuracy == pytest.approx(np.mean(pt.seed_accuracy["W.RR"]))
    maj1 = evaluate_many(test, ["maj1"])[0]
    assert sw.maj1.accuracy == maj1.accuracy
    be = sw.breakeven()
    assert set(be) == {"RR.All", "RR.Top-K", "W.RR", "W.RR.Top-K"}
    assert be["RR.All"]["point"] is not None and 0.5 <= be["RR.All"]["point"] <= 1.0
    table = quality_table(rows, notes=["n"])
    assert len(table.rows) == 3 and "RR.Top-K − Maj1" in table.columns
    assert "Maj1" in to_markdown(table) and to_csv(table).count("\n") == 4
    png = plot_quality(rows, tmp_path / "q.png", marks={"xent": 0.61, "margin": 0.66})
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_from_store_files(tmp_path: Path) -> None:
    """The Hydra entry's run() on candidate-store files (stores.test / stores.val / scores)."""
    from hydra import compose, initialize_config_dir

    from mathft.records import Candidate
    from mathft.runs.lifecycle import CONF_DIR, Loggers
    from mathft.runs.quality import run
    from mathft.sampling.store import CandidateStore, ScoreStore

    num = {"a": "12", "b": "7", "c": "3", "d": "5", None: None}  # numbers: fast to cluster

    def write(name: str, probs: list) -> Path:
        store = CandidateStore(tmp_path / name / "candidates.jsonl", config_hash="h", model_id="m")
        store.append(Candidate(pc.problem_id, i, "x", num[a], c, "m", config_hash="h")
                     for pc in probs for i, (a, c) in enumerate(zip(pc.answers, pc.correct)))
        return store.path

    test, val = _problems("t", 12, n=4), _problems("v", 6, n=4, seed=1)
    t_path, v_path = write("test", test), write("val", val)
    ScoreStore(tmp_path / "s.jsonl", "ev").append(
        (pc.problem_id, i, float(c)) for pc in test for i, c in enumerate(pc.correct))
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "experiment=evaluator_quality", "logger=csv", f"stores.test={t_path}",
            f"stores.val={v_path}", f"stores.test_scores={tmp_path / 's.jsonl'}",
            "quality.aucs=[0.5,1.0]", "quality.n_seeds=2", "rerank.n_boot=50",
            "rerank.k_grid=[1,2]", "+quality.mark_auc.xent=0.61"])
    out = tmp_path / "out"
    out.mkdir()
    m = run(cfg, Loggers(None), out)
    for f in ("evaluator_quality.md", "evaluator_quality.csv", "evaluator_quality.json",
              "evaluator_quality.png", "metrics.json"):
        assert (out / f).is_file(), f
    assert m["marks"] == {"xent": 0.61, "trained (test AUC)": 1.0}
    assert m["trained"]["RR.All"] == pytest.approx(m["rows"][1]["accuracy"])  # = Pass@N
    assert m["trained"]["within_problem_auc"] == 1.0
    assert m["n_problems"] == 12 and m["n_val_problems"] == 6 and m["n_samples"] == 4


def test_store_without_correct_candidates(recwarn: pytest.WarningsRecorder) -> None:
    test = [make_pc(["b", "c", "b", None], problem_id=f"t{i}") for i in range(5)]
    sw = quality_sweep(test, test, aucs=[0.5, 1.0], n_seeds=2, k_grid=[1, 2], n_boot=20)
    rows = [r for r in sw.rows() if r["target_auc"] is not None]
    assert all(r["accuracy"] == 0.0 and np.isnan(r["realised_auc"]) for r in rows)
    assert sw.breakeven()["RR.All"]["point"] is None
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_wandb_logs_numbers() -> None:
    from mathft.reporting.quality_plot import wandb_quality

    class Run:
        def __init__(self) -> None:
            self.logged: dict = {}

        def log(self, d: dict) -> None:
            self.logged.update(d)

    sw = quality_sweep(_problems("t", 10), None, aucs=[0.5, 1.0], n_seeds=1,
                       strategies=["rr_all"], n_boot=20)
    run = Run()
    wandb_quality(sw.rows(), run)
    table = run.logged["tables/evaluator_quality"]
    assert len(table.data) == 3 + 2
    assert all(isinstance(row[2], float) for row in table.data)  # accuracy: a number
    assert "plots/evaluator_quality" in run.logged

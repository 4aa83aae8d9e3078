"""The real CLI end to end on a tiny random model: multirun, step reuse, failures, W&B, evaluate.

Every run shares the session's step cache (``tiny_sweep``), so all but the first run reuse
its generator, samples and evaluators and stay fast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline_cli import TINY, Sweep, cli, env, results, step_dirs, tail

TABLE_EXTS = ("md", "csv", "tex", "json")


def test_sweep_runs_every_job_and_writes_tables(tiny_sweep: Sweep) -> None:
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    assert len(tiny_sweep.jobs) == 2, tiny_sweep.jobs
    for i, job in enumerate(tiny_sweep.jobs):
        assert not (job / "failed.json").exists()
        m = tiny_sweep.metrics(i)
        assert m["n_problems"] == 3 and m["n_samples"] == 2
        assert set(m["generation"]) == {"Pass@1", "Pass@N", "Maj1@N", "Maj2@N"}
        assert m["rerank"], "scored cell without re-ranking rows"
        for table in ("generation", "rerank", "evaluator"):
            for ext in TABLE_EXTS:
                f = job / f"{table}.{ext}"
                assert f.is_file() and f.stat().st_size > 0, f
        assert (job / "figure1.png").is_file() and (job / "calibration.png").is_file()
        ev = m["evaluator"]  # the evaluator on the test candidates, and what it trained on
        assert ev["n_candidates"] == 3 * 2 and ev["train"]["counts"]["problems"] > 0
        # the generator's and the evaluator's validation curves (their DONE.json val_history)
        assert (job / "curves.png").is_file()
        assert set(m["curves"]) == {"generator", "evaluator"}
        assert all("val/loss" in p and p["step"] > 0 for p in m["curves"]["generator"])
    cells = [tiny_sweep.metrics(i)["cell"]["overrides"] for i in (0, 1)]
    assert "objective.normalize=vocab" in cells[0] and "objective.normalize=pair" in cells[1]


def test_sweep_computes_shared_steps_once(tiny_sweep: Sweep) -> None:
    """Both cells share one generator and one set of samples; each has its own evaluator."""
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    dirs = step_dirs(tiny_sweep.cache)
    assert len(dirs["generator"]) == 1
    for name in ("samples_test", "samples_test_greedy", "samples_val", "samples_evaluator_train"):
        assert len(dirs[name]) == 1, name
    assert len(dirs["evaluator"]) == 2
    assert len(dirs["scores"]) == 4  # (test, val) x 2 evaluators
    log1 = (tiny_sweep.jobs[1] / "pipeline.log").read_text()
    assert "generator: reusing" in log1
    assert "sample[test]: reusing" in log1
    g0, g1 = (tiny_sweep.metrics(i)["cell"]["generator"] for i in (0, 1))
    e0, e1 = (tiny_sweep.metrics(i)["cell"]["evaluator"] for i in (0, 1))
    assert g0 == g1 and e0 != e1
    for i in (0, 1):  # which weights the generator exported (generator.select: last by default)
        cell = tiny_sweep.metrics(i)["cell"]
        assert (cell["select"], cell["selected"]) == ("last", "last")
    assert set(tiny_sweep.metrics(0)["generation"]) == set(tiny_sweep.metrics(1)["generation"])
    for name, row in tiny_sweep.metrics(0)["generation"].items():  # same samples, same metrics
        assert row["accuracy"] == tiny_sweep.metrics(1)["generation"][name]["accuracy"]


def test_rerun_reuses_every_step(tiny_sweep: Sweep, tmp_path: Path) -> None:
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    before = step_dirs(tiny_sweep.cache)
    out = tmp_path / "run"
    proc = cli("mathft.pipeline", [*TINY, "objective.normalize=vocab",
                                   f"run.cache_dir={tiny_sweep.cache}", f"hydra.run.dir={out}"],
               tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    assert step_dirs(tiny_sweep.cache) == before
    log = (out / "pipeline.log").read_text()
    for name in ("generator", "evaluator", "sample[test]", "sample[test_greedy]", "sample[val]"):
        assert f"{name}: reusing" in log, name
    assert "Trainer.fit" not in proc.stdout + proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert results(m) == results(tiny_sweep.metrics(0))
    assert m["cell"]["evaluator"] == tiny_sweep.metrics(0)["cell"]["evaluator"]


def test_failed_job_recorded_others_finish_multirun_fails(tiny_sweep: Sweep,
                                                          tmp_path: Path) -> None:
    """One cell fails at run time: failed.json in its dir, the other finishes, exit != 0."""
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    sweep_dir = tmp_path / "multirun"
    proc = cli("mathft.pipeline",
               ["-m", *TINY, "objective.normalize=vocab", "eval.test.name=nonexistent,math500",
                f"run.cache_dir={tiny_sweep.cache}", f"hydra.sweep.dir={sweep_dir}"],
               tmp_path, timeout=300)
    assert proc.returncode != 0, tail(proc)
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 2
    bad, good = jobs
    assert "eval.test.name=nonexistent" in (bad / ".hydra" / "overrides.yaml").read_text()
    assert "eval.test.name=math500" in (good / ".hydra" / "overrides.yaml").read_text()
    failed = json.loads((bad / "failed.json").read_text())
    assert "nonexistent" in failed["error"] and "Traceback" in failed["traceback"]
    assert not (bad / "metrics.json").exists()
    assert (good / "metrics.json").is_file() and not (good / "failed.json").exists()
    assert results(json.loads((good / "metrics.json").read_text())) == \
        results(tiny_sweep.metrics(0))
    assert "1 job(s) of the multirun failed" in proc.stdout + proc.stderr


def test_single_run_failure_exits_nonzero(tiny_sweep: Sweep, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("mathft.pipeline", [*TINY, "eval.test.name=nonexistent",
                                   f"run.cache_dir={tiny_sweep.cache}", f"hydra.run.dir={out}"],
               tmp_path, timeout=300)
    assert proc.returncode != 0
    assert "nonexistent" in proc.stderr
    assert (out / "failed.json").is_file()


def test_wandb_run_writes_tables_and_is_finished(tiny_sweep: Sweep, tmp_path: Path) -> None:
    """logger=wandb (offline): table files in the run dir, an offline W&B run, finished."""
    out = tmp_path / "run"
    args = [*TINY, "logger=wandb", "objective.normalize=vocab",
            f"run.cache_dir={tiny_sweep.cache}", f"hydra.run.dir={out}"]
    code = ("import sys, wandb\n"
            f"sys.argv = ['mathft.pipeline', *{args!r}]\n"
            "from mathft.pipeline import main\n"
            "main()\n"
            "print('WANDB_RUN_AFTER', wandb.run)\n")
    proc = cli_code(code, tmp_path)
    assert proc.returncode == 0, tail(proc)
    assert "WANDB_RUN_AFTER None" in proc.stdout
    for table in ("generation", "rerank", "by_level", "evaluator"):
        for ext in TABLE_EXTS:
            assert (out / f"{table}.{ext}").is_file()
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list(out.rglob("*"))
    assert list(runs[0].glob("*.wandb")), "no offline W&B data"
    # media files are named <table>_<step>_<hash>.table.json
    logged = {p.name.rsplit("_", 2)[0]
              for p in runs[0].glob("files/media/table/tables/*.table.json")}
    assert logged == {"generation", "rerank", "by_level", "evaluator"}
    assert results(json.loads((out / "metrics.json").read_text())) == \
        results(tiny_sweep.metrics(0))


def test_evaluate_from_stores_prints_tables(tiny_sweep: Sweep, tmp_path: Path) -> None:
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    c = tiny_sweep.cache
    # copies under other names: the given files are read, not <their dir>/candidates.jsonl
    test, greedy = tmp_path / "stores" / "test.jsonl", tmp_path / "stores" / "greedy.jsonl"
    test.parent.mkdir()
    shutil.copy(next((c / "samples_test").iterdir()) / "candidates.jsonl", test)
    shutil.copy(next((c / "samples_test_greedy").iterdir()) / "candidates.jsonl", greedy)
    out = tmp_path / "eval"
    proc = cli("mathft.evaluate", [*TINY, f"stores.test={test}", f"stores.greedy={greedy}",
                                   f"run.cache_dir={tmp_path / 'empty_cache'}",
                                   f"hydra.run.dir={out}"], tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    assert "Pass@1" in proc.stdout and "Maj1@2" in proc.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["generation"] == tiny_sweep.metrics(0)["generation"]
    assert not (tmp_path / "empty_cache").exists(), "evaluate from stores ran pipeline steps"
    for ext in TABLE_EXTS:
        assert (out / f"generation.{ext}").is_file()


def test_evaluate_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "candidates.jsonl"
    proc = cli("mathft.evaluate", [*TINY, f"stores.test={missing}",
                                   f"run.cache_dir={tmp_path / 'cache'}"], tmp_path, timeout=120)
    assert proc.returncode != 0
    assert f"store {missing} does not exist" in proc.stderr


def cli_code(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -c <code>`` in ``cwd`` with the test environment."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env(cwd), capture_output=True,
                          text=True, timeout=300, check=False)


def test_train_and_sample_entry_points_reuse_the_pipeline_steps(tiny_sweep: Sweep,
                                                               tmp_path: Path) -> None:
    """mathft.train / mathft.sample on the pipeline's cache: same generator, same stores."""
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    before = step_dirs(tiny_sweep.cache)
    c = tiny_sweep.cache
    common = [*TINY, f"run.cache_dir={c}"]
    tr = cli("mathft.train", [*common, f"hydra.run.dir={tmp_path / 'train'}"], tmp_path,
             timeout=300)
    assert tr.returncode == 0, tail(tr)
    (gen,) = before["generator"]
    assert f"model: {c / 'generator' / gen / 'model'}" in tr.stdout
    sa = cli("mathft.sample", [*common, f"hydra.run.dir={tmp_path / 'sample'}"], tmp_path,
             timeout=300)
    assert sa.returncode == 0, tail(sa)
    (test,) = before["samples_test"]
    assert f"test: {c / 'samples_test' / test / 'candidates.jsonl'}" in sa.stdout
    assert step_dirs(c) == before


def test_evaluator_quality_on_the_cells_cached_stores(tiny_sweep: Sweep, tmp_path: Path) -> None:
    """``mathft.evaluate 'experiment=[smoke,evaluator_quality]'`` without stores: the cell's
    generator, samples and (trained_evaluator=true) evaluator and scores come from the cache."""
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    cache = tmp_path / "cache"
    shutil.copytree(tiny_sweep.cache, cache)
    before = step_dirs(cache)
    out = tmp_path / "quality"
    args = [a if a != "experiment=smoke" else "experiment=[smoke,evaluator_quality]"
            for a in TINY]
    proc = cli("mathft.evaluate", [*args, "objective.normalize=vocab",
                                   "quality.trained_evaluator=true", "quality.aucs=[0.5,1.0]",
                                   "quality.n_seeds=1", "quality.n_boot=20",
                                   f"run.cache_dir={cache}", f"hydra.run.dir={out}"],
               tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    m = json.loads((out / "metrics.json").read_text())
    assert m["source"]["test_scores"] and m["trained"] is not None
    assert step_dirs(cache) == before, "every step is reused"

"""Reuse you can trust: damaged finished steps are detected and recomputed, users' files and
finished stores are never rewritten, bad values fail before compute, the dry run tells what
would run, and a problem file of one's own works end to end.

The CLI tests run on a copy of the session's tiny-sweep cache (``tiny_sweep``), so only
what a test damages or changes is computed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline_cli import AUTO_PRECISION, OTHER_PRECISION, TINY, Sweep, cli, step_dirs, tail

ONE = [*TINY, "objective.normalize=vocab"]  # the sweep's first cell


def _copy_cache(sweep: Sweep, tmp: Path) -> Path:
    assert sweep.proc.returncode == 0, tail(sweep.proc)
    cache = tmp / "cache"
    shutil.copytree(sweep.cache, cache)
    return cache


def _only(cache: Path, name: str) -> Path:
    (d,) = [p for p in (cache / name).iterdir() if p.is_dir()]
    return d


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_damaged_finished_steps_are_detected_and_recomputed(tiny_sweep: Sweep,
                                                            tmp_path: Path) -> None:
    """A torn last line of a finished store, a deleted finished store, a deleted model/ of a
    finished generator: each is named, recomputed or resumed, and the tables are over all
    problems with equal N."""
    cache = _copy_cache(tiny_sweep, tmp_path)
    test = _only(cache, "samples_test") / "candidates.jsonl"
    data = test.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    test.write_bytes(data[: last + (len(data) - last) // 2])  # cut the last line in half
    (_only(cache, "samples_val") / "candidates.jsonl").unlink()
    shutil.rmtree(_only(cache, "generator") / "model")
    out = tmp_path / "run"
    proc = cli("mathft.pipeline", [*ONE, f"run.cache_dir={cache}", f"hydra.run.dir={out}"],
               tmp_path, timeout=900)
    assert proc.returncode == 0, tail(proc)
    log = (out / "pipeline.log").read_text()
    assert log.count("finished step is damaged") == 3, log
    assert "has 5 rows, its DONE record says 6" in log or "last line is incomplete" in log
    assert "candidates.jsonl is missing" in log and "model/config.json is missing" in log
    for name in ("samples_test", "samples_val"):
        d = _only(cache, name)
        rows = _rows(d / "candidates.jsonl")
        assert len(rows) == json.loads((d / "DONE.json").read_text())["rows"]
        assert len({(r["problem_id"], r["sample_idx"]) for r in rows}) == len(rows)
    assert (_only(cache, "generator") / "model" / "config.json").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_problems"] == 3 and m["n_samples"] == 2


def test_evaluate_never_rewrites_a_users_file(tiny_sweep: Sweep, tmp_path: Path) -> None:
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    user = tmp_path / "mine.jsonl"
    data = (_only(tiny_sweep.cache, "samples_test") / "candidates.jsonl").read_bytes()
    user.write_bytes(data[:-10])  # torn last line
    proc = cli("mathft.evaluate", [*TINY, f"stores.test={user}",
                                   f"hydra.run.dir={tmp_path / 'eval'}"], tmp_path, timeout=300)
    assert proc.returncode != 0
    assert f"{user}:6: the last line is incomplete" in proc.stderr, tail(proc)
    assert user.read_bytes() == data[:-10], "the user's file was modified"
    # a complete file with unequal N per problem is refused too (never mixed sample sizes)
    user.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])
    proc = cli("mathft.evaluate", [*TINY, f"stores.test={user}",
                                   f"hydra.run.dir={tmp_path / 'eval2'}"], tmp_path, timeout=300)
    assert proc.returncode != 0 and "different numbers of samples N [1, 2]" in proc.stderr


def test_dry_run_prints_the_plan_and_computes_nothing(tiny_sweep: Sweep, tmp_path: Path) -> None:
    cache = _copy_cache(tiny_sweep, tmp_path)
    before = step_dirs(cache)
    store = _only(cache, "samples_val") / "candidates.jsonl"
    store.write_bytes(store.read_bytes()[:-5])  # damaged: resumed, not recomputed
    proc = cli("mathft.pipeline", ["-m", *TINY, "objective.normalize=vocab,pair",
                                   f"trainer.precision={OTHER_PRECISION}", "run.dry_run=true",
                                   f"run.cache_dir={cache}",
                                   f"hydra.sweep.dir={tmp_path / 'multirun'}"],
               tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    assert step_dirs(cache) == before, "the dry run created step directories"
    assert "Trainer.fit" not in proc.stdout + proc.stderr
    plans = proc.stdout.split("plan of ")[1:]
    assert len(plans) == 2, proc.stdout
    lines = {ln.split()[0]: ln for ln in _plan_lines(plans[0])}
    assert set(lines) >= {"generator", "samples_test_greedy", "samples_test", "samples_val",
                          "samples_evaluator_train", "evaluator", "scores", "metrics"}
    gen = lines["generator"].split()
    assert gen[2] == "compute" and len(gen[1]) == 12
    assert f"differs in trainer.precision: {AUTO_PRECISION} → {OTHER_PRECISION}" \
        in lines["generator"]
    assert "differs in input.generator:" in lines["samples_test"]
    # work estimates per step (mathft.runs.budget), for budgeting before a submission
    assert "train_tok=" in lines["generator"] and "train_tok=" in lines["evaluator"]
    assert "gen_tok=" in lines["samples_test"] and "score_tok=" in lines["scores"]
    # the unchanged cell: every step reused except the damaged store (resumed)
    proc = cli("mathft.pipeline", [*ONE, "run.dry_run=true", f"run.cache_dir={cache}",
                                   f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    actions = {ln.split()[0]: ln.split()[2] for ln in _plan_lines(proc.stdout)}
    assert actions["samples_val"] == "resume"
    assert {a for n, a in actions.items() if n not in ("samples_val", "metrics")} == {"reuse"}


STEP_NAMES = ("generator", "samples_test_greedy", "samples_test", "samples_val",
              "samples_evaluator_train", "evaluator", "scores", "metrics")


def _plan_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.split() and ln.split()[0] in STEP_NAMES]


def test_bad_values_fail_before_any_model_loads(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # a wrong type: Hydra's own message at composition, naming the key
    proc = cli("mathft.pipeline", [*TINY, "generator.max_steps=abc", f"run.cache_dir={cache}",
                                   f"hydra.run.dir={tmp_path / 'r'}"], tmp_path, timeout=300)
    assert proc.returncode != 0
    assert "full_key: generator.max_steps" in proc.stderr, tail(proc)
    # values no type rules out: every one named at once, before any step
    proc = cli("mathft.pipeline", [*TINY, "generator.max_steps=0", "sampling.n=-1",
                                   "objective.name=foo", "eval.test.name=jsonl",
                                   f"run.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'r'}"],
               tmp_path, timeout=300)
    assert proc.returncode != 0
    for text in ("generator.max_steps: must be >= 1, got 0",
                 "sampling.n must be >= 1", "objective.name must be one of",
                 "eval.test.path: eval.*.name=jsonl needs"):
        assert text in proc.stderr, (text, tail(proc))
    assert not cache.exists(), "steps ran before the config was checked"


def test_own_problem_file_end_to_end(tiny_sweep: Sweep, tmp_path: Path) -> None:
    """eval.{test,val,evaluator_train}.name=jsonl: sampled, evaluator trained, tables; the
    file's content is in the samples' key (an edited file resamples)."""
    cache = _copy_cache(tiny_sweep, tmp_path)
    files = {}
    for which, n in (("test", 3), ("val", 2), ("evaluator_train", 2)):
        f = tmp_path / f"{which}.jsonl"
        f.write_text("".join(json.dumps({"problem": f"({which}) What is {i} + "
                                                    f"{which.count('_') + 1}?",
                                         "answer": i + which.count("_") + 1,
                                         "id": f"{which}-{i}"}) + "\n" for i in range(n)))
        files[which] = f
    args = [*ONE, *(f"eval.{w}.name=jsonl" for w in files),
            *(f"eval.{w}.levels=null" for w in files),  # the smoke experiment's [1]
            *(f"eval.{w}.path={f}" for w, f in files.items()),
            f"run.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = cli("mathft.pipeline", args, tmp_path, timeout=900)
    assert proc.returncode == 0, tail(proc)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["n_problems"] == 3 and m["n_samples"] == 2 and m["rerank"]
    mine = [d for d in (cache / "samples_test").iterdir()
            if _rows(d / "candidates.jsonl")[0]["problem_id"].startswith("test-")]
    assert len(mine) == 1
    log = (tmp_path / "run" / "pipeline.log").read_text()
    assert "generator: reusing" in log
    # edit one answer: the dry run plans new test samples
    files["test"].write_text(files["test"].read_text().replace('"answer": 1', '"answer": 7'))
    proc = cli("mathft.pipeline", [*args[:-1], "run.dry_run=true",
                                   f"hydra.run.dir={tmp_path / 'dry'}"], tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("samples_test "))
    assert " compute " in line and "input.problems.sha" in line


def test_train_stages_evaluator_is_the_pipelines_evaluator_step(tiny_sweep: Sweep,
                                                               tmp_path: Path) -> None:
    """mathft.train stages=evaluator runs the pipeline's own evaluator step: all reused here."""
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    before = step_dirs(tiny_sweep.cache)
    proc = cli("mathft.train", [*ONE, "stages=evaluator", f"run.cache_dir={tiny_sweep.cache}",
                                f"hydra.run.dir={tmp_path / 'train'}"], tmp_path, timeout=300)
    assert proc.returncode == 0, tail(proc)
    ev = tiny_sweep.metrics(0)["cell"]["evaluator"]
    assert f"model: {tiny_sweep.cache / 'evaluator' / ev / 'model'}" in proc.stdout
    assert step_dirs(tiny_sweep.cache) == before

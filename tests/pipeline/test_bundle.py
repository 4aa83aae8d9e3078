"""Carrying steps between machines (``mathft-cache``): a bundle of the tiny sweep's stores,
imported into an empty cache, reproduces the cell's tables without training its generator;
an import checks every step's key and never overwrites finished work."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from pipeline_cli import TINY, Sweep, cli, results, tail

from mathft.runs import bundle
from mathft.runs.cache import DONE, step

ONE = [*TINY, "objective.normalize=vocab"]  # the sweep's first cell


def _names(tar_path: Path) -> list[str]:
    with tarfile.open(tar_path) as tar:
        return tar.getnames()


def test_stores_imported_elsewhere_give_the_same_tables_without_the_generator(
        tiny_sweep: Sweep, tmp_path: Path) -> None:
    assert tiny_sweep.proc.returncode == 0, tail(tiny_sweep.proc)
    out = tmp_path / "steps.tar.gz"
    assert bundle.main(["--cache", str(tiny_sweep.cache), "export", str(out)]) == 0
    names = _names(out)
    assert not any(n.startswith(("generator/", "evaluator/")) for n in names), names
    assert not any("/model/" in n or n.endswith(".lock") for n in names)
    assert any(n.startswith("samples_test/") and n.endswith("/candidates.jsonl") for n in names)

    cache = tmp_path / "elsewhere"
    assert bundle.main(["--cache", str(cache), "import", str(out)]) == 0
    plan = cli("mathft.pipeline", [*ONE, "run.dry_run=true", f"run.cache_dir={cache}",
                                   f"hydra.run.dir={tmp_path / 'plan'}"], tmp_path, timeout=300)
    assert plan.returncode == 0, tail(plan)
    gen = next(ln for ln in plan.stdout.splitlines() if ln.startswith("generator"))
    assert gen.split()[2] == "skip" and "not needed" in gen, plan.stdout

    run = tmp_path / "run"
    proc = cli("mathft.pipeline", [*ONE, f"run.cache_dir={cache}", f"hydra.run.dir={run}"],
               tmp_path, timeout=900)
    assert proc.returncode == 0, tail(proc)
    assert not (cache / "generator").exists() or \
        not any((cache / "generator").glob("*/model")), "the generator was trained"
    first = tiny_sweep.jobs[0]
    assert "objective.normalize=vocab" in (first / ".hydra" / "overrides.yaml").read_text()
    ref = json.loads((first / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    assert results(got)["rerank"] == results(ref)["rerank"]
    assert results(got)["generation"] == results(ref)["generation"]

    # importing again keeps what the cache already holds
    report = bundle.import_bundle(out, cache)
    assert report["added"] == [] and report["replaced"] == [] and len(report["kept"]) > 0


def _bundle(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_import_refuses_a_step_under_a_foreign_key_and_paths_outside(tmp_path: Path) -> None:
    src = step(tmp_path / "src", "samples_test", {"n": 4})
    key = (src.dir / "key.json").read_bytes()
    bad = _bundle(tmp_path / "bad.tar.gz", {"samples_test/000000000000/key.json": key})
    with pytest.raises(bundle.BundleError, match="not to its directory name"):
        bundle.import_bundle(bad, tmp_path / "cache")
    evil = _bundle(tmp_path / "evil.tar.gz", {f"samples_test/{src.hash}/key.json": key,
                                              "../../escape.txt": b"x"})
    with pytest.raises(bundle.BundleError, match="not a file inside a step directory"):
        bundle.import_bundle(evil, tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "cache" / "samples_test").exists(), "a refused bundle left steps"
    assert bundle.main(["--cache", str(tmp_path / "cache"), "import", str(bad)]) == 2


def test_import_keeps_finished_work_and_sets_a_superseded_partial_store_aside(
        tmp_path: Path) -> None:
    theirs = step(tmp_path / "theirs", "samples_test", {"n": 4})
    (theirs.dir / "candidates.jsonl").write_text('{"row": "theirs"}\n')
    theirs.mark_done({"rows": 1})
    out = tmp_path / "b.tar.gz"
    assert bundle.export(tmp_path / "theirs", out) == [f"samples_test/{theirs.hash}"]

    ours = step(tmp_path / "ours", "samples_test", {"n": 4})  # same key: unfinished here
    (ours.dir / "candidates.jsonl").write_text('{"row": "ours"}\n')
    report = bundle.import_bundle(out, tmp_path / "ours")
    assert report["replaced"] == [f"samples_test/{theirs.hash}"]
    assert (ours.dir / DONE).exists() and "theirs" in (ours.dir / "candidates.jsonl").read_text()
    (aside,) = (tmp_path / "ours" / "samples_test").glob(f"{ours.hash}.replaced-*")
    assert "ours" in (aside / "candidates.jsonl").read_text()  # nothing of ours is lost

    shutil.rmtree(ours.dir)
    ours = step(tmp_path / "ours", "samples_test", {"n": 4})
    (ours.dir / "candidates.jsonl").write_text('{"row": "mine, finished"}\n')
    ours.mark_done({"rows": 1})
    assert bundle.import_bundle(out, tmp_path / "ours")["kept"] == [f"samples_test/{ours.hash}"]
    assert "mine" in (ours.dir / "candidates.jsonl").read_text()
    with pytest.raises(bundle.BundleError, match="nothing to export"):
        bundle.export(tmp_path / "empty", tmp_path / "e.tar.gz")

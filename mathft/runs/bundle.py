"""Carry steps of the step cache between machines: ``mathft-cache ls | export | import``.

A shared filesystem makes one step cache serve many machines (``MATHFT_RUNS``); without one,
a bundle carries it: ``export`` packs step directories (finished ones; ``--partial`` adds
unfinished stores, which resume elsewhere) into one ``.tar.gz``; ``import`` unpacks them
into another cache after checking every step: its directory name must be the hash of its
``key.json`` (so a step lands only under the key that produced it), and members must be
plain files inside their step directory. Model weights stay out unless ``--models``: the
stores and scores are what later steps read, and a generator whose samples are all imported
is never trained (:class:`~mathft.runs.steps.PendingModel`). A resumed store checks that its
model's weights are the ones that wrote its rows (:mod:`mathft.sampling.pins`).

Nothing is overwritten: a step the cache already holds finished is kept, and so is a local
unfinished store when the imported one is unfinished too; a local unfinished step that a
finished imported one supersedes is moved aside (``<hash>.replaced-<time>``).
See docs/design.md#carrying-steps-between-machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mathft.runs.cache import DONE, KEY, config_hash
from mathft.runs.reuse import partial
from mathft.sampling.pins import read_pin

MODEL_DIRS = ("model", "ckpt")
KINDS = {"generator": "model", "evaluator": "model", "scores": "scores"}  # else samples


class BundleError(ValueError):
    """A bundle or a step in it cannot be imported."""


@dataclass
class StepInfo:
    """One step directory of a cache, as ``ls`` shows it."""

    name: str
    hash: str
    state: str  # done | partial | empty
    rows: int | None
    weights: str | None
    size: int

    def line(self) -> str:
        rows = "" if self.rows is None else f"rows={self.rows}"
        pin = f"weights={self.weights[:12]}" if self.weights else ""
        return "  ".join(x for x in (f"{self.name}/{self.hash}", f"{self.state:<7}",
                                     f"{self.size / 1e6:9.1f} MB", rows, pin) if x)


def kind_of(name: str) -> str:
    """The reuse kind of a step name (``model``, ``samples`` or ``scores``)."""
    return KINDS.get(name, "samples")


def step_dirs(cache: Path) -> list[Path]:
    """Every step directory ``<cache>/<name>/<hash>`` (those with a ``key.json``)."""
    return sorted(p.parent for p in cache.glob(f"*/*/{KEY}") if not p.parent.name.startswith("."))


def info(d: Path) -> StepInfo:
    """What ``ls`` says about the step directory ``d``."""
    done = d / DONE
    if done.exists():
        state, rows = "done", json.loads(done.read_text()).get("rows")
    else:
        state, rows = ("partial" if partial(d, kind_of(d.parent.name)) else "empty"), None
    pin = read_pin(d)
    size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    return StepInfo(d.parent.name, d.name, state, rows, pin.get("sha256") if pin else None, size)


def select(cache: Path, steps: Sequence[str], with_partial: bool) -> list[Path]:
    """The step directories to export: ``steps`` (``name/hash`` or ``name``) or all, finished
    ones only unless ``with_partial``."""
    found = step_dirs(cache)
    if steps:
        want = [s.strip("/") for s in steps]
        chosen = [d for d in found if f"{d.parent.name}/{d.name}" in want or d.parent.name in want]
        matched = {f"{d.parent.name}/{d.name}" for d in chosen} | {d.parent.name for d in chosen}
        missing = [s for s in want if s not in matched]
        if missing:
            raise BundleError(f"{cache}: no step {', '.join(missing)} (see mathft-cache ls)")
        found = chosen
    return [d for d in found if (d / DONE).exists() or
            (with_partial and partial(d, kind_of(d.parent.name)))]


def _members(d: Path, models: bool) -> Iterable[Path]:
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if p.is_file() and not p.is_symlink() and p.name != ".lock" and \
                (models or rel.parts[0] not in MODEL_DIRS):
            yield p


def export(cache: Path, out: Path, steps: Sequence[str] = (), models: bool = False,
           with_partial: bool = False) -> list[str]:
    """Pack the chosen steps of ``cache`` into the gzip tarball ``out`` (written atomically);
    returns the ``name/hash`` of each step packed. Training steps travel only with ``models``."""
    dirs = [d for d in select(cache, steps, with_partial)
            if models or kind_of(d.parent.name) != "model"]
    if not dirs:
        raise BundleError(f"{cache}: nothing to export (finished steps only, unless --partial; "
                          "training steps only with --models)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with tarfile.open(tmp, "w:gz") as tar:
        for d in dirs:
            for p in _members(d, models):
                tar.add(p, arcname=str(p.relative_to(cache)), recursive=False)
    os.replace(tmp, out)
    return [f"{d.parent.name}/{d.name}" for d in dirs]


def _check_step(root: Path, name: str, h: str) -> None:
    key_file = root / name / h / KEY
    if not key_file.is_file():
        raise BundleError(f"step {name}/{h} has no {KEY}: not a step directory")
    try:
        key = json.loads(key_file.read_text(encoding="utf-8"))
    except ValueError as e:
        raise BundleError(f"step {name}/{h}: {KEY} is not JSON ({e})") from None
    got = config_hash(key, length=len(h))
    if got != h:
        raise BundleError(f"step {name}/{h}: its {KEY} hashes to {got}, not to its directory "
                          "name: refusing a step under a foreign key")


def import_bundle(bundle: Path, cache: Path) -> dict[str, list[str]]:
    """Unpack ``bundle`` into ``cache`` (see the module doc); returns the steps ``added``,
    ``replaced`` (a local unfinished step moved aside) and ``kept`` (already in the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    report: dict[str, list[str]] = {"added": [], "replaced": [], "kept": []}
    with tempfile.TemporaryDirectory(prefix=".import-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        with tarfile.open(bundle, "r:*") as tar:
            for m in tar.getmembers():
                parts = Path(m.name).parts
                if not m.isfile() or len(parts) < 3 or m.name.startswith("/") or ".." in parts:
                    raise BundleError(f"{bundle}: member {m.name!r} is not a file inside a step "
                                      "directory <name>/<hash>/...")
            tar.extractall(tmp, filter="data")
        dirs = sorted({tmp.joinpath(*p.relative_to(tmp).parts[:2])
                       for p in tmp.rglob("*") if p.is_file()})
        for d in dirs:  # check all before moving any
            _check_step(tmp, d.parent.name, d.name)
        for d in dirs:
            name = f"{d.parent.name}/{d.name}"
            dest = cache / d.parent.name / d.name
            local_work = dest.exists() and partial(dest, kind_of(d.parent.name))
            if (dest / DONE).exists() or (local_work and not (d / DONE).exists()):
                report["kept"].append(name)  # finished here, or two partial stores: keep ours
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                aside = dest.with_name(f"{dest.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(dest, aside)
                report["replaced"].append(name)
            else:
                report["added"].append(name)
            shutil.move(str(d), str(dest))
    return report


def default_cache() -> Path:
    """The pipeline's default step cache: ``$MATHFT_RUNS``, else ``outputs/steps``."""
    return Path(os.environ.get("MATHFT_RUNS") or "outputs/steps")


def main(argv: Sequence[str] | None = None) -> int:
    """``mathft-cache``: list, export or import step directories."""
    ap = argparse.ArgumentParser(prog="mathft-cache", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None,
                    help="step cache (default: $MATHFT_RUNS, else outputs/steps)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ls", help="every step: state, size, rows, weights pin")
    ex = sub.add_parser("export", help="pack steps into a .tar.gz")
    ex.add_argument("out", type=Path)
    ex.add_argument("steps", nargs="*", help="name/hash or name (default: every step)")
    ex.add_argument("--models", action="store_true", help="include training steps' weights")
    ex.add_argument("--partial", action="store_true", help="include unfinished stores")
    im = sub.add_parser("import", help="unpack a bundle into the cache")
    im.add_argument("bundle", type=Path)
    args = ap.parse_args(argv)
    cache = args.cache or default_cache()
    try:
        if args.cmd == "ls":
            for d in step_dirs(cache):
                print(info(d).line())
        elif args.cmd == "export":
            packed = export(cache, args.out, args.steps, args.models, args.partial)
            print(f"{args.out}: {len(packed)} steps ({args.out.stat().st_size / 1e6:.1f} MB)")
            for s in packed:
                print(f"  {s}")
        else:
            for what, names in import_bundle(args.bundle, cache).items():
                for s in names:
                    print(f"{what:<9} {s}")
    except (BundleError, tarfile.TarError, OSError) as e:
        print(f"mathft-cache: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

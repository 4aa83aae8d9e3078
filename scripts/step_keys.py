"""Dump the resolved config and every step key/hash of every shipped composition.

A refactoring of conf/ or of the config layer must not change a step key (a changed key
recomputes a step a user already has). This script composes

- every entry config (pipeline, train, sample, evaluate)
  x every experiment (none, conf/experiment/*.yaml, each cell of its sweep grid)
  x every scale (cpu, paper), and
- the pipeline with each option of each config group,

and writes, per composition, the resolved config (without the ``hydra`` node) and the
steps a dry run plans (``run.dry_run=true``: the same step functions, keys computed,
nothing run) with their keys and hashes, plus the cell's metrics key.

    python scripts/step_keys.py dump OUT.jsonl          # on the code to compare
    python scripts/step_keys.py compare OLD.jsonl NEW.jsonl

``compare`` exits non-zero when a step hash differs (and names the key entries that do).
Hashes depend on this machine where configs say ``auto`` (trainer precision, sampling
engine/precision): compare dumps made on the same machine.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENTRIES = ("pipeline", "train", "sample", "evaluate")
SCALES = ("cpu", "paper")
CACHE = "/nonexistent/steps"


def _cell_module() -> Any:
    """The module holding ``cell_steps`` (renamed during the config refactoring)."""
    import importlib

    for name in ("mathft.runs.cell", "mathft.runs.pipeline"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "cell_steps"):
            return mod
    raise ImportError("no module with cell_steps")


def _sweep_cells(conf: Path, experiment: str) -> list[list[str]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    raw = OmegaConf.load(conf / "experiment" / f"{experiment}.yaml")
    params = OmegaConf.select(raw, "hydra.sweeper.params") or {}
    parser = OverridesParser.create()
    axes = []
    for key, value in params.items():
        (ov,) = parser.parse_overrides([f"{key}={value}"])
        values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.value()]
        axes.append([f"{key}={v}" for v in values])
    return [list(c) for c in itertools.product(*axes)]


def compositions(conf: Path) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    experiments = [None, *sorted(p.stem for p in (conf / "experiment").glob("*.yaml"))]
    for entry in ENTRIES:
        for exp in experiments:
            cells = [[]] if exp is None else _sweep_cells(conf, exp)
            for scale in SCALES:
                for cell in cells:
                    ov = [f"scale={scale}"] + ([f"experiment={exp}"] if exp else []) + cell
                    runs.append((entry, ov))
    for group in sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        for opt in sorted((conf / group).glob("*.yaml")):
            runs.append(("pipeline", [f"{group}={opt.stem}"]))
    # combinations the grid does not reach
    for extra in (["stages=sequential", "objective=margin"], ["stages=evaluator"],
                  ["evaluator.same_model=false", "model@evaluator_model=gemma3_270m"],
                  ["evaluator.init=generator"], ["finetune=lora", "stages=sequential"]):
        runs.append(("train", extra))
    return runs


def _record_keys(recorded: list[dict[str, Any]]) -> None:
    """Make every imported ``open_step`` also record ``(name, label, key)``."""
    from mathft.runs import reuse

    orig = reuse.open_step
    if getattr(orig, "_recording", False):
        return

    @functools.wraps(orig)
    def open_step(root: Any, name: str, key: dict[str, Any], kind: str, label: str = "") -> Any:
        st, planned = orig(root, name, key, kind, label=label)
        recorded.append({"name": name, "label": label, "hash": st.hash,
                         "key": json.loads(json.dumps(st.key, default=str))})
        return st, planned

    open_step._recording = True  # type: ignore[attr-defined]
    for mod in list(sys.modules.values()):
        if mod is not None and getattr(mod, "open_step", None) is orig:
            mod.open_step = open_step  # type: ignore[attr-defined]


def _memoise_problems() -> None:
    from mathft.data import mixtures

    orig = mixtures.load_eval_problems
    if getattr(orig, "_memo", False):
        return
    memo: dict[str, Any] = {}

    def load(*a: Any, **kw: Any) -> Any:
        k = json.dumps([a, kw], default=list, sort_keys=True)
        if k not in memo:
            memo[k] = orig(*a, **kw)
        return list(memo[k])

    load._memo = True  # type: ignore[attr-defined]
    for mod in list(sys.modules.values()):
        if mod is not None and getattr(mod, "load_eval_problems", None) is orig:
            mod.load_eval_problems = load  # type: ignore[attr-defined]


def dump(out: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    import mathft.runs.lifecycle  # noqa: F401  (resolvers)
    from mathft.runs import keys
    from mathft.runs.cache import config_hash
    from mathft.runs.lifecycle import Loggers
    from mathft.runs.reuse import planning

    cell_mod = _cell_module()
    import mathft.runs.steps  # noqa: F401  (imports open_step)

    conf = ROOT / "conf"
    recorded: list[dict[str, Any]] = []
    _record_keys(recorded)
    _memoise_problems()
    t0 = time.time()
    n = 0
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"), \
            out.open("w", encoding="utf-8") as f:
        for entry, overrides in compositions(conf):
            ident = " ".join([entry, *overrides])
            row: dict[str, Any] = {"id": ident}
            try:
                cfg = compose(entry, overrides=[*overrides, f"run.cache_dir={CACHE}"],
                              return_hydra_config=True)
                cfg.hydra.runtime.output_dir = "/job"
                HydraConfig.instance().set_config(cfg)
                with open_dict(cfg):
                    del cfg["hydra"]
                row["config"] = OmegaConf.to_container(cfg, resolve=True,
                                                       throw_on_missing=False)
                recorded.clear()
                with planning():
                    cs = cell_mod.cell_steps(cfg, Loggers(None))
                hashes = {k: (getattr(cs, k).hash if getattr(cs, k) is not None else None)
                          for k in ("test", "greedy", "val", "test_scores", "val_scores")}
                mkey = keys.metrics_key(cfg, **hashes)
                row["steps"] = [*recorded, {"name": "metrics", "label": "", "key": mkey,
                                            "hash": config_hash(mkey, length=12)}]
            except Exception as e:  # noqa: BLE001 - recorded, compared like a hash
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            finally:
                HydraConfig.instance().cfg = None  # type: ignore[assignment]
            f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
            n += 1
    print(f"{n} compositions in {time.time() - t0:.0f}s -> {out}")


def _load(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def compare(old_path: Path, new_path: Path) -> int:
    # this checkout's key helpers (imported here: `dump` imports mathft from the checkout it reads)
    from mathft.runs.keys import key_diff, leaves

    old, new = _load(old_path), _load(new_path)
    bad = 0
    steps_total = 0
    cfg_diffs: dict[str, set[str]] = {}
    for ident in sorted(set(old) | set(new)):
        a, b = old.get(ident), new.get(ident)
        if a is None or b is None:
            print(f"{'only in old' if b is None else 'only in new'}: {ident}")
            bad += 1
            continue
        if a.get("error") or b.get("error"):
            if a.get("error") != b.get("error"):
                print(f"{ident}: error {a.get('error')!r} -> {b.get('error')!r}")
                bad += 1
            continue
        sa = [(s["name"], s["label"], s["hash"]) for s in a["steps"]]
        sb = [(s["name"], s["label"], s["hash"]) for s in b["steps"]]
        steps_total += len(sa)
        if sa != sb:
            bad += 1
            print(f"{ident}: steps differ")
            for x, y in itertools.zip_longest(a["steps"], b["steps"]):
                if x is None or y is None or x["hash"] != y["hash"]:
                    what = key_diff((x or {}).get("key", {}), (y or {}).get("key", {}))
                    print(f"  {(x or y)['name']} {(x or y)['label']}: "
                          f"{(x or {}).get('hash')} -> {(y or {}).get('hash')}; {what}")
        ca, cb = leaves(a["config"]), leaves(b["config"])
        for k in sorted(set(ca) | set(cb)):
            if ca.get(k, "<absent>") != cb.get(k, "<absent>"):
                cfg_diffs.setdefault(
                    f"{k}: {ca.get(k, '<absent>')!r} -> {cb.get(k, '<absent>')!r}",
                    set()).add(ident)
    print(f"\n{len(old)} / {len(new)} compositions, {steps_total} step hashes compared, "
          f"{bad} composition(s) with different steps")
    if cfg_diffs:
        print("\nresolved-config differences (leaf: old -> new, in how many compositions):")
        for d, ids in sorted(cfg_diffs.items()):
            print(f"  {d}  [{len(ids)}]")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)

"""Run lifecycle: loggers per training step, W&B runs always finished, failures recorded.

Hydra multirun executes jobs one after another in one process; a W&B run left open by a
failed job would swallow the next job's logs (docs/design.md#known-pitfalls). :func:`task` closes
every logger whatever happens, writes ``failed.json`` for a failed job and, in multirun
with ``run.continue_on_failure``, lets the sweep go on; :class:`FailureSummary` then fails
the whole multirun at its end so that a broken cell is never silent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mathft.io import atomic_write_json

log = logging.getLogger(__name__)

MAX_DIRNAME = 120
# conf/ of the source tree, absolute: a relative config_path breaks when main() is called
# from an imported module (console scripts mathft-train etc., or python -c)
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def short_dirname(name: str, max_len: int = MAX_DIRNAME) -> str:
    """A job directory name from Hydra's ``override_dirname``, safe as one path component.

    A sweep with many overrides would exceed the 255-byte file-name limit (OSError when
    Hydra creates the job dir); long names keep a readable prefix plus a hash of the whole,
    so distinct cells stay distinct. ``/`` (in values such as paths) becomes ``_``.
    """
    name = str(name).replace("/", "_")
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{name[: max_len - 11]}-{digest}"


# used by conf/pipeline.yaml's hydra.sweep.subdir; registered on import of any entry point
if not OmegaConf.has_resolver("mathft.short_dirname"):
    OmegaConf.register_new_resolver("mathft.short_dirname", short_dirname)


class Loggers:
    """Lightning loggers of one job: one W&B/CSV run shared by its training steps.

    ``get(prefix)`` returns a logger whose metrics are prefixed (``generator/train/loss``,
    ``evaluator/val/auc``); the first call creates the run, later calls reuse it.
    """

    def __init__(self, cfg: DictConfig | None):
        self.cfg = cfg
        self._first: Any = None

    def get(self, prefix: str) -> Any:
        if self.cfg is None:
            return None
        if self._first is None:
            self._first = instantiate(self.cfg, prefix=prefix)
            return self._first
        kw: dict[str, Any] = {"prefix": prefix}
        if "Wandb" in str(self.cfg.get("_target_", "")):
            kw["experiment"] = self._first.experiment
        return instantiate(self.cfg, **kw)

    def wandb_run(self) -> Any:
        """The active W&B run, if this job logs to W&B (created on first use)."""
        if self.cfg is None or "Wandb" not in str(self.cfg.get("_target_", "")):
            return None
        if self._first is None:
            self.get("pipeline")
        return self._first.experiment

    def finish(self, failed: bool = False) -> None:
        try:
            import wandb

            if wandb.run is not None:
                wandb.finish(exit_code=1 if failed else 0)
        except ImportError:  # pragma: no cover - wandb is a dependency
            pass
        self._first = None


@contextmanager
def task(cfg: DictConfig, out_dir: Path) -> Iterator[Loggers]:
    """Run one job: yield its loggers, always finish them, record a failure in ``failed.json``."""
    loggers = Loggers(cfg.get("logger"))
    failed = False
    # a rerun into the same dir (fixed hydra.sweep.dir) must not inherit an old failure
    (out_dir / "failed.json").unlink(missing_ok=True)
    try:
        yield loggers
    except Exception as e:
        failed = True
        atomic_write_json(out_dir / "failed.json",
                          {"error": repr(e), "traceback": traceback.format_exc()})
        log.error("job failed: %r (details in %s)", e, out_dir / "failed.json")
        if not _continue(cfg):
            raise
    except BaseException:  # Ctrl-C / SystemExit: the W&B run is marked failed, never continued
        failed = True
        raise
    finally:
        loggers.finish(failed)


def _continue(cfg: DictConfig) -> bool:
    try:
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not under Hydra
        multirun = False
    return multirun and bool(cfg.get("run", {}).get("continue_on_failure", True))


class FailureSummary(Callback):
    """Hydra callback: at the end of a multirun, list failed jobs and exit non-zero if any."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        failed = sorted(sweep_dir.glob("**/failed.json"))
        if failed:
            lines = [f"  {p.parent}: {json.loads(p.read_text())['error']}" for p in failed]
            log.error("%d job(s) of the multirun failed:\n%s", len(failed), "\n".join(lines))
            raise SystemExit(1)


def hydra_main(fn: Callable[[DictConfig, Loggers, Path], Any]) -> Callable[[DictConfig], Any]:
    """Run ``fn(cfg)`` inside :func:`task` with the job's output directory."""

    def wrapped(cfg: DictConfig) -> Any:
        # local: Lightning and torch; the entry points import this module for --help / --cfg
        from mathft.runs.distributed import check_trainer

        check_trainer(cfg.get("trainer"))  # unsupported strategies fail before any work
        out_dir = Path(HydraConfig.get().runtime.output_dir)
        with task(cfg, out_dir) as loggers:
            return fn(cfg, loggers, out_dir)
        return None

    return wrapped

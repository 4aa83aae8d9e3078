"""Hydra entry point: one experiment cell end to end (``python -m mathft.pipeline``).

    python -m mathft.pipeline experiment=smoke
    python -m mathft.pipeline -m experiment=table2_ssft
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from mathft.runs.lifecycle import CONF_DIR, hydra_main


@hydra.main(config_path=CONF_DIR, config_name="pipeline", version_base="1.3")
def main(cfg: DictConfig) -> Any:
    from mathft.runs.cell import run_cell  # heavy (torch, Lightning): not for --help

    return hydra_main(run_cell)(cfg)


if __name__ == "__main__":
    main()

"""Hydra entry point ``python -m mathft.evaluate`` (console script ``mathft-evaluate``); see conf/evaluate.yaml."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from mathft.runs.lifecycle import CONF_DIR, hydra_main


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> Any:
    from mathft.runs import entry  # heavy (torch, Lightning): not for --help / --cfg

    return hydra_main(entry.evaluate)(cfg)


if __name__ == "__main__":
    main()

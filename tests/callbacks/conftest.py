"""Fixtures for the sequential-stages tests: one uninterrupted tiny 3-stage reference run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import seqft_harness as harness  # noqa: E402


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """(root, trainer, module, callback) of a full 3 + 3 + 2 step run (no interruption)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("seq_ref")
    trainer, module, stages = harness.run(root)
    return root, trainer, module, stages

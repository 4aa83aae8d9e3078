"""pyproject: every entry point is installed as a console script that resolves, and the
metadata uses the current license format."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


@pytest.mark.parametrize("name", ["mathft-train", "mathft-sample", "mathft-evaluate",
                                  "mathft-pipeline"])
def test_console_script_resolves(name: str) -> None:
    target = PYPROJECT["project"]["scripts"][name]
    module, _, attr = target.partition(":")
    assert callable(getattr(importlib.import_module(module), attr)), target


def test_license_is_an_spdx_string_with_a_backend_that_reads_it() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"  # PEP 639; the table form is deprecated
    req = next(r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    m = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", req)
    assert m and int(m.group(1)) >= 77, f"{req}: SPDX license strings need setuptools >= 77"

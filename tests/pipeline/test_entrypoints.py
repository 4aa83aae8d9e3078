"""The Hydra entry points start, print help and their composed job config (no work done)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from pipeline_cli import env

MODULES = ["mathft.pipeline", "mathft.train", "mathft.sample", "mathft.evaluate"]


def _run_all(cmds: dict[str, list[str]], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    """Run the commands concurrently (each is mostly interpreter start-up)."""
    procs = {k: subprocess.Popen([sys.executable, "-m", *c], cwd=cwd, env=env(cwd),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, c in cmds.items()}
    out = {}
    for k, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
        out[k] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return out


def test_help_and_cfg_job(tmp_path: Path) -> None:
    cmds = {m: [m, "--cfg", "job", "experiment=smoke", "model=tiny"] for m in MODULES}
    cmds["help"] = ["mathft.pipeline", "--help"]
    res = _run_all(cmds, tmp_path)
    script = Path(sys.executable).parent / "mathft-train"
    if script.exists():  # console script: main() of an imported module must find conf/
        p = subprocess.run([str(script), "--cfg", "job", "experiment=smoke", "model=tiny"],
                           cwd=tmp_path, env=env(tmp_path), capture_output=True, text=True,
                           timeout=300, check=False)
        res["console"] = p
    h = res.pop("help")
    assert h.returncode == 0, h.stderr[-3000:]
    assert "pipeline is powered by Hydra" in h.stdout
    for group in ("experiment:", "objective:", "scale:", "trainer:"):
        assert group in h.stdout, group
    for module, p in res.items():
        assert p.returncode == 0, (module, p.stderr[-3000:])
        cfg = yaml.safe_load(p.stdout)
        assert cfg["experiment_name"] == "smoke" and cfg["model"]["name"] == "tiny", module
        assert "hydra" not in cfg
    assert "stores" in yaml.safe_load(res["mathft.evaluate"].stdout)
    assert yaml.safe_load(res["mathft.sample"].stdout)["generator"]["path"] is None
    assert not (tmp_path / "outputs").exists(), "--cfg job must not start a run"


def test_bad_override_is_rejected_before_any_work(tmp_path: Path) -> None:
    res = _run_all({"bad": ["mathft.pipeline", "objective=nonexistent"]}, tmp_path)["bad"]
    assert res.returncode != 0
    assert "objective" in res.stderr and "nonexistent" in res.stderr

"""The README's first command is the main job: run it as written, so the quickstart cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from .conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_readme_opens_with_the_demos_and_the_tests() -> None:
    commands = readme_commands()
    assert commands[0].strip() == "scripts/demo.sh"
    assert commands[1].strip() == "scripts/demo-live.sh"  # run by tests/test_live_prometheus.py
    assert commands[2].strip() == "scripts/test.sh"


@pytest.mark.slow
def test_first_readme_command_runs_the_main_job_from_scratch(tmp_path: Path) -> None:
    command = readme_commands()[0].strip()
    # A fresh virtualenv that sees the packages already installed here (a .pth line), so the
    # script's own install step resolves mlflow, shap, fairlearn... without downloading them
    # again and installs only govern itself.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    installed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_reuse_installed.pth").write_text("\n".join(sorted(installed)) + "\n", encoding="utf-8")
    assert Path(sys.prefix) != env_dir
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},  # its own store
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GOVERN_VENV": str(env_dir),
        "GOVERN_DEMO_DIR": str(tmp_path / "demo"),
        # Gates judge waivers as of today: the example's waivers expire on 2027-06-30, by design,
        # and from the day after the demo's registration is denied until they are renewed.
    }
    proc = subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "valid: examples/adult-income/spec.yaml" in out
    assert "as adult-income version 1" in out
    assert "moved adult-income@champion from nothing to version 1" in out
    assert "moved adult-income@champion from 1 to version 2" in out
    assert "GOV-LIVE-001" in out
    assert "rolled adult-income@champion back from version 2 to 1" in out
    assert "holds 10 records" in out  # `govern audit verify`: intact (an intent and an outcome per gate)
    assert "5 of 5 gate decisions reproduced" in out  # `govern replay --audit-log`

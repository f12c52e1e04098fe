"""The README's first command is the main job: run it as written, so the quickstart cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_readme_opens_with_two_commands() -> None:
    commands = readme_commands()
    assert commands[0].strip() == "scripts/demo.sh"
    assert commands[1].strip() == "scripts/test.sh"


@pytest.mark.slow
def test_first_readme_command_runs_the_main_job_from_scratch(tmp_path: Path) -> None:
    command = readme_commands()[0].strip()
    env = {**os.environ, "GOVERN_VENV": str(tmp_path / "venv")}
    proc = subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid: examples/adult-income/spec.yaml" in proc.stdout
    assert "GOV-FAIR-001" in proc.stdout
    assert "PASS" in proc.stdout

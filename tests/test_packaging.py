"""A built wheel works on its own: policies and schemas come from package data, not the repo."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import EVIDENCE, ROOT, SPEC


@pytest.mark.slow
def test_wheel_installs_and_checks_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
    )
    wheels = list(dist.glob("govern_ml-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheels[0])], check=True, timeout=600)
    # run from an unrelated folder so nothing can be read from the repository by accident
    work = tmp_path / "elsewhere"
    work.mkdir()
    govern = env_dir / "bin" / "govern"
    check = subprocess.run(
        [
            govern,
            "check",
            str(SPEC),
            "--evidence",
            str(EVIDENCE),
            "--as-of",
            "2026-11-27",
            "--format",
            "json",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert '"outcome": "pass"' in check.stdout
    where = subprocess.run(
        [python, "-c", "import govern.engine, govern.policies; print(govern.engine.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(env_dir) in where.stdout
    tests = subprocess.run(
        [govern, "test"], cwd=work, capture_output=True, text=True, timeout=120, check=False
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


@pytest.mark.slow
def test_wheel_ships_the_card_templates(tmp_path: Path) -> None:
    """The card's Jinja2 templates are package data: a built wheel carries them."""
    import zipfile

    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("govern_ml-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("card.md.j2", "card.html.j2", "card.css"):
        assert f"govern/engine/card/templates/{template}" in names, sorted(n for n in names if "card" in n)

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"
SPEC = EXAMPLE / "spec.yaml"
EVIDENCE = EXAMPLE / "evidence.json"
TODAY = dt.date(2026, 11, 27)


def govern_bin() -> str:
    candidate = Path(sys.executable).parent / "govern"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("govern")
    assert found, "the govern console script is not installed"
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_govern(*args: str, cwd: Path | None = None) -> Run:
    proc = subprocess.run(
        [govern_bin(), *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=120, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def example_evidence() -> dict[str, Any]:
    return json.loads(EVIDENCE.read_text())


@pytest.fixture
def write_json(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(value: Any, name: str = "evidence.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(value))
        return path

    return write

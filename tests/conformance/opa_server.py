"""A real OPA server for the tests: built by tools/opa/build.sh, one process per test session.

The binary is ``$GOVERN_OPA_BIN`` when set (scripts/test.sh exports it), else whatever
``tools/opa/build.sh`` prints (a cached build, or a fresh one when Go is installed). Without
either the OPA tests skip with the reason, except under CI (``CI=true``), where they fail: CI
must never pass by skipping the engine comparison.

tests/conformance/ and tests/test_opa_*.py each have a session fixture calling
:func:`shared_server`; the process is a module-level singleton, so one server runs per session.
It stops at the end of the session (or, failing that, when the interpreter exits).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tools" / "opa" / "build.sh"
START_TIMEOUT = 30.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip (a developer without Go) or fail (CI) the test asking for OPA."""
    if in_ci():
        pytest.fail(f"OPA is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no OPA server for the OPA backend tests: {reason}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def opa_binary() -> str:
    """The pinned OPA binary, or raise RuntimeError saying why there is none."""
    given = os.environ.get("GOVERN_OPA_BIN")
    if given:
        if not os.access(given, os.X_OK):
            raise RuntimeError(f"GOVERN_OPA_BIN={given} is not an executable file")
        return given
    try:
        proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{BUILD} could not run: {exc}") from None
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{BUILD.relative_to(ROOT)} failed: {last[0]}")
    return proc.stdout.strip().splitlines()[-1]


@dataclass
class OpaServer:
    binary: str
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(binary: str, *extra: str) -> OpaServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{port}",
            "--log-level",
            "error",
            "--skip-version-check",
            "--shutdown-grace-period",
            "1",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"opa run exited with {process.returncode}: {err.strip()[-500:]}")
        if healthy(url):
            return OpaServer(binary, url, process)
        time.sleep(0.05)
    server = OpaServer(binary, url, process)
    server.stop()
    raise RuntimeError(f"opa run did not answer {url}/health within {START_TIMEOUT:.0f}s")


_shared: OpaServer | None = None
_failure: str | None = None


def shared_server() -> OpaServer:
    """Start the session's server on first use; remember a failure so it is reported once."""
    global _shared, _failure
    if _shared is not None and _shared.process.poll() is None:
        return _shared
    if _failure is not None:
        unavailable(_failure)
    try:
        _shared = start_server(opa_binary())
    except RuntimeError as exc:
        _failure = str(exc)
        unavailable(_failure)
    assert _shared is not None
    atexit.register(stop_shared)
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None

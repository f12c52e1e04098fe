"""A private OPA server that serves one policy set as a bundle: nothing is pushed over HTTP.

Pushing over the REST API costs one request per package, and OPA parses and compiles the whole
module set on every one of them (twice: the request, then the commit), so loading a library of
51 packages spends tens of seconds compiling. ``opa test`` compiles once. When govern is given
an OPA binary instead of a server (``govern test --backend opa`` without ``--opa-url``), it
starts ``opa run --server --bundle`` on a loopback port with the policy set as a bundle, which
OPA compiles once at start. The backend then runs in bundle mode: it verifies the revision and
stamp before the first query and in every batch, as against any bundle server.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final

from ..errors import BackendError, ConfigError, Location, PolicyLoadError

__all__ = ["BINARY_ENV", "LocalOpa", "find_binary", "free_port"]

#: The environment variable naming the OPA binary; else ``opa`` on PATH.
BINARY_ENV: Final = "GOVERN_OPA_BIN"
#: Seconds for the server to compile the bundle and answer ``/health?bundles``.
START_TIMEOUT: Final = 60.0
_PORT_ATTEMPTS: Final = 3
_PORT_TAKEN: Final = "address already in use"
_LOCATED = re.compile(r"(?P<file>[^\s:]+\.rego):(?P<row>\d+)(?::\d+)?: (?P<message>.+)")


def find_binary() -> str | None:
    """``$GOVERN_OPA_BIN`` (which must be executable), else ``opa`` on PATH, else None."""
    given = os.environ.get(BINARY_ENV)
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise ConfigError(f"{BINARY_ENV}={given} is not an executable file")
        return given
    return shutil.which("opa")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalOpa:
    """One ``opa run --server --bundle`` process on 127.0.0.1:``port``, owned by this object."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def start(self, bundle: bytes, *, v0: bool, paths: dict[str, str]) -> None:
        """Serve ``bundle``; return once OPA has activated it. ``paths`` maps a bundle file name
        to the author's path, so a compile error names the author's file and line."""
        self.stop()
        self._folder = tempfile.TemporaryDirectory(prefix="govern-opa-")
        archive = Path(self._folder.name) / "bundle.tar.gz"
        archive.write_bytes(bundle)
        log = Path(self._folder.name) / "opa.log"
        command = [
            self.binary, "run", "--server", "--addr", f"127.0.0.1:{self.port}",
            "--log-level", "error", "--skip-version-check", "--shutdown-grace-period", "1",
            "--bundle", str(archive),
        ]  # fmt: skip
        if v0:
            command.append("--v0-compatible")
        for attempt in range(_PORT_ATTEMPTS):
            said = self._run(command, log)
            if said is None:
                return
            if _PORT_TAKEN not in said or attempt == _PORT_ATTEMPTS - 1:
                raise _start_error(said, paths)
            # another process bound the port between free_port() and OPA: take another one
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            command[command.index("--addr") + 1] = f"127.0.0.1:{self.port}"

    def _run(self, command: list[str], log: Path) -> str | None:
        """Start OPA and wait until it serves the bundle: None, or what it said when it exited."""
        with log.open("wb") as sink:
            try:
                self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
            except OSError as exc:
                raise BackendError(f"cannot start the OPA binary {self.binary}: {exc}") from None
        atexit.register(self.stop)  # never left running by a process that did not close it
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self._process.poll()
            if code is not None:
                self._process = None
                return f"(exit status {code}) " + log.read_text("utf-8", "replace")
            if _healthy(self.url) and self._process.poll() is None:
                return None  # (a foreign server on the port would fail the revision check next)
            if time.monotonic() > deadline:
                self.stop()
                raise BackendError(
                    f"the OPA server started from {self.binary} was not ready within {START_TIMEOUT:g} s"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the process (if running) and remove the bundle."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        atexit.unregister(self.stop)
        folder, self._folder = self._folder, None
        if folder is not None:
            folder.cleanup()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health?bundles=true", timeout=1) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _start_error(log: str, paths: dict[str, str]) -> Exception:
    """What OPA said when it refused to start: a compile error names the author's file and line."""
    status, _, log = log.partition(") ")
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        match = _LOCATED.search(line)
        if match is None:
            continue
        file = match.group("file").lstrip("/")
        if file in paths:
            others = sum(1 for other in lines if other is not line and _LOCATED.search(other))
            more = f"; {others} more error(s)" if others else ""
            return PolicyLoadError(
                match.group("message").strip() + more, Location(paths[file], int(match.group("row")))
            )
    said = lines[-1] if lines else "no output"
    return BackendError(f"the OPA server started from its binary exited ({status[1:]}): {said}")

"""The embedded engine in a worker process, with a deadline and a memory ceiling.

regorus has no limit of its own: a 25-million-element comprehension runs for minutes, and
``numbers.range(1, 2e9)`` or a huge ``sprintf`` width make the Rust allocator abort the whole
process (exit 134, no message). :class:`BoundedBackend` runs :class:`EmbeddedBackend` in one
persistent worker process whose address space is capped (``RLIMIT_AS``) and waits for each
call at most a deadline. A call that runs out of time (the worker is killed) or memory (the
worker dies or raises MemoryError) is a :class:`BackendError` naming the rule, which the
checker turns into an ``error`` result: exit 3, never a crash, a hang or a pass. The next call
starts a fresh worker and loads the same policy set into it.

Defaults: 10 s per call and 1 GiB, from :class:`EvalLimits`; ``GOVERN_EVAL_TIMEOUT`` (seconds)
and ``GOVERN_EVAL_MEMORY`` (bytes, or a number with KiB/MiB/GiB) change them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, ClassVar

from ..errors import BackendError, ConfigError, GovernError, Location, PolicyLoadError
from ..policyset import PolicySet
from .base import Backend, PackageValues

__all__ = ["DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "BoundedBackend", "EvalLimits", "parse_memory"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY = 1 << 30
TIMEOUT_ENV = "GOVERN_EVAL_TIMEOUT"
MEMORY_ENV = "GOVERN_EVAL_MEMORY"
#: The worker itself (Python, regorus, the policy set) needs this much address space.
MIN_MEMORY = 128 << 20
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gib": 1 << 30,
}
_STDERR_TAIL = 300


def parse_memory(text: str, option: str = MEMORY_ENV) -> int:
    """``1073741824``, ``512MiB``, ``1GiB``, ``2g`` → bytes; anything else is a ConfigError."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ConfigError(f"{option} {text!r} is not a size (bytes, or a number with KiB, MiB or GiB)")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < MIN_MEMORY:
        raise ConfigError(f"{option} {text!r} is below the {MIN_MEMORY >> 20} MiB the engine itself needs")
    return size


def parse_timeout(text: str, option: str = TIMEOUT_ENV) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):  # also refuses NaN
        raise ConfigError(f"{option} {text!r} is not a positive number of seconds")
    return value


@dataclass(frozen=True)
class EvalLimits:
    """How long one embedded call may take (seconds) and how much memory its worker may map."""

    timeout: float = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EvalLimits:
        env = os.environ if environ is None else environ
        timeout = env.get(TIMEOUT_ENV)
        memory = env.get(MEMORY_ENV)
        return cls(
            timeout=parse_timeout(timeout) if timeout else DEFAULT_TIMEOUT,
            memory=parse_memory(memory) if memory else DEFAULT_MEMORY,
        )

    def describe(self) -> str:
        return f"{self.timeout:g} s / {self.memory / (1 << 30):.3g} GiB"


class BoundedBackend(Backend):
    """:class:`EmbeddedBackend` in a worker process bounded by :class:`EvalLimits`."""

    name: ClassVar[str] = "embedded"

    def __init__(self, limits: EvalLimits | None = None) -> None:
        self.limits = limits or EvalLimits()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send: Connection | None = None
        self._stderr: Any = None
        self._loaded: tuple[PolicySet, dict[str, Any]] | None = None
        self._load_op = "load"  # or "load_unprobed" after a probe that ran out of time or memory
        self._last_input: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ the Backend interface

    def version(self) -> str:
        from .embedded import _regorus_version

        return _regorus_version()

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        self._loaded = None
        self._load_op = "load"
        self._stop()
        try:
            self._call("load", (policy_set, dict(data)), "loading the policy set")
        except PolicyLoadError:
            raise
        except BackendError:
            # The load-time probe (every rule on an empty input) ran out of time or memory: some
            # rule runs away whatever the input. Load without the probe; evaluation then reports
            # that rule as an error naming it, as it would for any input.
            self._stop()
            self._load_op = "load_unprobed"
            self._call(self._load_op, (policy_set, dict(data)), "loading the policy set")
        self._loaded = (policy_set, dict(data))

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        result: PackageValues = self._call("evaluate", (input_doc, packages), "evaluating the policy set")
        self._last_input = input_doc
        return result

    def evaluate_json(
        self,
        input_json: str,
        stage: str | None,
        packages: tuple[str, ...],
        input_doc: Mapping[str, Any] | None = None,
    ) -> PackageValues:
        # only the text crosses to the worker: one string to pickle instead of the whole document
        result: PackageValues = self._call(
            "evaluate_json", (input_json, stage, packages), "evaluating the policy set"
        )
        self._last_input = input_doc
        return result

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        # the worker keeps the last input: do not send the same document again
        same = input_doc is not None and input_doc is self._last_input and self._process is not None
        value = self._call("evaluate_rule", (None if same else input_doc, path), path)
        if input_doc is not None:
            self._last_input = input_doc
        return value

    def close(self) -> None:
        self._stop()
        self._stderr_tail()

    # ------------------------------------------------------------------ the worker

    def _start(self) -> Connection:
        if self._conn is not None:
            return self._conn
        import multiprocessing.connection as mpc

        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stderr_tail
        env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child_read), str(child_write), str(self.limits.memory)],
                pass_fds=(child_read, child_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise BackendError(f"cannot start the evaluation worker: {exc.strerror}") from None
        finally:
            os.close(child_read)
            os.close(child_write)
        self._conn = mpc.Connection(parent_read, writable=False)
        self._send = mpc.Connection(parent_write, readable=False)
        self._last_input = None
        if self._loaded is not None:
            policy_set, data = self._loaded
            self._exchange(self._load_op, (policy_set, data), "reloading the policy set")
        return self._conn

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        for conn in (self._conn, getattr(self, "_send", None)):
            if conn is not None:
                conn.close()
        self._conn = None
        self._send = None
        self._last_input = None
        code = None
        if process is not None:
            if process.poll() is None:
                process.kill()
            code = process.wait()
        return code

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        finally:
            self._stderr.close()
            self._stderr = None
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("note:")]
        return lines[-1][:_STDERR_TAIL] if lines else ""

    def _call(self, op: str, args: tuple[Any, ...], what: str) -> Any:
        self._start()
        return self._exchange(op, args, what)

    def _exchange(self, op: str, args: tuple[Any, ...], what: str) -> Any:
        assert self._conn is not None
        assert self._send is not None
        try:
            self._send.send((op, args))
            ready = self._conn.poll(self.limits.timeout)
            reply = self._conn.recv() if ready else None
        except (EOFError, OSError):
            reply, ready = None, True
        if not ready:
            self._stop()
            self._stderr_tail()
            raise BackendError(
                f"{what} exceeded the evaluation deadline of {self.limits.timeout:g} s "
                f"(the engine was stopped; {TIMEOUT_ENV} sets the deadline)"
            )
        if reply is None:
            code = self._stop()
            tail = self._stderr_tail()
            why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise BackendError(
                f"{what} stopped the engine ({why}{': ' + tail if tail else ''}); it most likely "
                f"exceeded the memory ceiling of {self.limits.memory >> 20} MiB ({MEMORY_ENV} sets it)"
            )
        status, payload = reply
        if status == "ok":
            return payload
        kind, message, location, hint = payload
        if kind == "memory":
            self._stop()
            self._stderr_tail()
            raise BackendError(
                f"{what} exceeded the memory ceiling of {self.limits.memory >> 20} MiB ({MEMORY_ENV} sets it)"
            )
        error = PolicyLoadError if kind == "load" else BackendError
        raise error(message, location, hint)


# ---------------------------------------------------------------------- the worker process


def _reply_error(exc: BaseException) -> tuple[str, tuple[str, str, Location | None, str | None]]:
    if isinstance(exc, MemoryError):
        return "error", ("memory", "out of memory", None, None)
    if isinstance(exc, PolicyLoadError):
        return "error", ("load", exc.message, exc.location, exc.hint)
    if isinstance(exc, GovernError):
        return "error", ("backend", exc.message, exc.location, exc.hint)
    return "error", ("backend", f"{type(exc).__name__}: {exc}", None, None)


def _serve(read_fd: int, write_fd: int, memory: int) -> None:  # pragma: no cover - in the worker
    import multiprocessing.connection as mpc
    import resource

    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from .embedded import EmbeddedBackend

    requests = mpc.Connection(read_fd, writable=False)
    replies = mpc.Connection(write_fd, readable=False)
    backend = EmbeddedBackend()
    while True:
        try:
            op, args = requests.recv()
        except (EOFError, OSError):
            return
        try:
            reply: Any = ("ok", getattr(backend, op)(*args))
        except BaseException as exc:  # everything goes back to the parent, which decides
            reply = _reply_error(exc)
        try:
            replies.send(reply)
        except MemoryError:
            replies.send(_reply_error(MemoryError()))


if __name__ == "__main__":  # pragma: no cover - the worker's entry point
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))

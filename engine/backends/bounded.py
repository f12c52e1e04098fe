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

Starting the worker: where it is safe (Linux, and the calling process has a single thread), the
worker is forked from the caller, which has already read the policy set and imported the
engine: the child inherits both copy-on-write, sets its ceiling and loads the policies from
memory, in a few milliseconds instead of a fresh interpreter's start. Its ceiling is then the
address space it inherited plus the memory limit. Anywhere else (or with
``GOVERN_EVAL_WORKER=spawn``) the worker is a fresh interpreter, its whole address space capped.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import re
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from ..dataclass_methods import shared_methods
from ..errors import BackendError, ConfigError, GovernError, Location, PolicyLoadError
from ..policyset import PolicySet
from ..rego_ast import regorus_version
from .base import Backend, PackageValues

__all__ = ["DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "BoundedBackend", "EvalLimits", "parse_memory"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY = 1 << 30
TIMEOUT_ENV = "GOVERN_EVAL_TIMEOUT"
MEMORY_ENV = "GOVERN_EVAL_MEMORY"
#: ``spawn`` forces a fresh interpreter for the worker; ``fork`` (where safe) is the default.
WORKER_ENV = "GOVERN_EVAL_WORKER"
StartMethod = Literal["auto", "fork", "spawn"]
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


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
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


class _Channel:
    """One direction of a pipe carrying values, each behind its 8-byte length: marshalled when
    they are plain data (every request and reply of a decision), pickled otherwise (a policy set
    sent to a spawned worker, an error with its location)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def send(self, value: Any) -> None:
        try:
            data = b"m" + marshal.dumps(value)
        except ValueError:  # not plain data
            import pickle

            data = b"p" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        for part in (len(data).to_bytes(8, "big"), data):
            view = memoryview(part)
            while view:
                view = view[os.write(self.fd, view) :]

    def poll(self, timeout: float) -> bool:
        """Whether a value (or the end of the pipe) can be read within ``timeout`` seconds."""
        import select

        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(max(0, int(timeout * 1000))))

    def recv(self) -> Any:
        size = int.from_bytes(self._read(8), "big")
        data = memoryview(self._read(size))
        if data[0] == ord("m"):
            return marshal.loads(data[1:])  # our own worker, through our own pipe
        import pickle

        return pickle.loads(data[1:])

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError("the pipe was closed")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


class _Worker(Protocol):
    """What the backend needs of its worker process (``subprocess.Popen`` has it)."""

    pid: int

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self) -> int: ...


class _ForkedWorker:
    """A forked child, with ``Popen``'s poll/kill/wait (a negative code is the killing signal)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # already gone, not yet reaped
                os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _scratch_file() -> Any:
    """An anonymous read-write file for the worker's stderr (closed in ``_stderr_tail``): a
    memory file where Linux has them, else a temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            fd = os.memfd_create("govern-worker-stderr", os.MFD_CLOEXEC)
        except OSError:
            pass
        else:
            return open(fd, "w+b")
    import tempfile

    return tempfile.TemporaryFile()


def fork_is_safe() -> bool:
    """Forking without exec is safe here: Linux, and this process runs a single thread (native
    threads included, as counted by the kernel)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")  # not imported: no thread of its making runs
    if threading is not None and threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _mapped_bytes() -> int:
    """The address space this process maps now (``/proc/self/statm``), 0 if unknown."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class BoundedBackend(Backend):
    """:class:`EmbeddedBackend` in a worker process bounded by :class:`EvalLimits`."""

    name: ClassVar[str] = "embedded"

    def __init__(self, limits: EvalLimits | None = None, start: StartMethod = "auto") -> None:
        self.limits = limits or EvalLimits()
        if start == "auto" and os.environ.get(WORKER_ENV, "").strip().lower() == "spawn":
            start = "spawn"
        self.start_method: StartMethod = start
        #: How the current (or last) worker was started: ``fork`` or ``spawn``.
        self.started_by: str | None = None
        self._process: _Worker | None = None
        self._conn: _Channel | None = None
        self._send: _Channel | None = None
        self._stderr: Any = None
        self._loaded: tuple[PolicySet, dict[str, Any]] | None = None
        self._load_op = "load"  # or "load_unprobed" after a probe that ran out of time or memory
        self._last_input: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ the Backend interface

    def version(self) -> str:
        return regorus_version()

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

    def _start(self, first: tuple[str, tuple[Any, ...], str] | None = None) -> Any:
        """Start the worker if there is none. With ``first`` (an op, its arguments, what it
        does), a worker started now runs that op first and its reply is returned; a forked worker
        takes the arguments from memory rather than through the pipe. Without it, ``None``."""
        if self._conn is not None:
            return None if first is None else self._exchange(*first)
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        self._stderr = _scratch_file()
        reload = None
        if self._loaded is not None:
            reload = (self._load_op, self._loaded, "reloading the policy set")
        initial = reload or first
        if self.start_method != "spawn" and (self.start_method == "fork" or fork_is_safe()):
            pid = self._fork(child_read, child_write, parent_read, parent_write, initial)
            self._process = _ForkedWorker(pid)
            self.started_by = "fork"
            self._conn = _Channel(parent_read)
            self._send = _Channel(parent_write)
            self._last_input = None
            if initial is not None:
                reply = self._receive(initial[2])
                if reload is not None and first is not None:
                    return self._exchange(*first)
                return reply
            return None
        import subprocess

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
        self.started_by = "spawn"
        self._conn = _Channel(parent_read)
        self._send = _Channel(parent_write)
        self._last_input = None
        if reload is not None:
            self._exchange(*reload)
        return None if first is None else self._exchange(*first)

    def _fork(
        self,
        child_read: int,
        child_write: int,
        parent_read: int,
        parent_write: int,
        initial: tuple[str, tuple[Any, ...], str] | None,
    ) -> int:
        import resource  # noqa: F401 - the worker's ceiling, imported once before the fork

        from . import embedded

        assert self._stderr is not None
        stderr_fd = self._stderr.fileno()
        os.environ.setdefault("RUST_BACKTRACE", "0")
        embedded.import_regorus()
        # after the import: regorus' allocator reserves its address space (1 GiB) when imported,
        # and the worker's ceiling is what it inherits plus the limit
        ceiling = self.limits.memory + _mapped_bytes()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(child_read)
            os.close(child_write)
            raise BackendError(f"cannot start the evaluation worker: {exc.strerror}") from None
        if pid == 0:  # pragma: no cover - in the worker (measured by the tests through the parent)
            code = 70
            try:
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(stderr_fd, 2)
                keep = sorted({child_read, child_write})
                os.closerange(3, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, os.sysconf("SC_OPEN_MAX"))
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C stops it, even inside the engine
                _serve(child_read, child_write, ceiling, initial[:2] if initial else None)
                code = 0
            finally:
                os._exit(code)
        os.close(child_read)
        os.close(child_write)
        return pid

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
        return self._start((op, args, what))

    def _exchange(self, op: str, args: tuple[Any, ...], what: str) -> Any:
        assert self._send is not None
        with contextlib.suppress(EOFError, OSError):  # a gone worker: _receive says why
            self._send.send((op, args))
        return self._receive(what)

    def _receive(self, what: str) -> Any:
        assert self._conn is not None
        try:
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


def _serve(
    read_fd: int, write_fd: int, memory: int, first: tuple[str, tuple[Any, ...]] | None = None
) -> None:  # pragma: no cover - in the worker
    import resource

    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from .embedded import EmbeddedBackend

    requests = _Channel(read_fd)
    replies = _Channel(write_fd)
    backend = EmbeddedBackend()
    while True:
        if first is not None:
            (op, args), first = first, None
        else:
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

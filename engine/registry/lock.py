"""Per-model locks: gates on one registered model of one registry run one at a time on this machine.

The lock is keyed by the registry's URI and the model name, never by where the audit log lives, so
two gates writing different audit logs still serialize. Locks are ``flock``-ed files in
``GOVERN_LOCK_DIR``, else ``$XDG_CACHE_HOME/govern/locks``, else ``~/.cache/govern/locks``. They do
not serialize gates on different machines: that needs a shared database.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError

__all__ = ["LOCK_DIR_ENV", "default_lock_dir", "lock_key", "model_lock"]

LOCK_DIR_ENV = "GOVERN_LOCK_DIR"


def default_lock_dir() -> Path:
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "govern" / "locks"


def _normal_uri(uri: str) -> str:
    """One spelling per store: a sqlite path made absolute, a trailing slash dropped."""
    if uri.startswith("sqlite:///"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri.rstrip("/")


def lock_key(uri: str, name: str) -> str:
    """A file name for the (registry, model) pair: readable prefix, unambiguous digest."""
    digest = hashlib.sha256(f"{_normal_uri(uri)}\0{name}".encode("utf-8", "surrogateescape")).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    return f"{readable}-{digest[:24]}.lock"


@contextmanager
def model_lock(lock_dir: Path, uri: str, name: str) -> Iterator[Path]:
    """Hold the exclusive lock of ``name`` in the registry at ``uri``."""
    path = lock_dir / lock_key(uri, name)
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held open across the lock
    except OSError as exc:
        raise ConfigError(
            f"cannot open the lock {path}: {exc.strerror or exc} (set {LOCK_DIR_ENV} to a writable folder)"
        ) from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

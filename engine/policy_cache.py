"""A disk cache for what govern derives from policy text (parse facts, engine text, call lists).

Reading a policy set means parsing every module with the engine, walking its syntax tree and
rewriting it for the embedded engine; the result depends only on the module's text and on the
code that derives it. An entry is keyed by the sha256 of its kind, its inputs, govern's version,
regorus' version and the source of the modules that derive it, so a change to any of them
misses the cache rather than reusing a stale entry.

Entries live in ``$GOVERN_CACHE_DIR`` (``off`` or an empty value turns the cache off), else
``$XDG_CACHE_HOME/govern/policies``, else ``~/.cache/govern/policies``. Each is one JSON file
named by its key, holding the key again, the sha256 of its value's canonical JSON and of its
value's text as written (checked on reading without serializing the value again): an entry
whose key or digest does not match, that does not parse, or whose value has the wrong shape is
ignored (and rewritten). The digest catches damage, not forgery: the folder is trusted like the installed
code. Writes are atomic (a temporary file renamed into place); a cache
that cannot be read or written is the same as no cache. Errors are never cached. The folder
holds at most :data:`MAX_ENTRIES` entries: about one write in 64 removes the oldest written
beyond it (and a killed writer's temporary files), so the cache does not grow without end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CACHE_ENV", "cache_dir", "cached", "fingerprint", "package_identity"]

CACHE_ENV = "GOVERN_CACHE_DIR"
_FORMAT = "govern-policy-cache/2"
_T = TypeVar("_T")

#: The modules whose code decides what a cached value is (their source is part of every key).
_DERIVING = (
    "rego_ast",
    "policyset",
    "policy_cache",
    "backends/fidelity",
    "backends/arith_flow",
    "backends/embedded",
    "backends/derived",
    "rego_tests",
    "schemas",
    "documents",
    "yaml_document",
)


def cache_dir() -> Path | None:
    """Where entries are kept, or None when the cache is off."""
    return _cache_dir(os.environ.get(CACHE_ENV), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))


@cache
def _cache_dir(configured: str | None, xdg: str | None, home: str | None) -> Path | None:
    """:func:`cache_dir` for these values of the environment (looked up once per process)."""
    if configured is not None:
        configured = configured.strip()
        if not configured or configured.lower() == "off":
            return None
        return Path(configured)
    xdg = (xdg or "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "govern" / "policies"


@cache
def fingerprint() -> str:
    """govern's version, regorus' version and the deriving modules' source, as one digest."""
    from . import __version__
    from .rego_ast import regorus_version

    h = hashlib.sha256(f"{_FORMAT}\0{__version__}\0{regorus_version()}\0".encode())
    here = Path(__file__).resolve().parent
    for name in _DERIVING:
        try:
            h.update((here / f"{name}.py").read_bytes())
        except OSError:  # pragma: no cover - no source (a zip): the version must do
            h.update(name.encode())
    return h.hexdigest()


@cache
def package_identity(name: str) -> str:
    """Which version of an installed package is here (its files' names, sizes and modification
    times), found without importing it: part of the key of what that package computes."""
    import importlib.util

    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None or found.origin is None:
        return f"{name} absent"
    folder = os.path.dirname(found.origin)
    parts = [name]
    try:
        names = sorted(os.listdir(folder))
        for entry in names:
            if entry.endswith((".py", ".so", ".pyd")):
                info = os.stat(os.path.join(folder, entry))
                parts.append(f"{entry}:{info.st_size}:{info.st_mtime_ns}")
    except OSError:
        parts.append(found.origin)
    return ";".join(parts)


def _key(kind: str, parts: tuple[str, ...]) -> str:
    h = hashlib.sha256(f"{fingerprint()}\0{kind}".encode())
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(f"\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _value_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_SHA_LEN = 64
_MIDDLE = '","text_sha256":"'
_VALUE = '","value":'


def _read(path: str, key: str) -> Any:
    """The value stored under ``key``, or raises (missing, unreadable, corrupt, mismatched)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    fast = _read_as_written(text, key)
    if fast is not _NOT_AS_WRITTEN:
        return fast
    entry = json.loads(text)
    if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
        raise ValueError("not this entry")
    value = entry["value"]
    if entry.get("sha256") != _value_digest(value):
        raise ValueError("digest mismatch")
    return value


_NOT_AS_WRITTEN = object()


def _read_as_written(text: str, key: str) -> Any:
    """The value of an entry laid out exactly as :func:`_write` writes it, checked against the
    sha256 of its value's text (no re-serialization); anything else is read the general way."""
    head = f'{{"key":"{key}","sha256":"'
    start = len(head) + _SHA_LEN
    digest_at = start + len(_MIDDLE)
    value_at = digest_at + _SHA_LEN + len(_VALUE)
    if (
        not text.startswith(head)
        or text[start:digest_at] != _MIDDLE
        or text[digest_at + _SHA_LEN : value_at] != _VALUE
        or not text.endswith("}")
    ):
        return _NOT_AS_WRITTEN
    body = text[value_at:-1]
    if (
        hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        != text[digest_at : digest_at + _SHA_LEN]
    ):
        raise ValueError("digest mismatch")
    return json.loads(body)


def _write(folder: Path, path: str, key: str, value: Any) -> None:
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        text_digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        # one JSON object, the value last, so that a read can check the value's own text
        entry = f'{{"key":"{key}","sha256":"{_value_digest(value)}{_MIDDLE}{text_digest}{_VALUE}{body}}}'
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(entry)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, TypeError, ValueError):
        return  # a cache that cannot be written is no cache
    if int(key[:4], 16) % _PRUNE_EVERY == 0:  # about one write in _PRUNE_EVERY, deterministically
        _prune(folder)


#: The cache holds at most this many entries; beyond it the least recently written go first.
MAX_ENTRIES = 20_000
_PRUNE_EVERY = 64


def _prune(folder: Path, limit: int | None = None) -> None:
    """Remove the oldest entries (by the time they were written) beyond ``limit``, down to
    three quarters of it, and temporary files a killed writer left behind an hour ago."""
    import time

    limit = MAX_ENTRIES if limit is None else limit
    try:
        with os.scandir(folder) as listing:
            found = [(entry.stat().st_mtime, entry.path, entry.name) for entry in listing if entry.is_file()]
    except OSError:
        return
    stale = time.time() - 3600
    entries = sorted((m, path) for m, path, name in found if not name.startswith(".tmp-"))
    leftovers = [path for m, path, name in found if name.startswith(".tmp-") and m < stale]
    excess = entries[: len(entries) - limit * 3 // 4] if len(entries) > limit else []
    for path in leftovers + [path for _, path in excess]:
        # another process may have removed or replaced it: either way it is not ours to keep
        with contextlib.suppress(OSError):
            os.unlink(path)


def cached(
    kind: str,
    parts: tuple[str, ...],
    compute: Callable[[], _T],
    encode: Callable[[_T], Any],
    decode: Callable[[Any], _T],
) -> _T:
    """``compute()``, or its value from the cache.

    ``encode`` turns the value into JSON data (or raises TypeError/ValueError: not cached);
    ``decode`` turns it back and raises (any ``Exception``) on a value of the wrong shape, which is
    then recomputed."""
    folder = cache_dir()
    if folder is None:
        return compute()
    key = _key(kind, parts)
    path = os.path.join(folder, f"{key}.json")
    try:
        return decode(_read(path, key))
    except Exception:  # missing or unusable: recompute
        pass
    value = compute()
    try:
        data = encode(value)
    except (TypeError, ValueError):  # a value JSON cannot hold exactly: not cached
        return value
    _write(folder, path, key, data)
    return value

"""Strict loading of YAML and JSON documents, with a line for every field.

Specs and evidence are user input, so this loader is stricter than ``yaml.safe_load``:

* bytes must be UTF-8 (the error names the line of the first bad byte);
* duplicate keys are errors, not "last one wins";
* keys are strings; NaN, infinities and numbers beyond 1e300 are rejected;
* anchors and aliases are allowed, but the expanded document is bounded, both in values and in
  the characters of its strings (an alias bomb is an error, not an out-of-memory);
* only regular files are read, and their size is checked before the first byte is read
  (a device, FIFO or socket is an input error, never a hang or an endless read);
* YAML timestamps stay strings (``expires: 2027-01-01`` is the string the user wrote).

Every value's line is recorded against its field path, so schema errors can name the line.
JSON read on the fast path records no lines; when an error needs one, the field is found by
walking the text with the json module's C scanner (:class:`JsonLocator`), never by re-parsing
the whole document in Python.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, Location

__all__ = [
    "Document",
    "FieldPath",
    "JsonLocator",
    "format_path",
    "load_document",
    "parse_document",
    "read_input",
]

FieldPath = tuple[str | int, ...]

MAX_NODES = 200_000
MAX_BYTES = 64 * 1024 * 1024
#: Characters of string values a document may expand to through aliases. A document without
#: aliases cannot exceed its own size, so this bound only ever stops an alias bomb.
MAX_EXPANDED_CHARS = MAX_BYTES
MAX_ABS_NUMBER = 1e300
#: A value with more nodes than this is not kept in the policy cache (see :func:`is_plain_json`).
PLAIN_JSON_NODES = 20_000
_SCALARS = (str, int, float, bool)


def format_path(path: FieldPath) -> str:
    """``("fairness", "thresholds", 0)`` → ``fairness.thresholds[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(document root)"


@dataclass
class Document:
    """A parsed document: its value, where it came from, and the line of every field."""

    value: Any
    source: str
    lines: dict[FieldPath, int] = field(default_factory=dict)
    sha256: str = ""
    locate: Callable[[FieldPath], int | None] | None = field(default=None, compare=False, repr=False)

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is None and self.locate is not None:
                line = self.locate(tuple(path[:cut]))
            if line is not None:
                return line
        return None

    def location(self, path: FieldPath) -> Location:
        return Location(self.source, self.line_of(path), format_path(path) if path else None)


def _decode(raw: bytes, source: str, error: Callable[..., InputError]) -> str:
    if len(raw) > MAX_BYTES:
        raise error(f"the file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}", Location(source))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            Location(source, line),
        ) from None
    return text.removeprefix("\ufeff")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def parse_document(
    raw: bytes, source: str, error: Callable[..., InputError], *, json_fast_path: bool = False
) -> Document:
    """Parse YAML (or JSON, which is YAML) bytes into a :class:`Document`.

    With ``json_fast_path`` a JSON document is parsed by the json module without line
    tracking; lines are recovered only if a later error needs them (see :func:`with_lines`).
    """
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, source, error)
    if json_fast_path and text.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs)
        except (ValueError, RecursionError) as exc:
            line = getattr(exc, "lineno", None)
            message = getattr(exc, "msg", None) or str(exc)
            if line is None:
                line = _locate_json_problem(raw, source, error, message)
            raise error(f"invalid JSON: {message}", Location(source, line)) from None
        _check_json_numbers(value, source, error, ())
        return Document(value=value, source=source, lines={}, sha256=digest)
    value, lines = _parsed_yaml(text, digest, source, error)
    return Document(value=value, source=source, lines=lines, sha256=digest)


def _parsed_yaml(
    text: str, digest: str, source: str, error: Callable[..., InputError]
) -> tuple[Any, dict[FieldPath, int]]:
    """The value of a YAML text and the line of every field; from the policy cache when the
    same bytes were parsed before (by their sha256; a document that failed is never kept)."""
    from .policy_cache import cached, package_identity

    def parse() -> tuple[Any, dict[FieldPath, int]]:
        from .yaml_document import parse_yaml

        return parse_yaml(text, source, error)

    def encode(parsed: tuple[Any, dict[FieldPath, int]]) -> dict[str, Any]:
        value, lines = parsed
        if not is_plain_json(value):
            raise TypeError("not plain JSON data")
        return {"value": value, "lines": [[list(path), line] for path, line in lines.items()]}

    def decode(stored: Any) -> tuple[Any, dict[FieldPath, int]]:
        lines = {tuple(path): line for path, line in stored["lines"]}
        if not all(
            type(line) is int and all(type(p) in (str, int) for p in path) for path, line in lines.items()
        ):
            raise TypeError("not a line table")
        return stored["value"], lines

    parsed: tuple[Any, dict[FieldPath, int]] = cached(
        "yaml-document", (digest, package_identity("yaml")), parse, encode, decode
    )
    return parsed


def is_plain_json(value: Any, budget: int = PLAIN_JSON_NODES) -> bool:
    """Whether ``value`` is JSON data and nothing else (dicts with string keys, lists, strings,
    numbers, booleans, null; no subclasses), within ``budget`` nodes: then its JSON text holds
    exactly what it holds."""
    stack = [value]
    while stack:
        budget -= 1
        if budget < 0:
            return False
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            for key, item in node.items():
                if type(key) is not str:
                    return False
                stack.append(item)
        elif kind is list:
            stack.extend(node)
        elif kind not in _SCALARS and node is not None:
            return False
    return True


def load_yaml_value(text: str, kind: str, load: Callable[[str], Any]) -> Any:
    """``load(text)`` (a YAML text parsed by ``load``, one loader per ``kind``), from the policy
    cache when the same text was parsed before; only plain JSON data is kept."""
    from .policy_cache import cached, package_identity

    def encode(value: Any) -> Any:
        if not is_plain_json(value):
            raise TypeError("not plain JSON data")
        return value

    def decode(value: Any) -> Any:
        return value

    return cached(f"yaml-{kind}", (text, package_identity("yaml")), lambda: load(text), encode, decode)


_CONSTANT_RE = re.compile(rb'(?<![\w"])(NaN|-?Infinity)(?![\w"])')


def _locate_json_problem(
    raw: bytes, source: str, error: Callable[..., InputError], message: str
) -> int | None:
    """The line of a problem the json module reports without one (a constant, a duplicate key)."""
    if "is not a JSON number" in message:
        match = _CONSTANT_RE.search(raw)
        return raw[: match.start()].count(b"\n") + 1 if match else None
    duplicate = re.match(r"duplicate key '(.*)'$", message, re.DOTALL)
    if duplicate:
        # The second occurrence of the key: a C-speed regular expression, no re-parse.
        key = re.escape(json.dumps(duplicate.group(1)).encode("utf-8"))
        hits = [m.start() for m in re.finditer(key + rb"\s*:", raw)]
        if len(hits) >= 2:
            return raw[: hits[1]].count(b"\n") + 1
    return None


def _check_json_numbers(value: Any, source: str, error: Callable[..., InputError], path: FieldPath) -> None:
    stack: list[tuple[Any, FieldPath]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, (*where, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
        elif isinstance(item, float) and (not math.isfinite(item) or abs(item) > MAX_ABS_NUMBER):
            raise error(
                f"the number {item!r} is not finite or too large", Location(source, None, format_path(where))
            )
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**63 - 1:
            raise error("an integer does not fit in 64 bits", Location(source, None, format_path(where)))


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsonLocator:
    """The line of a field path in JSON text, found by walking down to it.

    Only the containers on the path are stepped through; every sibling value is skipped by
    the json module's C scanner, so locating a field in a 60 MB file costs about one load.
    Results are cached, and at most ``budget`` walks are made per document (a file with
    thousands of errors names the lines of the first ones, not of all).
    """

    def __init__(self, text: str, budget: int = 64) -> None:
        self.text = text
        self.budget = budget
        self._cache: dict[FieldPath, int | None] = {}

    def __call__(self, path: FieldPath) -> int | None:
        if path in self._cache:
            return self._cache[path]
        if self.budget <= 0:
            return None
        self.budget -= 1
        try:
            offset = self._offset(path)
        except (ValueError, IndexError):
            offset = None
        line = None if offset is None else self.text.count("\n", 0, offset) + 1
        self._cache[path] = line
        return line

    def _ws(self, index: int) -> int:
        match = _WHITESPACE.match(self.text, index)
        return match.end() if match else index

    def _offset(self, path: FieldPath) -> int | None:
        text = self.text
        index = self._ws(0)
        for part in path:
            if isinstance(part, str):
                if text[index] != "{":
                    return None
                index = self._ws(index + 1)
                while text[index] != "}":
                    key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
                    index = self._ws(index)
                    if text[index] != ":":
                        return None
                    index = self._ws(index + 1)
                    if key == part:
                        break
                    index = self._skip(index)
                else:
                    return None
            else:
                if text[index] != "[":
                    return None
                index = self._ws(index + 1)
                for _ in range(part):
                    if text[index] == "]":
                        return None
                    index = self._skip(index)
                if text[index] == "]":
                    return None
        return index

    def _skip(self, index: int) -> int:
        """Past one value and its trailing comma."""
        _, index = _DECODER.raw_decode(self.text, index)
        index = self._ws(index)
        if self.text[index] == ",":
            index = self._ws(index + 1)
        return index


def with_lines(doc: Document, raw: bytes, error: Callable[..., InputError]) -> Document:
    """Let a document parsed on the JSON fast path name lines (used on errors)."""
    if doc.lines or doc.locate is not None:
        return doc
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return doc
    if text.lstrip().startswith(("{", "[")):
        doc.locate = JsonLocator(text)
        return doc
    try:
        slow = parse_document(raw, doc.source, error)
    except InputError:
        return doc
    doc.lines = slow.lines
    return doc


_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
)


def _check_kind(mode: int, source: str, error: Callable[..., InputError]) -> None:
    for test, what in _KINDS:
        if test(mode):
            raise error(what, Location(source))
    if not stat.S_ISREG(mode):
        raise error("is not a regular file", Location(source))


def read_input(path: Path, error: Callable[..., InputError], limit: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``: a regular file of at most ``limit`` bytes, checked before reading.

    The file is opened without blocking (a FIFO with no writer would wait forever) and its
    type and size are taken from the open descriptor, so nothing is read from a device, pipe or
    socket, and a file larger than the limit is refused without reading it.
    """
    source = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        _check_kind(os.stat(path).st_mode, source, error)  # a socket cannot even be opened
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error("no such file", Location(source)) from None
    except IsADirectoryError:
        raise error("is a directory, not a file", Location(source)) from None
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror}", Location(source)) from None
    try:
        info = os.fstat(fd)
        _check_kind(info.st_mode, source, error)  # what was opened, not only what was named
        if info.st_size > limit:
            raise error(f"the file is {info.st_size:,} bytes; the limit is {limit:,}", Location(source))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise error(f"the file grew past the limit of {limit:,} bytes while read", Location(source))
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror}", Location(source)) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def load_document(
    path: Path, error: Callable[..., InputError], *, json_fast_path: bool = False
) -> tuple[Document, bytes]:
    """Read and parse ``path``; a missing or unreadable file is an input error."""
    raw = read_input(path, error)
    return parse_document(raw, str(path), error, json_fast_path=json_fast_path), raw

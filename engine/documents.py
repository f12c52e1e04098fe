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

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


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


class _Builder:
    """Turns a composed YAML node graph into plain values, checking as it goes."""

    def __init__(self, source: str, error: Callable[..., InputError]) -> None:
        self.source = source
        self.error = error
        self.lines: dict[FieldPath, int] = {}
        self.nodes = 0
        self.chars = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: Node, message: str, path: FieldPath) -> InputError:
        return self.error(message, Location(self.source, node.start_mark.line + 1, format_path(path)))

    def build(self, node: Node, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                f"the document expands to more than {MAX_NODES:,} values; "
                "refusing it (an alias bomb, or far too large for a spec)",
                path,
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise self.fail(node, f"YAML tag {node.tag} is not allowed here", path)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        self.chars += len(node.value)
        if self.chars > MAX_EXPANDED_CHARS:
            raise self.fail(
                node,
                f"the document's strings expand to more than {MAX_EXPANDED_CHARS:,} characters; "
                "refusing it (an alias bomb, or far too large for a spec)",
                path,
            )
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise self.fail(
                    key_node, "YAML merge keys ('<<') are not supported; write the keys out", path
                )
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain string", path)
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                key = key_node.value  # `1:` or `true:` as a key: keep what the user wrote
            child = (*path, key)
            if key in out:
                first = self.lines.get(child)
                raise self.fail(key_node, f"duplicate key '{key}' (first defined on line {first})", child)
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return node.value
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.fail(
                node, f"invalid value {node.value!r}: {exc.problem or exc.context}", path
            ) from None
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise self.fail(node, f"invalid value {node.value!r} for tag {node.tag}: {exc}", path) from None
        if isinstance(value, float) and (not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER):
            raise self.fail(node, f"the number {node.value!r} is not finite or too large", path)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
            raise self.fail(node, f"the integer {node.value!r} does not fit in 64 bits", path)
        if isinstance(value, bytes | set | tuple):
            raise self.fail(node, f"unsupported YAML type {node.tag}", path)
        return value


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
    builder = _Builder(source, error)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"invalid YAML: {problem}", Location(source, line)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise error(f"invalid YAML: {exc}", Location(source)) from None
    if node is None:
        raise error("the document is empty", Location(source, 1))
    value = builder.build(node, ())
    return Document(value=value, source=source, lines=builder.lines, sha256=digest)


def _compose(text: str) -> Node | None:
    """The node graph, composed by libyaml when it is there (ten times faster); a document it
    refuses is composed again in pure Python, whose error (wording and line) is the one raised."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            node: Node | None = yaml.compose(text, Loader=fast)
            return node
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


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

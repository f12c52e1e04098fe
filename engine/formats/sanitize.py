"""Neutralize user text before a person (or a CI runner) reads it.

Model names, rule messages, waiver reasons and evidence values are user input. Printed raw,
they could drive the terminal (ANSI CSI and OSC sequences: colours, titles, hyperlinks), hide
text (bidirectional overrides), or give orders to a CI runner (a line starting ``::`` is a
GitHub Actions workflow command: ``::error``, ``::stop-commands::``, ``::add-mask::``).

:func:`clean` removes escape sequences, control characters (tab and newline are kept; a
carriage return becomes a newline) and bidirectional controls, and breaks every ``::`` that
starts a line. :func:`one_line` does the same and also folds line breaks into `` ⏎ ``.
:func:`sanitize_decision` applies :func:`clean` to every string of a decision, for the
human-facing formats. Rich markup needs no escaping here: the text format hands Rich only
``Text`` objects, which Rich never parses for markup.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import Any, TypeVar

__all__ = ["clean", "escape_json_controls", "one_line", "sanitize_decision", "sanitize_value"]

T = TypeVar("T")

# ESC-introduced sequences: CSI (ESC [ … final byte), OSC/DCS/SOS/PM/APC strings up to BEL or ST,
# and two-byte escapes; plus their 8-bit C1 forms (CSI 0x9b, OSC 0x9d, …).
_ESCAPE = r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?               # CSI
  | (?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)   # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]?                                # other escapes (and a lone ESC)
    """
# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates,
# lone surrogates (they cannot be encoded, so they would crash the writer), and the
# non-characters XML refuses.
_CONTROL = (
    "[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_LINE_BREAKS = "\r\n|[\r\u2028\u2029]"
# A workflow command is a line whose first non-blank characters are `::`.
_COMMAND = r"^([ \t]*):(?=:)"
_JSON_UNSAFE = "[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The patterns of :func:`clean`, compiled on first need (most text never needs them)."""
    return (
        re.compile(_ESCAPE, re.VERBOSE | re.DOTALL),
        re.compile(_LINE_BREAKS),
        re.compile(_CONTROL),
        re.compile(_COMMAND, re.MULTILINE),
    )


def _already_clean(text: str) -> bool:
    """Text none of :func:`clean`'s patterns can change: printable ASCII, tabs and newlines,
    and no ``::`` (every escape, control, line separator and bidi character is outside it)."""
    if not text.isascii() or "::" in text:
        return False
    return text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable()


def clean(text: str) -> str:
    """``text`` with no escape sequence, no control character and no line starting ``::``."""
    if _already_clean(text):
        return text
    escape, line_breaks, control, command = _patterns()
    text = escape.sub("", text)
    text = line_breaks.sub("\n", text)
    text = control.sub("", text)
    return command.sub(r"\1: ", text)


@cache
def _json_unsafe() -> re.Pattern[str]:
    return re.compile(_JSON_UNSAFE)


def escape_json_controls(text: str) -> str:
    """JSON text with DEL, C1 controls, line separators and bidi controls written as ``\\uXXXX``.

    ``json.dumps(..., ensure_ascii=False)`` escapes only C0 controls; the rest can appear only
    inside strings, where the escape means the same character: the data is unchanged.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    return _json_unsafe().sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def one_line(text: str) -> str:
    """:func:`clean`, on one line: each line break becomes `` ⏎ ``."""
    return clean(text).replace("\n", " ⏎ ")


def sanitize_value(value: T) -> T:
    """``value`` with :func:`clean` applied to every string inside it (keys included).

    Dataclasses (through their init fields), mappings, lists and tuples are copied; enums,
    numbers and other values are kept as they are. Nothing is mutated.
    """
    return _walk(value)  # type: ignore[no-any-return]


_KEPT = (int, float, bool, type(None))


def _walk(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return clean(value)
    if kind in _KEPT:
        return value
    if kind is dict:
        return {_walk(k): _walk(v) for k, v in value.items()}
    if kind is list:
        return [_walk(v) for v in value]
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return clean(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _init_fields(type(value))
        if names is None:
            changes = {f.name: _walk(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return dataclasses.replace(value, **changes)
        # every init field given: what dataclasses.replace does, without looking the fields up again
        return type(value)(**{name: _walk(getattr(value, name)) for name in names})
    if isinstance(value, Mapping):
        return {_walk(k): _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v) for v in value)
    return value


@cache
def _init_fields(cls: type) -> tuple[str, ...] | None:
    """The init fields of a dataclass, or None when ``dataclasses.replace`` must be asked (an
    ``InitVar``, or a field left out of ``__init__``)."""
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields) or any(
        isinstance(f.type, dataclasses.InitVar) for f in getattr(cls, "__dataclass_fields__", {}).values()
    ):
        return None
    return tuple(f.name for f in fields)


def sanitize_decision(decision: T) -> T:
    """A copy of ``decision`` safe to show to people: every string passed through :func:`clean`."""
    return sanitize_value(decision)

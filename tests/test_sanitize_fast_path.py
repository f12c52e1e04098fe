"""clean() skips its patterns only for text they cannot change, and sanitizing a decision
copies it as dataclasses.replace would."""

from __future__ import annotations

import dataclasses
import random

from govern.engine.formats import sanitize
from govern.engine.formats.sanitize import clean, escape_json_controls, sanitize_value

_ALPHABET = [chr(i) for i in range(0xA0)] + [
    "\u2028",
    "\u2029",
    "\u202a",
    "\u2066",
    "\ud800",
    "\ufffe",
    "é",
    "⏎",
    ":",
    "::",
    " ::",
    "\x1b[31m",
    "\x1b]8;;x\x07",
]


def _by_patterns(text: str) -> str:
    escape, line_breaks, control, command = sanitize._patterns()
    text = escape.sub("", text)
    text = line_breaks.sub("\n", text)
    text = control.sub("", text)
    return command.sub(r"\1: ", text)


def test_the_fast_path_gives_what_the_patterns_give() -> None:
    rng = random.Random(7)
    fast = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.5:
            text = "".join(c for c in text if c.isascii() and (c.isprintable() or c in "\n\t"))
        fast += sanitize._already_clean(text)
        assert clean(text) == _by_patterns(text), repr(text)
        assert escape_json_controls(text) == sanitize._json_unsafe().sub(
            lambda m: f"\\u{ord(m.group()):04x}", text
        ), repr(text)
    assert fast > 1000


def test_a_line_starting_a_workflow_command_is_never_taken_as_clean() -> None:
    assert not sanitize._already_clean("ok\n  ::error::x")
    assert clean("ok\n  ::error::x") == "ok\n  : :error::x"
    assert clean("a\tb\nc") == "a\tb\nc"


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    values: dict[str, str]
    tags: tuple[str, ...] = ()


@dataclasses.dataclass
class _Late:
    name: str
    derived: str = dataclasses.field(init=False, default="x")


def test_dataclasses_are_copied_with_every_string_cleaned() -> None:
    row = _Row("a\x1b[31mb", {"k\x07": "v\u202e"}, ("t\x00",))
    out = sanitize_value(row)
    assert out == _Row("ab", {"k": "v"}, ("t",))
    assert out is not row
    late = _Late("n\x07")
    copied = sanitize_value(late)
    assert copied.name == "n"
    assert copied is not late

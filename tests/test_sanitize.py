"""User text in every human-facing format: no escape sequence, no workflow command, no markup.

A property test puts arbitrary strings in every string field of a decision (model and spec
names, rule ids, messages, titles, controls, waiver reasons, violation details, errors) and
checks the grammar of every format's output.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.engine.decision import Decision
from govern.engine.formats import Format, RenderOptions, render
from govern.engine.formats.sanitize import clean, one_line, sanitize_decision

from .golden import cases

#: the workflow commands govern itself writes in the github format
OWN_COMMAND = re.compile(r"::(error|warning|notice) (file|title)=|::group::govern: |::endgroup::$")
HOSTILE = [
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "\x1b]0;title\x1b\\",
    "\x9b31m",
    "line\n::error::injected",
    "line\r\n  ::stop-commands::token",
    "a\u2028::warning::x",
    "[/x]",
    "[link=https://evil.example]x[/link]",
    "[bold red]x",
    "\u202eevil\u202c",
    "::add-mask::secret",
    "\x00\x07\x08\x7f",
]


@functools.cache
def _base() -> Decision:
    return cases.DECISIONS["mixed"]()


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, Enum):
        return
    if isinstance(value, str):
        out.append(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _strings(getattr(value, f.name), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)


def _inject(value: Any, texts: Iterator[str]) -> Any:
    """``value`` with each string field (not enum values, not keys) replaced by the next text."""
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return next(texts)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value,
            **{f.name: _inject(getattr(value, f.name), texts) for f in dataclasses.fields(value) if f.init},
        )
    if isinstance(value, dict):
        return {k: _inject(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_inject(v, texts) for v in value]
    if isinstance(value, tuple):
        return tuple(_inject(v, texts) for v in value)
    return value


def _cycle(texts: list[str]) -> Iterator[str]:
    i = 0
    while True:
        yield texts[i % len(texts)]
        i += 1


def _check_grammar(decision: Decision) -> None:
    outputs = {fmt: render(fmt, decision, RenderOptions(locations=cases.locations())) for fmt in Format}
    for fmt, text in outputs.items():
        assert "\x1b" not in text, fmt
        assert "\x9b" not in text, fmt
        assert "\x9d" not in text, fmt
        for line in text.splitlines():
            if line.lstrip().startswith("::"):
                assert fmt is Format.GITHUB, (fmt, line)
                assert OWN_COMMAND.match(line), line
    json.loads(outputs[Format.JSON])
    json.loads(outputs[Format.SARIF])
    ET.fromstring(outputs[Format.JUNIT])


def test_the_base_decision_has_strings_everywhere() -> None:
    found: list[str] = []
    _strings(_base(), found)
    assert len(found) > 50  # the property test below reaches many fields


@pytest.mark.parametrize("hostile", HOSTILE)
def test_known_attacks_in_every_field(hostile: str) -> None:
    _check_grammar(_inject(_base(), _cycle([hostile, "ok " + hostile])))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=6))
def test_arbitrary_strings_in_every_field_keep_every_format_well_formed(texts: list[str]) -> None:
    _check_grammar(_inject(_base(), _cycle(texts)))


def test_rich_markup_is_shown_literally_in_text() -> None:
    decision = _inject(_base(), _cycle(["[link=https://evil.example]click[/link] [/x]"]))
    text = render(Format.TEXT, decision, RenderOptions(color=True, width=200))
    assert "[/x]" in text
    assert "\x1b]8;" not in text  # no OSC-8 hyperlink


def test_clean_removes_sequences_and_breaks_workflow_commands() -> None:
    assert clean("\x1b[31mred\x1b[0m") == "red"
    assert clean("a\x1b]8;;http://x\x07b") == "ab"
    assert clean("ok\n::error::x") == "ok\n: :error::x"
    assert clean("ok\r  ::warning::x") == "ok\n  : :warning::x"
    assert clean("tab\tand\nnewline") == "tab\tand\nnewline"
    assert clean("\u202eabc") == "abc"
    assert one_line("a\nb") == "a ⏎ b"
    assert clean("a::b") == "a::b"  # only a line start is a command


def test_sanitize_leaves_enums_numbers_and_the_original_alone() -> None:
    base = _inject(_base(), _cycle(["x\x1b[1m"]))
    clean_copy = sanitize_decision(base)
    assert clean_copy.stage is base.stage
    assert clean_copy.as_of == base.as_of
    assert [r.result for r in clean_copy.results] == [r.result for r in base.results]
    found: list[str] = []
    _strings(base, found)
    assert any("\x1b" in s for s in found)  # not mutated
    cleaned: list[str] = []
    _strings(clean_copy, cleaned)
    assert not any("\x1b" in s for s in cleaned)


def test_json_keeps_the_text_exactly() -> None:
    """JSON is the lossless record for programs: the text is kept, JSON escapes it."""
    decision = _inject(_base(), _cycle(["x\x1b[1m"]))
    text = render(Format.JSON, decision)
    assert "\x1b" not in text
    assert json.loads(text)["spec"]["name"] == "x\x1b[1m"


@pytest.mark.parametrize("hostile", HOSTILE[:6])
def test_card_markdown_carries_no_escape_or_workflow_command(hostile: str) -> None:
    from govern.engine.card import CardFormat, build_card, render_card
    from govern.engine.evidence import load_evidence

    evidence = load_evidence(cases.ROOT / cases.EVIDENCE_PATH)
    decision, params = cases._card_decision(evidence, 3)
    card = build_card(cases.spec(), params, evidence, decision.to_dict())
    hostile_card = _inject(card, _cycle([hostile, "ok " + hostile]))
    text = render_card(CardFormat.MD, hostile_card)
    assert "\x1b" not in text
    assert "\x9b" not in text
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::")]

"""YAML read before comes from the policy cache: same value, same lines, no parser.

A spec's value and field lines are kept by the sha256 of its bytes; the pack manifest and the
parameter defaults by their text. A document that fails to parse is never kept, nor is a value
JSON cannot hold exactly (a non-string key, a date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govern.engine import documents, yaml_document
from govern.engine.documents import load_yaml_value, parse_document
from govern.engine.errors import SpecError
from govern.engine.policy_cache import CACHE_ENV

from .conftest import SPEC


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _no_parser(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("parsed again")


def test_a_spec_read_again_comes_from_the_cache_with_its_lines(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = SPEC.read_bytes()
    first = parse_document(raw, str(SPEC), SpecError)
    assert first.lines  # a YAML document names its lines
    monkeypatch.setattr(yaml_document, "parse_yaml", _no_parser)
    again = parse_document(raw, "elsewhere.yaml", SpecError)
    assert again.value == first.value
    assert again.lines == first.lines
    assert again.source == "elsewhere.yaml"
    assert again.location(("metadata", "name")).line == first.location(("metadata", "name")).line


def test_changed_bytes_are_parsed_again(cache: Path) -> None:
    raw = SPEC.read_bytes()
    parse_document(raw, str(SPEC), SpecError)
    changed = raw.replace(b"\n", b"\n\n", 1)
    doc = parse_document(changed, str(SPEC), SpecError)
    assert doc.line_of(("metadata",)) != parse_document(raw, str(SPEC), SpecError).line_of(("metadata",))


def test_an_invalid_document_is_never_kept(cache: Path) -> None:
    bad = b"a: 1\na: 2\n"
    for _ in range(2):
        with pytest.raises(SpecError, match="duplicate key"):
            parse_document(bad, "bad.yaml", SpecError)
    assert not cache.exists() or list(cache.glob("*.json")) == []


def test_the_cache_off_parses_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    calls: list[str] = []
    real = yaml_document.parse_yaml

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("parse")
        return real(*args, **kwargs)

    monkeypatch.setattr(yaml_document, "parse_yaml", counting)
    raw = SPEC.read_bytes()
    parse_document(raw, str(SPEC), SpecError)
    parse_document(raw, str(SPEC), SpecError)
    assert calls == ["parse", "parse"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: [1, 2.5, true, null, x]\n", {"a": [1, 2.5, True, None, "x"]}),
        ("1: one\n", {1: "one"}),
    ],
    ids=["plain", "int-key"],
)
def test_load_yaml_value_keeps_only_plain_json(cache: Path, text: str, value: Any) -> None:
    import yaml

    calls: list[str] = []

    def load(body: str) -> Any:
        calls.append(body)
        return yaml.safe_load(body)

    assert load_yaml_value(text, "test", load) == value
    assert load_yaml_value(text, "test", load) == value
    assert len(calls) == (1 if documents.is_plain_json(value) else 2)


def test_a_date_is_not_plain_json() -> None:
    import datetime as dt

    assert not documents.is_plain_json({"expires": dt.date(2027, 1, 1)})
    assert not documents.is_plain_json({"a": (1, 2)})
    assert not documents.is_plain_json([0] * 10, budget=5)
    assert documents.is_plain_json({"a": [1, {"b": None}]})

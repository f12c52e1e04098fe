from __future__ import annotations

import pytest

from govern.engine.documents import format_path, parse_document
from govern.engine.errors import SpecError


def parse(text: str | bytes):  # type: ignore[no-untyped-def]
    raw = text.encode() if isinstance(text, str) else text
    return parse_document(raw, "s.yaml", SpecError)


def test_lines_are_recorded_for_every_field() -> None:
    doc = parse("a:\n  b: 1\n  c:\n    - x\n    - y\n")
    assert doc.value == {"a": {"b": 1, "c": ["x", "y"]}}
    assert doc.line_of(("a", "b")) == 2
    assert doc.line_of(("a", "c", 1)) == 5
    assert doc.line_of(("a", "zzz")) == 1  # nearest ancestor


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(SpecError) as info:
        parse("a: 1\nb: 2\na: 3\n")
    assert info.value.location is not None
    assert info.value.location.line == 3
    assert "first defined on line 1" in str(info.value)


def test_timestamps_stay_strings() -> None:
    assert parse("expires: 2027-01-01\n").value == {"expires": "2027-01-01"}


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+400"])
def test_non_finite_numbers_are_rejected(value: str) -> None:
    with pytest.raises(SpecError, match="not finite"):
        parse(f"x: {value}\n")


def test_alias_bomb_is_bounded() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    with pytest.raises(SpecError, match="alias bomb"):
        parse("\n".join(lines) + "\n")


def test_plain_aliases_still_work() -> None:
    doc = parse("base: &b {min: 0.8}\naccuracy: *b\n")
    assert doc.value["accuracy"] == {"min": 0.8}


def test_non_utf8_names_the_line() -> None:
    with pytest.raises(SpecError) as info:
        parse(b"a: 1\nb: \xff\xfe\n")
    assert info.value.location is not None
    assert info.value.location.line == 2


def test_json_fast_path_rejects_nan_and_duplicates() -> None:
    with pytest.raises(SpecError, match="NaN"):
        parse_document(b'{"x": NaN}', "e.json", SpecError, json_fast_path=True)
    with pytest.raises(SpecError, match="duplicate key 'x'"):
        parse_document(b'{"x": 1, "x": 2}', "e.json", SpecError, json_fast_path=True)


def test_format_path() -> None:
    assert format_path(("waivers", 0, "expires")) == "waivers[0].expires"
    assert format_path(()) == "(document root)"

"""The schema verdict cache: a document found valid before is recognised by its digest alone.

Only "valid" is remembered, keyed by the canonical JSON of the document and of the schema (with
the validator's identity); an invalid document is judged afresh every time, a changed document
or schema misses, and values that are not plain JSON (or are large) never touch the cache.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from govern.engine import schemas
from govern.engine.policy_cache import CACHE_ENV
from govern.engine.schemas import Schema, is_valid

from .conftest import EVIDENCE


def _evidence() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(Path(EVIDENCE).read_text(encoding="utf-8"))
    return value


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.exists() else []


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.real = schemas._validate_value

    def __call__(self, value: Any, schema: Schema) -> bool:
        self.calls += 1
        return self.real(value, schema)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Counter:
    for schema in Schema:  # what the digests read (the pack manifest) is read once per process
        schemas._schema_digest(schema)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    counter = _Counter()
    monkeypatch.setattr(schemas, "_validate_value", counter)
    return counter


def test_a_valid_document_is_validated_once(counted: _Counter, tmp_path: Path) -> None:
    value = _evidence()
    assert is_valid(value, Schema.EVIDENCE)
    assert counted.calls == 1
    assert len(_entries(tmp_path / "cache")) == 1
    assert is_valid(copy.deepcopy(value), Schema.EVIDENCE)  # same content, another object
    assert counted.calls == 1


def test_an_invalid_document_is_never_remembered(counted: _Counter, tmp_path: Path) -> None:
    value = _evidence()
    del value["model"]
    for _ in range(2):
        assert not is_valid(value, Schema.EVIDENCE)
    assert counted.calls == 2
    assert _entries(tmp_path / "cache") == []


def test_a_changed_document_misses(counted: _Counter) -> None:
    value = _evidence()
    assert is_valid(value, Schema.EVIDENCE)
    value["model"] = "not an object"
    assert not is_valid(value, Schema.EVIDENCE)
    assert counted.calls == 2


def test_the_schema_is_part_of_the_key(counted: _Counter, monkeypatch: pytest.MonkeyPatch) -> None:
    value = _evidence()
    assert is_valid(value, Schema.EVIDENCE)
    monkeypatch.setattr(schemas, "_schema_digest", lambda schema: "another schema")
    assert is_valid(value, Schema.EVIDENCE)
    assert counted.calls == 2


def test_a_tampered_entry_is_not_believed(counted: _Counter, tmp_path: Path) -> None:
    value = _evidence()
    del value["model"]
    assert not is_valid(value, Schema.EVIDENCE)
    valid = _evidence()
    assert is_valid(valid, Schema.EVIDENCE)
    (entry,) = _entries(tmp_path / "cache")
    stored = json.loads(entry.read_text(encoding="utf-8"))
    stored["value"] = False  # no longer matches its digest: ignored
    entry.write_text(json.dumps(stored), encoding="utf-8")
    assert is_valid(valid, Schema.EVIDENCE)
    assert counted.calls == 3


@pytest.mark.parametrize(
    "value",
    [
        {1: "an int key"},
        {"a": (1, 2)},
        {"a": float("nan")},
        {"a": [0] * (schemas.VERDICT_CACHE_NODES + 1)},
    ],
    ids=["int-key", "tuple", "nan", "large"],
)
def test_values_that_are_not_plain_json_bypass_the_cache(
    counted: _Counter, tmp_path: Path, value: Any
) -> None:
    is_valid(value, Schema.PARAMS)
    is_valid(value, Schema.PARAMS)
    assert counted.calls == 2
    assert _entries(tmp_path / "cache") == []


def test_the_cache_off_validates_every_time(counted: _Counter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    value = _evidence()
    assert is_valid(value, Schema.EVIDENCE)
    assert is_valid(value, Schema.EVIDENCE)
    assert counted.calls == 2


def test_the_schema_digest_follows_the_files_the_schema_is_built_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from govern.engine.package_files import package_files

    folders = {name: tmp_path / name.split(".")[-1] for name in ("govern.schemas", "govern.policies")}
    for name, folder in folders.items():
        shutil.copytree(str(package_files(name)), folder)
    monkeypatch.setattr(schemas, "package_files", lambda name: folders[name])
    digest = schemas._schema_digest.__wrapped__  # not the per-process memo
    first = digest(Schema.EVIDENCE)
    assert digest(Schema.EVIDENCE) == first  # the same files: the same digest
    from govern.engine.packs import packs

    pack_schema = folders["govern.policies"] / packs()[0].name / "schema.json"
    pack_schema.write_text('{"evidence": {"type": "object"}}', encoding="utf-8")  # a pack's own schema
    second = digest(Schema.EVIDENCE)
    assert second != first
    main = folders["govern.schemas"] / Schema.EVIDENCE.value
    main.write_text(main.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert digest(Schema.EVIDENCE) not in (first, second)
    params_before = digest(Schema.PARAMS)
    pack_schema.write_text(pack_schema.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert digest(Schema.PARAMS) == params_before  # the parameter schema has no pack sections


def test_evidence_built_in_memory_is_not_remembered(counted: _Counter, tmp_path: Path) -> None:
    """A collector's evidence is validated for one decision: no cache entry is written for it,
    while the same document read from a file is remembered."""
    from govern.engine.evidence import evidence_from_value
    from govern.engine.evidence.document import load_evidence

    evidence_from_value(_evidence())
    evidence_from_value(_evidence())
    assert counted.calls == 2
    assert _entries(tmp_path / "cache") == []
    load_evidence(Path(EVIDENCE))
    load_evidence(Path(EVIDENCE))
    assert counted.calls == 3
    assert len(_entries(tmp_path / "cache")) == 1

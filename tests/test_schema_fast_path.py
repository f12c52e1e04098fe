"""The fast validator (jsonschema-rs) gives jsonschema's verdict on every document we have.

Valid documents are accepted by the fast path alone; jsonschema runs only to describe an
invalid one. So the two must agree on the verdict: on the example, the corpus and mutations of
the example's evidence and spec (fields deleted, retyped, out of range, bad dates and uuids).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from govern.engine.documents import Document
from govern.engine.errors import EvidenceError
from govern.engine.schemas import Schema, _validator, is_valid, validate, validation_errors

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "adult-income"
CORPUS = Path(__file__).resolve().parent / "corpus"
MUTATIONS = 400


def _slow_verdict(value: Any, schema: Schema) -> bool:
    return not any(True for _ in _validator(schema).iter_errors(value))


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, RecursionError, yaml.YAMLError):
        return None


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


REPLACEMENTS: list[Any] = [
    None,
    "",
    "x",
    -1,
    1.5,
    2,
    True,
    [],
    {},
    {"unexpected": 1},
    "2026-02-30",
    "2026-01-01T00:00:00Z",
    "not-a-uuid",
    "123e4567-e89b-12d3-a456-426614174000",
]


def mutations(base: Any, count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    paths = _paths(base)
    out = []
    for _ in range(count):
        doc = copy.deepcopy(base)
        for path in rng.sample(paths, k=rng.choice((1, 1, 2, 3))):
            node = doc
            try:
                for part in path[:-1]:
                    node = node[part]
                if rng.random() < 0.3 and isinstance(node, dict):
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
            except (KeyError, IndexError, TypeError):
                continue
        out.append(doc)
    return out


def _examples() -> list[tuple[str, Schema, Any]]:
    evidence = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    spec = yaml.safe_load((EXAMPLE / "spec.yaml").read_text(encoding="utf-8"))
    docs: list[tuple[str, Schema, Any]] = [("example evidence", Schema.EVIDENCE, evidence)]
    docs.append(("example spec", Schema.MODEL_SPEC, spec))
    docs += [
        (f"evidence mutation {i}", Schema.EVIDENCE, d)
        for i, d in enumerate(mutations(evidence, MUTATIONS, 1))
    ]
    docs += [
        (f"spec mutation {i}", Schema.MODEL_SPEC, d) for i, d in enumerate(mutations(spec, MUTATIONS // 2, 2))
    ]
    for path in sorted((CORPUS / "evidence").iterdir()):
        docs.append((f"corpus {path.name}", Schema.EVIDENCE, _load(path)))
    for path in sorted((CORPUS / "spec").iterdir()):
        docs.append((f"corpus {path.name}", Schema.MODEL_SPEC, _load(path)))
    return docs


def test_fast_and_described_verdicts_agree() -> None:
    docs = _examples()
    verdicts = [(name, is_valid(value, schema), _slow_verdict(value, schema)) for name, schema, value in docs]
    disagree = [(name, fast, slow) for name, fast, slow in verdicts if fast != slow]
    # Known differences. NaN: jsonschema takes it for a number, the fast validator does not (and
    # the document loader refuses NaN before either sees it). Year 0 in a date: jsonschema's
    # format checker refuses it, the fast validator does not; the spec loader refuses it anyway
    # (a waiver's expiry is parsed as a calendar date: exit 2), as the corpus case pins.
    nan = {name for name, _, _ in disagree if "nan" in name}
    assert {(n, False, True) for n in nan} <= set(disagree)
    assert set(disagree) - {(n, False, True) for n in nan} == {
        ("corpus h_waiver-date-year-0.yaml", True, False)
    }
    from govern.engine.errors import SpecError
    from govern.engine.spec import load_spec

    with pytest.raises(SpecError, match="calendar date"):
        load_spec(CORPUS / "spec" / "h_waiver-date-year-0.yaml")
    # the mutations reach both verdicts, so the agreement is not vacuous
    assert sum(1 for _, fast, _ in verdicts if fast) >= 20
    assert sum(1 for _, fast, _ in verdicts if not fast) >= 100


def test_an_invalid_document_is_still_described() -> None:
    evidence = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    evidence["stage"] = "production"
    problems = validation_errors(Document(value=evidence, source="e.json"), Schema.EVIDENCE)
    assert problems
    assert problems[0][0] == ("stage",)
    with pytest.raises(EvidenceError, match="stage"):
        validate(Document(value=evidence, source="e.json"), Schema.EVIDENCE, EvidenceError)


def test_valid_documents_never_reach_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    """The yes/no of a valid document costs no jsonschema work (the slow path is not called)."""
    evidence = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))

    def boom(schema: Schema) -> Any:
        raise AssertionError("jsonschema was asked to validate a valid document")

    monkeypatch.setattr("govern.engine.schemas._validator", boom)
    assert validation_errors(Document(value=evidence, source="e.json"), Schema.EVIDENCE) == []

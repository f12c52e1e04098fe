"""The Rego input of a decision is serialized once, and the engine reads exactly that input.

An evidence document validated from memory keeps the ``json.dumps`` text it was validated from;
the decision appends the spec and the stage to that text instead of serializing the evidence
again. A key given twice in a JSON object counts once, with its last value, so the engine must
read the same document as the dictionary the decision records.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from govern.engine.backends.embedded import EmbeddedBackend, import_regorus
from govern.engine.check import Checker
from govern.engine.evidence import evidence_from_value
from govern.engine.evidence.document import EvidenceDocument, load_evidence
from govern.engine.policyset import load_policy_set
from govern.engine.spec import Stage, load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "adult-income"


@pytest.fixture(scope="module")
def checker() -> Checker:
    spec = dataclasses.replace(load_spec(EXAMPLE / "spec.yaml"), packs=None)
    return Checker.for_spec(spec, load_policy_set(spec), EmbeddedBackend())


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    raw["spec"] = {"metadata": {"name": "adult-income"}, "stale": "a spec the decision replaces"}
    return raw


def _engine_input(text: str) -> Any:
    engine = import_regorus().Engine()
    engine.set_input_json(text)
    return json.loads(engine.eval_query_as_json("x := input"))["result"][0]["bindings"]["x"]


@pytest.mark.parametrize("stage", [None, Stage.DEPLOY])
def test_the_engine_reads_the_recorded_input(checker: Checker, stage: Stage | None) -> None:
    evidence = evidence_from_value(_raw())
    assert evidence.text == json.dumps(evidence.value)
    prepared = checker.prepare_input(evidence, stage)
    assert prepared.json.count('"spec":') == 2  # the evidence's own, then the checker's
    seen = _engine_input(prepared.json)
    assert seen == json.loads(json.dumps(prepared.value))
    assert seen["spec"] == checker.spec.data
    assert seen["stage"] == (stage.value if stage else "deploy")


def test_evidence_without_its_text_is_serialized_once(checker: Checker) -> None:
    evidence = EvidenceDocument(value=_raw(), source="<memory>")
    prepared = checker.prepare_input(evidence, None)
    assert json.loads(prepared.json) == prepared.value
    loaded = load_evidence(EXAMPLE / "evidence.json")
    assert loaded.text == ""  # a file's own bytes may differ from json.dumps: not reused
    assert json.loads(checker.prepare_input(loaded, None).json) == checker.prepare_input(loaded, None).value


@pytest.mark.parametrize("stage", ["register", "deploy", "rollback"])
def test_text_and_document_give_the_same_rule_values(checker: Checker, stage: str) -> None:
    raw = copy.deepcopy(_raw())
    raw["stage"] = stage
    evidence = evidence_from_value(raw)
    prepared = checker.prepare_input(evidence, None)
    packages = checker.policy_set.packages
    by_text = checker.backend.evaluate_json(prepared.json, stage, packages, prepared.value)
    by_document = checker.backend.evaluate(prepared.value, packages)
    assert by_text == by_document
    # only the rules that apply at the stage are asked for; the others are skipped unread
    asked = {(p, n) for p, values in by_text.items() for n in values}
    applies = {(r.package, r.name) for r in checker.policy_set.rules if Stage(stage) in r.stages}
    assert asked == applies

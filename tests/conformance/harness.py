"""Conformance cases: a patch over the example's evidence (and spec), run through any backend.

A case file (YAML, in ``cases/``)::

    name: champion-regression-at-tolerance
    description: 0.86 → 0.85 regresses by exactly the allowed 0.01 ...
    stage: deploy                      # optional; default: the evidence's stage (deploy)
    patch:                             # applied in order
      - {path: run.metrics.accuracy, value: 0.85}
      - {path: champion, value: null, reason: "first deployment"}   # a section, null with a reason
      - {path: fairness.features.race, delete: true}               # remove a key
      - {path: spec.metadata.owner, value: ""}                      # `spec.` patches the model spec
    params: {champion: {max_regression: 0.02}}                      # optional, like --param
    expect: {GOV-CHAMP-001: pass}      # rule id → pass | fail | warn | waived | skip

A path is dot-separated; an integer segment indexes a list. A ``spec.`` patch changes the
model spec itself (so also the parameters built from it), since the spec, not the evidence,
becomes ``input.spec``. Every case runs against the whole built-in library (all packs).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from govern.engine.backends import Backend
from govern.engine.check import Checker
from govern.engine.decision import Decision, Result
from govern.engine.documents import parse_document
from govern.engine.errors import SpecError
from govern.engine.evidence import EvidenceDocument, evidence_from_value
from govern.engine.evidence.document import SECTIONS
from govern.engine.policyset import PolicySet, builtin_modules, make_policy_set
from govern.engine.spec import ModelSpec, Stage, spec_from_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "adult-income"
CASES = Path(__file__).resolve().parent / "cases"
TODAY = dt.date(2026, 11, 27)
RESULTS = {"pass", "fail", "warn", "waived", "skip"}

Segment = str | int


@dataclass(frozen=True)
class Patch:
    path: tuple[Segment, ...]
    value: Any = None
    reason: str | None = None
    delete: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    patches: tuple[Patch, ...]
    expect: Mapping[str, Result]
    stage: Stage | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def segments(path: str) -> tuple[Segment, ...]:
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def _patch(raw: Any, where: str) -> Patch:
    assert isinstance(raw, dict), f"{where}: a patch is a mapping"
    unknown = set(raw) - {"path", "value", "reason", "delete"}
    assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
    assert isinstance(raw.get("path"), str), f"{where}: path must be a string"
    assert "value" in raw or raw.get("delete") is True, f"{where}: give a value or delete: true"
    reason = raw.get("reason")
    if reason is not None:
        assert raw.get("value") is None, f"{where}: a reason goes with a null value"
        assert "." not in raw["path"], f"{where}: a reason goes with a top-level section"
    return Patch(segments(raw["path"]), raw.get("value"), reason, bool(raw.get("delete")))


def load_case(path: Path) -> Case:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    assert isinstance(raw, dict), f"{where}: a case is a mapping"
    unknown = set(raw) - {"name", "description", "stage", "patch", "params", "expect"}
    assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
    expect = raw.get("expect")
    assert isinstance(expect, dict), f"{where}: expect must map rule ids to results"
    assert expect, f"{where}: expect names no rule"
    for rule, result in expect.items():
        assert result in RESULTS, f"{where}: {rule}: {result!r} is not one of {sorted(RESULTS)}"
    return Case(
        name=str(raw["name"]),
        file=where,
        patches=tuple(_patch(p, f"{where} patch {i}") for i, p in enumerate(raw.get("patch") or [])),
        expect={rule: Result(result) for rule, result in expect.items()},
        stage=Stage(raw["stage"]) if raw.get("stage") else None,
        params=raw.get("params") or {},
        description=str(raw.get("description", "")),
    )


def load_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CASES.glob("*.yaml"))]


#: The evidence every case patches: a frozen copy of the example's evidence as the cases were
#: written against (logged metrics, no measured ``performance`` section), so that regenerating
#: the example does not move the cases' expectations. Cases for measured evidence patch it in.
BASE_EVIDENCE = Path(__file__).resolve().parent / "base-evidence.json"


@cache
def example_evidence() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(BASE_EVIDENCE.read_text(encoding="utf-8"))
    return value


@cache
def example_spec_value() -> dict[str, Any]:
    value: dict[str, Any] = yaml.safe_load((EXAMPLE / "spec.yaml").read_text(encoding="utf-8"))
    return value


@cache
def all_packs() -> PolicySet:
    """The whole built-in library (the example's spec leaves the live pack out)."""
    return make_policy_set(builtin_modules())


def set_path(doc: Any, path: tuple[Segment, ...], value: Any, *, delete: bool = False) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)


def spec_from_value(value: dict[str, Any]) -> ModelSpec:
    raw = json.dumps(value).encode("utf-8")
    doc = parse_document(raw, str(EXAMPLE / "spec.yaml"), SpecError, json_fast_path=True)
    return spec_from_document(doc, EXAMPLE)


def materialize(patches: tuple[Patch, ...]) -> tuple[ModelSpec, EvidenceDocument]:
    """The example's spec and evidence with ``patches`` applied (spec patches to both)."""
    spec = copy.deepcopy(example_spec_value())
    evidence = copy.deepcopy(example_evidence())
    for patch in patches:
        if patch.path[0] == "spec":
            set_path(spec, patch.path[1:], patch.value, delete=patch.delete)
            continue
        set_path(evidence, patch.path, patch.value, delete=patch.delete)
        if patch.reason is not None:
            assert patch.path[0] in SECTIONS
            evidence["missing"][patch.path[0]] = patch.reason
    model_spec = spec_from_value(spec)
    evidence["spec"] = model_spec.data
    return model_spec, evidence_from_value(evidence, "<conformance>")


def checker(backend: Backend, spec: ModelSpec, params: Mapping[str, Any] | None = None) -> Checker:
    return Checker.for_spec(spec, all_packs(), backend, [dict(params)] if params else None)


def decide(backend: Backend, case: Case) -> Decision:
    # evidence is collected for the stage decided on: a case at another stage patches it so
    staged = (Patch(("stage",), case.stage.value),) if case.stage else ()
    spec, evidence = materialize(case.patches + staged)
    return checker(backend, spec, case.params).decide(evidence, case.stage, TODAY)


RuleKey = tuple[str, tuple[str, ...], tuple[str, ...]]


def per_rule(decision: Decision) -> dict[str, RuleKey]:
    """rule id → (result, sorted violation messages, sorted violation details as JSON)."""
    out: dict[str, RuleKey] = {}
    for r in decision.results:
        messages = tuple(sorted(v.message for v in r.violations))
        details = tuple(sorted(json.dumps(v.details, sort_keys=True) for v in r.violations))
        out[r.rule_id] = (r.result.value, messages, details)
    return out


_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def _number_text(match: re.Match[str]) -> str:
    return repr(float(match.group()))


def canonical(value: Any) -> Any:
    """Numbers read as numbers, also inside text: ``5e-05`` and ``0.00005`` are one value.

    OPA's sprintf("%v") writes a small or large non-integer with an exponent where regorus
    writes it positionally; neither changes a decision (see test_known_difference_*).
    """
    if isinstance(value, str):
        return _NUMBER.sub(_number_text, value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [canonical(v) for v in value]
        return tuple(sorted(items, key=repr)) if all(isinstance(i, str) for i in items) else tuple(items)
    return value

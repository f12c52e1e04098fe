"""What a result means: a rule that found nothing passes only when configured and evidenced."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from govern.engine.backends import create_backend
from govern.engine.check import Checker
from govern.engine.decision import Result, RuleResult
from govern.engine.errors import PolicyLoadError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set, parse_module
from govern.engine.requirements import Requirement, VerdictKind, judge_silence
from govern.engine.spec import RegoVersion, load_spec

from .conftest import SPEC, TODAY


def _decide(
    tmp_path: Path, evidence: dict[str, Any], edit: Any = None, params: list[dict[str, Any]] | None = None
) -> dict[str, RuleResult]:
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if edit is not None:
        edit(raw)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    spec = load_spec(path)
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("embedded"), params)
    decision = checker.decide(evidence_from_value(evidence), today=TODAY)
    return {r.rule_id: r for r in decision.results}


def _null(evidence: dict[str, Any], section: str, reason: str) -> dict[str, Any]:
    out = copy.deepcopy(evidence)
    out[section] = None
    out["missing"][section] = reason
    return out


def test_explanations_null_without_a_request_is_not_configured(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    def edit(raw: dict[str, Any]) -> None:
        raw["metadata"]["risk_tier"] = "minimal"
        del raw["explainability"]

    results = _decide(tmp_path, _null(example_evidence, "explanations", "not requested"), edit)
    for rule in ("GOV-XAI-000", "GOV-XAI-001", "GOV-XAI-002"):
        assert results[rule].result is Result.SKIP, rule
        assert results[rule].message.startswith("not configured: params.explainability.required")


def test_explanations_null_when_requested_fails_every_xai_rule(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    results = _decide(tmp_path, _null(example_evidence, "explanations", "SHAP timed out"))
    assert results["GOV-XAI-000"].result is Result.FAIL
    for rule in ("GOV-XAI-001", "GOV-XAI-002"):
        assert results[rule].result is Result.FAIL
        expected = "evidence missing: explanations.global_importance (SHAP timed out;"
        assert results[rule].message.startswith(expected)
        assert results[rule].violations[0].details["evidence_missing"] == ["explanations.global_importance"]


def test_empty_datasets_fail_when_asked_and_skip_when_not(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    evidence = copy.deepcopy(example_evidence)
    evidence["run"]["datasets"] = []
    asked = _decide(tmp_path, evidence)
    assert asked["GOV-LIN-004"].result is Result.FAIL
    off = _decide(tmp_path, evidence, params=[{"lineage": {"training_dataset": False}}])
    assert off["GOV-LIN-004"].result is Result.SKIP
    assert off["GOV-LIN-004"].message == "not configured: params.lineage.training_dataset is not set"


def test_drift_without_reference_data_is_not_configured(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    evidence = copy.deepcopy(example_evidence)
    evidence["data"]["reference"] = None
    evidence["data"]["drift"] = None

    def edit(raw: dict[str, Any]) -> None:
        del raw["data"]["reference"]

    results = _decide(tmp_path, evidence, edit)
    for rule in ("GOV-DATA-002", "GOV-DATA-003"):
        assert results[rule].result is Result.SKIP
        assert "spec.data.reference" in results[rule].message


def test_drift_asked_for_but_not_measured_is_evidence_missing(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    evidence = copy.deepcopy(example_evidence)
    evidence["data"]["drift"] = {}
    results = _decide(tmp_path, evidence)
    for rule in ("GOV-DATA-002", "GOV-DATA-003"):
        assert results[rule].result is Result.FAIL
        assert results[rule].message.startswith("evidence missing: data.drift (give data.reference")


def test_group_floor_without_a_floor_is_not_configured(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    def edit(raw: dict[str, Any]) -> None:
        del raw["fairness"]["thresholds"]["group_floor"]

    results = _decide(tmp_path, example_evidence, edit)
    assert results["GOV-FAIR-004"].result is Result.SKIP
    assert results["GOV-FAIR-004"].message == "not configured: params.fairness.group_floor is not set"


def test_a_waiver_does_not_cover_missing_evidence(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    results = _decide(tmp_path, _null(example_evidence, "fairness", "fairlearn is not installed"))
    result = results["GOV-FAIR-001"]
    assert result.result is Result.FAIL
    assert "does not cover missing evidence" in result.message


def test_no_champion_is_not_applicable_for_the_comparison(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    results = _decide(tmp_path, _null(example_evidence, "champion", "no version holds the alias"))
    assert results["GOV-CHAMP-001"].result is Result.SKIP
    assert results["GOV-CHAMP-001"].message.startswith("not applicable: champion is absent")
    assert results["GOV-CHAMP-002"].result is Result.WARN


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, VerdictKind.EVIDENCE_MISSING),
        ([], VerdictKind.EVIDENCE_MISSING),
        ({}, VerdictKind.EVIDENCE_MISSING),
        ([{"name": "x"}], None),
    ],
)
def test_empty_evidence_counts_as_absent(value: Any, kind: VerdictKind | None) -> None:
    verdict = judge_silence(Requirement(evidence=("run.datasets",)), {"run": {"datasets": value}}, {})
    assert (verdict.kind if verdict else None) is kind


def _meta(custom: str) -> str:
    return f"package team\n\n# METADATA\n# custom:\n{custom}\ndeny_x contains 1 if {{ false }}\n"


@pytest.mark.parametrize(
    ("custom", "fragment"),
    [
        ("#   id: T-1\n#   stages: [deploy]\n#   stages: [register]", "duplicate key 'stages'"),
        ("#   id: T-1\n#   stages: []", "custom.stages is empty"),
        ('#   id: "T-1\\n"', "custom.id 'T-1\\n'"),
        ('#   id: "T 1"', "custom.id 'T 1'"),
        ("#   id: T-1\n#   owner: me", "custom.owner is not a key govern knows"),
        ("#   id: T-1\n#   requires: [bias_score]", "custom.requires entry 'bias_score'"),
        ("#   id: T-1\n#   configured_by: [fairness.x]", "custom.configured_by entry 'fairness.x'"),
    ],
)
def test_metadata_is_parsed_strictly(custom: str, fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        parse_module("team.rego", _meta(custom), RegoVersion.V1, builtin=False)
    assert fragment in str(caught.value)
    assert caught.value.location is not None
    assert caught.value.location.line is not None


def test_every_builtin_rule_declares_what_it_needs() -> None:
    rules = load_policy_set(None).rules
    assert rules
    assert [r.id for r in rules if not r.requires] == []


def test_every_format_shows_missing_evidence_and_not_configured(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    import json
    import xml.etree.ElementTree as ET

    from govern.engine.formats import Format, RenderOptions, render

    def edit(raw: dict[str, Any]) -> None:
        del raw["fairness"]["thresholds"]["group_floor"]

    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    spec = load_spec(path)
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("embedded"))
    evidence = _null(example_evidence, "explanations", "SHAP timed out")
    decision = checker.decide(evidence_from_value(evidence), today=TODAY)

    text = render(Format.TEXT, decision, RenderOptions(width=400))
    assert "(3 evidence missing)" in text  # GOV-XAI-001, 002 and 003 (XAI-000 reports it itself)
    assert "(1 not configured)" in text
    assert "not configured: params.fairness.group_floor" in text

    cases = {
        c.get("name", "").split(":")[0]: c
        for c in ET.fromstring(render(Format.JUNIT, decision)).iter("testcase")
    }
    assert cases["GOV-XAI-001"].find("failure") is not None
    skipped = cases["GOV-FAIR-004"].find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("not configured:")

    sarif = json.loads(render(Format.SARIF, decision))
    found = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    assert found["GOV-XAI-001"]["message"]["text"].startswith(
        "evidence missing: explanations.global_importance"
    )
    assert "GOV-FAIR-004" not in found  # a skip is not a finding; the rule list still names it
    markdown = render(Format.MARKDOWN, decision)
    assert "evidence missing: explanations.global\\_importance" in markdown
    assert "not configured: params.fairness.group\\_floor" in markdown

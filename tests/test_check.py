from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from govern.engine.backends import create_backend
from govern.engine.backends.fake import FakeBackend
from govern.engine.check import Checker
from govern.engine.decision import EXIT_DENIED, EXIT_ERROR, EXIT_OK, Outcome, Result
from govern.engine.errors import BackendError, ConfigError, EvidenceError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set
from govern.engine.spec import Stage, load_spec

from .conftest import SPEC, TODAY


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def embedded(spec):  # type: ignore[no-untyped-def]
    return Checker.for_spec(spec, load_policy_set(spec), create_backend("embedded"))


def by_id(decision) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {r.rule_id: r for r in decision.results}


def test_example_passes_with_its_fairness_findings_waived(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    decision = embedded.decide(evidence_from_value(example_evidence), today=TODAY)
    results = by_id(decision)
    assert decision.outcome is Outcome.PASS
    waived = ("GOV-FAIR-001", "GOV-FAIR-002", "GOV-FAIR-003")
    assert {results[k].result for k in waived} == {Result.WAIVED}
    assert {v.details["feature"] for v in results["GOV-FAIR-001"].violations} == {"sex", "race"}
    assert results["GOV-FAIR-006"].result is Result.WARN  # relationship is a proxy for sex
    others = {r.result for k, r in results.items() if k not in (*waived, "GOV-FAIR-006")}
    assert others <= {Result.PASS, Result.SKIP}
    assert decision.exit_code() == EXIT_OK


def test_expired_waiver_is_void(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    decision = embedded.decide(evidence_from_value(example_evidence), today=dt.date(2027, 7, 1))
    result = by_id(decision)["GOV-FAIR-001"]
    assert result.result is Result.FAIL
    assert "expired on 2027-06-30 and is void" in result.message
    assert decision.exit_code() == EXIT_DENIED


def test_waiver_is_valid_through_its_expiry_day(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    decision = embedded.decide(evidence_from_value(example_evidence), today=dt.date(2027, 6, 30))
    assert by_id(decision)["GOV-FAIR-001"].result is Result.WAIVED


def test_waiver_limited_to_stages(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    # the example's waivers cover register and deploy; at rollback the fairness rules are skipped
    evidence = {**example_evidence, "stage": "rollback"}
    decision = embedded.decide(evidence_from_value(evidence), stage=Stage.ROLLBACK, today=TODAY)
    assert by_id(decision)["GOV-FAIR-001"].result is Result.SKIP


def test_champion_regression_decides_like_exact_decimals(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    # 0.85 - 0.84 > 0.01 is true in binary floats; it must not be a regression.
    evidence = copy.deepcopy(example_evidence)
    evidence["run"]["metrics"]["accuracy"] = 0.85
    evidence["champion"]["metrics"]["accuracy"] = 0.86
    assert 0.86 - 0.85 > 0.01  # the trap
    decision = embedded.decide(evidence_from_value(evidence), today=TODAY)
    assert by_id(decision)["GOV-CHAMP-001"].result is Result.PASS
    evidence["run"]["metrics"]["accuracy"] = 0.8499
    evidence["run"]["metrics"]["accuracy"] = 0.8499
    decision = embedded.decide(evidence_from_value(evidence), today=TODAY)
    champ = by_id(decision)["GOV-CHAMP-001"]
    assert champ.result is Result.FAIL
    assert decision.outcome is Outcome.FAIL


def test_missing_section_fails_closed(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    evidence = copy.deepcopy(example_evidence)
    evidence["fairness"] = None
    evidence["missing"]["fairness"] = "evaluation data could not be read"
    decision = embedded.decide(evidence_from_value(evidence), today=TODAY)
    result = by_id(decision)["GOV-FAIR-000"]
    assert result.result is Result.FAIL
    assert "evaluation data could not be read" in result.message


def test_stage_override_and_evidence_digest(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    doc = evidence_from_value(example_evidence)
    deploy = embedded.decide(doc, today=TODAY)
    with pytest.raises(EvidenceError, match="collected for stage 'deploy'"):
        embedded.decide(doc, stage=Stage.REGISTER, today=TODAY)
    register_doc = evidence_from_value({**example_evidence, "stage": "register"})
    register = embedded.decide(register_doc, stage=Stage.REGISTER, today=TODAY)
    assert deploy.stage is Stage.DEPLOY
    assert register.stage is Stage.REGISTER
    assert by_id(register)["GOV-CHAMP-001"].result is Result.SKIP
    assert deploy.evidence_digest != register.evidence_digest
    again = embedded.decide(doc, today=TODAY)
    assert again.evidence_digest == deploy.evidence_digest
    assert again.decision_id != deploy.decision_id


def test_evidence_for_another_model_is_refused(embedded, example_evidence) -> None:  # type: ignore[no-untyped-def]
    evidence = copy.deepcopy(example_evidence)
    evidence["spec"]["metadata"]["name"] = "someone-else"
    with pytest.raises(EvidenceError, match="collected for model 'someone-else'"):
        embedded.decide(evidence_from_value(evidence), today=TODAY)


# --- the fake backend: exact control over what "Rego" returns -------------------------------


def fake_checker(spec, handler):  # type: ignore[no-untyped-def]
    return Checker.for_spec(spec, load_policy_set(spec), FakeBackend(handler))


def test_engine_error_is_an_error_decision_never_a_pass(spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    def handler(_input: Mapping[str, Any], package: str) -> dict[str, Any]:
        if package == "govern.fairness":
            raise BackendError("boom in fairness")
        return {}

    decision = fake_checker(spec, handler).decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision.outcome is Outcome.ERROR
    assert decision.exit_code() == EXIT_ERROR
    assert decision.exit_code(no_fail=True) == EXIT_ERROR
    errored = {r.rule_id for r in decision.results if r.result is Result.ERROR}
    assert errored
    assert all(i.startswith("GOV-FAIR") for i in errored)
    # a waiver never turns an error into a pass
    assert by_id(decision)["GOV-FAIR-001"].result is Result.ERROR


def test_results_with_their_own_ids_are_attributed(spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    def handler(_input: Mapping[str, Any], package: str) -> dict[str, Any]:
        if package == "govern.metrics":
            return {"deny_metric_below_min": [{"msg": "a", "id": "TEAM-001"}, {"msg": "b"}]}
        return {}

    decision = fake_checker(spec, handler).decide(evidence_from_value(example_evidence), today=TODAY)
    results = by_id(decision)
    assert results["TEAM-001"].result is Result.FAIL
    assert results["TEAM-001"].message == "a"
    assert results["GOV-PERF-001"].result is Result.FAIL
    assert results["GOV-PERF-001"].message == "b"


def test_warnings_and_fail_on_warn(spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    def handler(_input: Mapping[str, Any], package: str) -> dict[str, Any]:
        if package == "govern.fairness":
            return {"warn_small_group": [{"msg": "tiny", "group": "Other"}]}
        return {}

    decision = fake_checker(spec, handler).decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision.outcome is Outcome.PASS
    assert decision.exit_code() == EXIT_OK
    assert decision.exit_code(fail_on_warn=True) == EXIT_DENIED


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'opa-typo'"):
        create_backend("opa-typo")


def test_a_spec_waiver_can_name_the_features_it_covers(tmp_path: Path) -> None:
    from govern.engine.evidence import load_evidence
    from govern.engine.pipeline import Pipeline, PipelineOptions
    from govern.engine.spec import Stage, load_spec

    from .conftest import EVIDENCE, SPEC, TODAY

    text = SPEC.read_text().replace(
        "    ticket: RISK-142\n", "    ticket: RISK-142\n    features: [sex]\n", 1
    )  # the first waiver (GOV-FAIR-001) now covers sex only
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(text)
    (tmp_path / "data").symlink_to(SPEC.parent / "data")
    spec = load_spec(spec_path, allowed_roots=(SPEC.parent,))  # the data is linked, not copied
    with Pipeline(spec, PipelineOptions(as_of=TODAY)) as pipeline:
        record = pipeline.decide(load_evidence(EVIDENCE), Stage.DEPLOY)
    result = {r.rule_id: r for r in record.decision.results}["GOV-FAIR-001"]
    assert result.result.value == "fail"
    assert {v.details["feature"] for v in result.violations} == {"race"}
    assert result.waiver is not None
    assert result.waiver.status.value == "partial"


def test_decision_ids_are_random_version_4_uuids() -> None:
    import uuid

    from govern.engine.check import _uuid4

    ids = [_uuid4() for _ in range(200)]
    assert len(set(ids)) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)

"""The decision record: lossless JSON, schema-valid, tamper-evident evidence, one pipeline, replay."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govern.engine.backends import BackendName
from govern.engine.decision import Decision, Result, RuleResult, Violation
from govern.engine.errors import EvidenceError
from govern.engine.evidence import load_evidence
from govern.engine.pipeline import Pipeline, PipelineOptions
from govern.engine.policyset import Severity
from govern.engine.record import DecisionRecord, load_record, record_from_text
from govern.engine.replay import replay
from govern.engine.spec import Stage, load_spec

from .conftest import EVIDENCE, SPEC, TODAY, run_govern

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
json_values = st.recursive(
    json_scalars | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
violations_st = st.builds(
    Violation,
    message=st.text(max_size=20),
    details=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "msg"), json_values, max_size=3),
)
results_st = st.lists(
    st.builds(
        RuleResult,
        rule_id=st.sampled_from([f"R-{i}" for i in range(8)]),
        package=st.sampled_from(["govern.metrics", "team.policy"]),
        rule=st.sampled_from(["deny_x", "warn_y"]),
        result=st.sampled_from(list(Result)),
        severity=st.sampled_from(list(Severity)),
        message=st.text(max_size=30),
        controls=st.lists(st.text(max_size=10), max_size=2).map(tuple),
        title=st.one_of(st.none(), st.text(max_size=10)),
        description=st.one_of(st.none(), st.text(max_size=10)),
        violations=st.lists(violations_st, max_size=2).map(tuple),
    ),
    max_size=8,
    unique_by=lambda r: r.rule_id,
)


@pytest.fixture(scope="module")
def example_record() -> DecisionRecord:
    with Pipeline(load_spec(SPEC), PipelineOptions(as_of=TODAY)) as pipeline:
        return pipeline.decide(load_evidence(EVIDENCE), Stage.DEPLOY)


@settings(max_examples=60, deadline=None)
@given(results=results_st, stage=st.sampled_from(list(Stage)))
def test_a_record_round_trips_through_json_losslessly(
    example_record: DecisionRecord, results: list[RuleResult], stage: Stage
) -> None:
    from dataclasses import replace

    decision = replace(example_record.decision, results=tuple(results), stage=stage)
    record = replace(example_record, decision=decision)
    again = record_from_text(record.to_json(), "<test>")
    assert again.to_dict() == record.to_dict()
    assert {r.rule_id: r for r in again.decision.results} == {r.rule_id: r for r in decision.results}


def test_a_record_is_valid_against_its_schema_and_reads_back(
    tmp_path: Path, example_record: DecisionRecord
) -> None:
    path = tmp_path / "record.json"
    path.write_text(example_record.to_json())
    loaded = load_record(path)
    assert loaded.to_dict() == example_record.to_dict()
    assert isinstance(loaded.decision, Decision)
    assert loaded.params["fairness"]["min_group_size"] == 30
    assert loaded.spec.text is not None
    assert "adult-income" in loaded.spec.text
    assert loaded.policy.digest == loaded.decision.policy_digest


def test_a_record_whose_evidence_was_edited_is_refused(
    tmp_path: Path, example_record: DecisionRecord
) -> None:
    value = example_record.to_dict()
    value["evidence"]["run"]["metrics"]["accuracy"] = 0.99
    path = tmp_path / "record.json"
    path.write_text(json.dumps(value))
    with pytest.raises(EvidenceError, match="changed after the decision"):
        load_record(path)


def test_a_record_with_an_unknown_field_is_a_schema_error(
    tmp_path: Path, example_record: DecisionRecord
) -> None:
    value = example_record.to_dict()
    value["verdict"] = "pass"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(value))
    with pytest.raises(EvidenceError, match="unknown field 'verdict'"):
        load_record(path)


def test_replay_reproduces_a_record(example_record: DecisionRecord) -> None:
    report = replay(example_record)
    assert report.reproduced, report.changes
    assert report.exit_code == 0
    assert not report.policy_changed
    assert not report.params_changed


def test_replay_under_other_params_reports_what_changes(example_record: DecisionRecord) -> None:
    options = PipelineOptions(params=("metrics.accuracy.min=0.99",), as_of=TODAY)
    report = replay(example_record, options=options, use_recorded_params=False)
    assert not report.reproduced
    assert report.params_changed
    assert [(c.rule_id, c.before, c.after) for c in report.changes] == [
        ("GOV-PERF-001", Result.PASS, Result.FAIL)
    ]
    assert report.exit_code == 1


def test_replay_refuses_evidence_that_is_not_the_recorded_one(example_record: DecisionRecord) -> None:
    from govern.engine.evidence import evidence_from_value

    other: dict[str, Any] = copy.deepcopy(dict(example_record.evidence or {}))
    other["run"]["metrics"]["accuracy"] = 0.5
    by_reference = example_record.with_evidence(inline=False)
    with pytest.raises(EvidenceError, match="not the one the decision judged"):
        replay(by_reference, evidence=evidence_from_value(other))
    with pytest.raises(EvidenceError, match="by reference only"):
        replay(by_reference)


def test_the_pipeline_honours_extra_policies_and_no_builtin(tmp_path: Path) -> None:
    policy = tmp_path / "team.rego"
    policy.write_text(
        "package team\n\nimport rego.v1\n\n"
        "# METADATA\n# custom:\n#   id: TEAM-001\n#   severity: high\n#   stages: [deploy]\n"
        'deny_always contains {"msg": "no"} if true\n'
    )
    from govern.engine.spec import PolicySource, RegoVersion

    options = PipelineOptions(
        builtin=False, policies=(PolicySource(policy, RegoVersion.V1),), backend=BackendName.EMBEDDED
    )
    with Pipeline(load_spec(SPEC), options) as pipeline:
        record = pipeline.decide(load_evidence(EVIDENCE), Stage.DEPLOY)
    assert [(r.rule_id, r.result) for r in record.decision.results] == [("TEAM-001", Result.FAIL)]
    assert record.policy.builtin is False
    assert record.policy.sources == ({"path": str(policy), "rego_version": "v1"},)
    assert replay(record).reproduced


def test_check_prints_the_record_and_replay_reproduces_it(tmp_path: Path) -> None:
    out = tmp_path / "record.json"
    first = run_govern(
        "check", str(SPEC), "-e", str(EVIDENCE), "--as-of", TODAY.isoformat(), "-f", "json", "-o", str(out)
    )
    assert first.code == 0, first.stderr
    assert json.loads(out.read_text())["kind"] == "DecisionRecord"
    again = run_govern("replay", str(out))
    assert again.code == 0, again.stderr
    assert "REPRODUCED" in again.stdout
    changed = run_govern("replay", str(out), "--param", "metrics.accuracy.min=0.99")
    assert changed.code == 1
    assert "GOV-PERF-001: pass → fail" in changed.stdout


def test_replay_prints_record_text_neutralized(tmp_path: Path, example_record: DecisionRecord) -> None:
    """A record is user input: its rule ids and messages reach the terminal without escapes or
    workflow commands."""
    value = example_record.to_dict()
    value["decision"]["results"][0]["message"] = "\x1b[31mred\n::error::injected"
    value["decision"]["results"][0]["rule_id"] = "R-1\n::warning::x"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(value))
    run = run_govern("replay", str(path))
    assert run.code == 1, run.stderr
    assert "\x1b" not in run.stdout
    assert not [line for line in run.stdout.splitlines() if line.lstrip().startswith("::")]
    assert "R-1" in run.stdout


def test_replay_refuses_an_audit_log_that_does_not_verify(tmp_path: Path) -> None:
    """The audit log vouches for every stored record replay reads: a tampered log is refused
    before anything is replayed from it."""
    from govern.engine.audit import AuditLog

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append({"action": "register", "phase": "intent", "model": {"name": "m"}})
    log.append({"action": "register", "phase": "outcome", "model": {"name": "m"}})
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"m"', '"n"')
    path.write_text("\n".join(lines) + "\n")
    run = run_govern("replay", "--audit-log", str(path))
    assert run.code == 2, run.stdout + run.stderr
    assert "does not verify" in run.stderr

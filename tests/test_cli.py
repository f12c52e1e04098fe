from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from govern.engine.schemas import Schema, load_schema

from .conftest import EVIDENCE, SPEC, run_govern

CHECK = ("check", str(SPEC), "--evidence", str(EVIDENCE), "--as-of", "2026-11-27")


def test_check_text_passes_and_shows_the_waivers() -> None:
    run = run_govern(*CHECK)
    assert run.code == 0, run.stderr
    assert "GOV-FAIR-001" in run.stdout
    assert "WAIVED" in run.stdout
    assert "waived by jane.doe@example.com" in run.stdout
    assert "2027-06-30" in run.stdout
    assert run.stdout.index("WAIVED") < run.stdout.index("PASS")  # failures and waivers first
    assert "PASS  " in run.stdout.splitlines()[-2] or "PASS" in run.stdout.splitlines()[-2]


def test_check_json_is_a_decision_record_whose_decision_is_schema_valid() -> None:
    run = run_govern(*CHECK, "--format", "json")
    assert run.code == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["kind"] == "DecisionRecord"
    assert not list(Draft202012Validator(load_schema(Schema.DECISION_RECORD)).iter_errors(record))
    decision = record["decision"]
    errors = list(Draft202012Validator(load_schema(Schema.DECISION)).iter_errors(decision))
    assert not errors, errors[0].message
    assert decision["outcome"] == "pass"
    assert decision["summary"]["waived"] == 3
    assert decision["summary"]["warn"] == 1
    assert decision["backend"]["name"] == "embedded"
    assert [r["result"] for r in decision["results"][:2]] == ["warn", "waived"]  # the urgent first


def test_expired_waiver_exits_1() -> None:
    run = run_govern("check", str(SPEC), "--evidence", str(EVIDENCE), "--as-of", "2027-07-01")
    assert run.code == 1
    assert "expired" in run.stdout


def test_no_fail_and_fail_on_warn(tmp_path: Path) -> None:
    assert run_govern(*CHECK[:4], "--as-of", "2027-07-01", "--no-fail").code == 0
    # a team policy that only warns
    policy = tmp_path / "team.rego"
    policy.write_text(
        "package team\n\n# METADATA\n# custom:\n#   id: TEAM-W-1\n#   severity: low\n"
        'warn_always contains {"msg": "heads up"} if true\n'
    )
    assert run_govern(*CHECK, "--policies", str(tmp_path)).code == 0
    run = run_govern(*CHECK, "--policies", str(tmp_path), "--fail-on-warn")
    assert run.code == 1
    assert "TEAM-W-1" in run.stdout


def test_output_file_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "decision.json"
    run = run_govern(*CHECK, "--format", "json", "--output", str(out))
    assert run.code == 0
    assert run.stdout == ""
    assert json.loads(out.read_text())["kind"] == "DecisionRecord"
    assert [p.name for p in out.parent.iterdir()] == ["decision.json"]


def test_v0_policies_load_when_declared(tmp_path: Path) -> None:
    policy = tmp_path / "legacy.rego"
    policy.write_text(
        'package legacy\n\ndeny[msg] {\n  input.run.metrics.accuracy < 0.99\n  msg := "too weak"\n}\n'
    )
    run = run_govern(*CHECK, "--policies", str(tmp_path), "--v0-compatible")
    assert run.code == 1, run.stderr
    assert "legacy.deny" in run.stdout
    assert "too weak" in run.stdout
    run = run_govern(*CHECK, "--policies", str(tmp_path))
    assert run.code == 2
    assert "legacy.rego:3" in run.stderr


def test_validate() -> None:
    run = run_govern("validate", str(SPEC))
    assert run.code == 0
    assert "valid:" in run.stdout


def test_check_without_evidence_collects_from_mlflow_first(tmp_path: Path) -> None:
    # an empty local store: the spec's alias does not exist, which is a bad reference (exit 2)
    run = run_govern("check", str(SPEC), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
    assert run.code == 2, run.stderr
    assert "no version of adult-income holds the alias 'champion'" in run.stderr
    assert "Traceback" not in run.stderr


def test_builtin_rego_tests_pass_through_govern_test() -> None:
    run = run_govern("test")
    assert run.code == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]  # "PASS: n/n", as opa test prints it
    passed, total = (int(n) for n in last.removeprefix("PASS: ").split("/"))
    assert passed == total >= 50


def test_govern_test_reports_a_failing_team_test(tmp_path: Path) -> None:
    (tmp_path / "team.rego").write_text(
        'package team\n\ndeny_low contains {"msg": "low"} if input.x < data.govern.lib_missing\n'
    )
    (tmp_path / "team_test.rego").write_text(
        "package team_test\n\nimport data.team\n\n"
        'test_fires if count(team.deny_low) == 1 with input as {"x": 0}\n'
        'test_passes if count(team.deny_low) == 0 with input as {"x": 5}\n'
    )
    run = run_govern("test", str(tmp_path), "-v")
    assert run.code == 2  # opa test's exit code for failing tests
    assert "data.team_test.test_fires: FAIL" in run.stdout
    assert "data.team_test.test_passes: PASS" in run.stdout
    assert run.stdout.strip().splitlines()[-2:] == ["PASS: 1/2", "FAIL: 1/2"]


def test_help_teaches() -> None:
    run = run_govern("check", "--help")
    assert run.code == 0
    for word in ("--evidence", "--stage", "--fail-on-warn", "--as-of", "Exit 0"):
        assert word in run.stdout


def test_decision_log_appends_opa_shaped_events(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "decisions.jsonl"
    for _ in range(2):
        assert run_govern(*CHECK, "--decision-log", str(log)).code == 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(events) == 2
    first = events[0]
    assert first["path"] == "govern"
    assert first["bundles"]["govern"]["revision"] == first["result"]["policy_digest"]
    assert first["input"]["stage"] == "deploy"
    assert first["decision_id"] == first["result"]["decision_id"] != events[1]["decision_id"]

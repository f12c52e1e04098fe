"""Decisions as OPA decision-log events (engine/decision_log.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from govern.engine.backends import create_backend
from govern.engine.check import Checker
from govern.engine.decision_log import decision_log_record
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set
from govern.engine.spec import Stage, load_spec

from .conftest import SPEC, TODAY


def test_a_decision_becomes_an_opa_decision_log_event(example_evidence) -> None:  # type: ignore[no-untyped-def]
    spec = load_spec(SPEC)
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("embedded"))
    evidence = evidence_from_value(example_evidence)
    decision = checker.decide(evidence, Stage.DEPLOY, TODAY)
    input_doc = checker.prepare_input(evidence, Stage.DEPLOY).value

    event = decision_log_record(decision, input_doc, labels={"team": "credit-risk-ml"})

    # the fields OPA's decision log plugin writes, with govern's values
    assert set(event) >= {"decision_id", "path", "input", "result", "timestamp", "bundles", "labels"}
    assert str(uuid.UUID(event["decision_id"])) == decision.decision_id
    assert event["bundles"] == {"govern": {"revision": decision.policy_digest}}
    assert event["bundles"]["govern"]["revision"].startswith("sha256:")
    assert event["path"] == "govern"
    assert event["input"] == input_doc
    assert event["result"] == decision.to_dict()
    assert event["result"]["outcome"] == "pass"
    stamp = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == dt.timedelta(0)
    assert event["labels"]["app"] == "govern"
    assert event["labels"]["backend"] == "embedded"
    assert event["labels"]["team"] == "credit-risk-ml"
    # one JSON line, as a log shipper reads it
    line = json.dumps(event, separators=(",", ":"))
    assert "\n" not in line
    assert json.loads(line) == event


def test_the_path_is_written_as_opa_writes_it(example_evidence) -> None:  # type: ignore[no-untyped-def]
    spec = load_spec(SPEC)
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("embedded"))
    decision = checker.decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision_log_record(decision, {}, path="data.govern.metrics")["path"] == "govern/metrics"

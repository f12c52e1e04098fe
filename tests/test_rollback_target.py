"""Rollback targets on a real MLflow store: healthy versions only, quarantine, restored versions.

Live metrics here come from MLflow runs tagged govern.monitors (the Prometheus path is in
tests/test_live_prometheus.py).
"""

from __future__ import annotations

import pytest

from govern.engine.gates import Action, Gate

from . import test_gates
from .mlflow_helpers import log_live
from .test_gates import Env

# the gate tests' fixtures: a real sqlite MLflow store, the gate spec and its checker
spec = test_gates.spec
checker = test_gates.checker
empty_store = test_gates.empty_store
store = test_gates.store
env = test_gates.env

pytest.importorskip("mlflow")


def _promote_all(env: Env, *accuracies: float) -> list[str]:
    versions = []
    for accuracy in accuracies:
        version = str(env.register(accuracy).version)
        assert env.gate(Gate.PROMOTE, version=version).action is Action.PROMOTED
        versions.append(version)
    return versions


def test_the_restored_version_is_judged_on_its_own_evidence_not_refused_for_lacking_it(env: Env) -> None:
    v1, v2 = _promote_all(env, 0.90, 0.91)
    log_live(env.uri, "gate-test", v2, 0.70)
    rolled = env.gate(Gate.ROLLBACK)
    assert rolled.action is Action.ROLLED_BACK, rolled.message
    assert rolled.message.endswith(f"version {v2} quarantined")
    tags = env.registry.get_version("gate-test", v1).tags
    assert tags["govern.restored.decision_id"] == rolled.decision.decision_id
    # no live metrics for v1 yet: not judged (a skip naming the rollback), the alias stays
    restored = env.gate(Gate.ROLLBACK)
    assert restored.action is Action.KEPT, restored.message
    missing = {r.rule_id: r for r in restored.decision.results}["GOV-LIVE-000"]
    assert missing.result.value == "skip"
    assert f"restored by rollback decision {rolled.decision.decision_id}" in missing.message
    # once it has live metrics of its own, it is judged on them
    log_live(env.uri, "gate-test", v1, 0.5)
    judged = env.gate(Gate.ROLLBACK)
    assert judged.action is Action.REFUSED
    assert (
        f"version {v2} is quarantined" not in judged.message
        or "no earlier version is healthy" in judged.message
    )
    assert env.holder() == v1


def test_a_candidate_failing_its_own_live_rules_is_passed_over(env: Env) -> None:
    v1, v2, v3 = _promote_all(env, 0.90, 0.91, 0.92)
    log_live(env.uri, "gate-test", v2, 0.60)  # v2 is live too (e.g. a canary) and is bad
    log_live(env.uri, "gate-test", v3, 0.70)
    result = env.gate(Gate.ROLLBACK)
    assert result.action is Action.ROLLED_BACK, result.message
    assert (result.version, result.to) == (v3, v1)  # the judged version, and where the alias went
    assert env.holder() == v1
    assert "govern.quarantine.decision_id" in env.registry.get_version("gate-test", v3).tags
    # the candidate judged bad was not quarantined: it never held the alias when it failed
    assert "govern.quarantine.decision_id" not in env.registry.get_version("gate-test", v2).tags


def test_refusal_names_every_version_passed_over_and_why(env: Env) -> None:
    v1, v2, v3 = _promote_all(env, 0.90, 0.91, 0.92)
    env.registry.set_version_tags("gate-test", v1, {"govern.quarantine.decision_id": "d-1"})
    log_live(env.uri, "gate-test", v2, 0.60)
    log_live(env.uri, "gate-test", v3, 0.70)
    result = env.gate(Gate.ROLLBACK)
    assert result.action is Action.REFUSED, result.message
    assert result.exit_code == 1
    assert f"version {v2} fails its live rules (GOV-LIVE-001, decision " in result.message
    assert f"version {v1} is quarantined (decision d-1)" in result.message
    assert env.holder() == v3
    assert "govern.quarantine.decision_id" not in env.registry.get_version("gate-test", v3).tags


def test_promote_denies_a_quarantined_version(env: Env) -> None:
    v1, v2 = _promote_all(env, 0.90, 0.91)
    log_live(env.uri, "gate-test", v2, 0.70)
    assert env.gate(Gate.ROLLBACK).action is Action.ROLLED_BACK
    again = env.gate(Gate.PROMOTE, version=v2)
    assert again.action is Action.DENIED
    assert [r.rule_id for r in again.decision.results if r.result.value == "fail"] == ["GOV-LIVE-007"]
    assert env.holder() == v1

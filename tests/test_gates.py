"""Gates against a real MLflow sqlite store; faults injected by wrapping the real registry."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govern.engine.audit import AuditLog
from govern.engine.errors import AuditError, RegistryError
from govern.engine.evidence.collect import CollectOptions
from govern.engine.gates import Action, Gate, GateContext, GateResult, run_gate
from govern.engine.pipeline import Pipeline
from govern.engine.registry.mlflow import MlflowRegistry
from govern.engine.spec import ModelSpec, load_spec

from .mlflow_helpers import GATE_SPEC, log_live, log_run

pytest.importorskip("mlflow")

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(GATE_SPEC)


@pytest.fixture(scope="module")
def checker(spec: ModelSpec) -> Iterator[Pipeline]:
    with Pipeline(spec) as pipeline:
        yield pipeline


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialized, empty sqlite store: creating one runs MLflow's migrations (~4 s), so copy it."""
    folder = tmp_path_factory.mktemp("template")
    registry = MlflowRegistry(f"sqlite:///{folder}/mlflow.db")
    registry.list_versions("none")
    return folder / "mlflow.db"


@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> str:
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path}/mlflow.db"


class Env:
    def __init__(self, tmp_path: Path, uri: str, checker: Pipeline, spec: ModelSpec) -> None:
        self.uri = uri
        self.registry: Any = MlflowRegistry(uri)
        self.audit = AuditLog(tmp_path / "audit" / "audit.jsonl")
        self.checker = checker
        self.spec = spec
        self.tmp = tmp_path

    def gate(self, gate: Gate, *, dry_run: bool = False, registry: Any = None, **kwargs: Any) -> GateResult:
        ctx = GateContext(
            registry=registry or self.registry,
            audit=self.audit,
            decide=lambda evidence, stage: self.checker.decide(evidence, stage, TODAY),
            collect=CollectOptions(with_model=False),
            dry_run=dry_run,
            lock_dir=self.tmp / "locks",
        )
        return run_gate(gate, self.spec, ctx, **kwargs)

    def register(self, accuracy: float, **kwargs: Any) -> GateResult:
        return self.gate(Gate.REGISTER, run_id=log_run(self.uri, accuracy), **kwargs)

    def holder(self) -> str | None:
        record = self.registry.get_alias("gate-test", "champion")
        return record.version if record else None


@pytest.fixture
def env(tmp_path: Path, store: str, checker: Pipeline, spec: ModelSpec) -> Env:
    return Env(tmp_path, store, checker, spec)


def test_register_creates_a_tagged_version_and_is_idempotent(env: Env) -> None:
    run_id = log_run(env.uri, 0.9)
    first = env.gate(Gate.REGISTER, run_id=run_id)
    assert first.action is Action.REGISTERED, first.message
    assert first.exit_code == 0
    version = env.registry.get_version("gate-test", first.version)
    assert version.tags["govern.register.outcome"] == "pass"
    assert version.tags["govern.register.decision_id"] == first.decision.decision_id  # type: ignore[union-attr]
    assert version.tags["govern.audit.head"] == first.audit["hash"]  # type: ignore[index]
    again = env.gate(Gate.REGISTER, run_id=run_id)
    assert again.action is Action.ALREADY_DONE
    assert len(env.registry.list_versions("gate-test")) == 1
    intent, outcome, rerun = env.audit.records()
    assert env.audit.verify().records == 3
    assert (intent["phase"], outcome["phase"], outcome["intent_id"]) == (
        "intent",
        "outcome",
        intent["intent_id"],
    )
    # the re-run names the decision that justified the original registration, and writes no tag
    assert rerun["result"] == "already_done"
    assert rerun["decision_id"] == first.decision.decision_id  # type: ignore[union-attr]
    assert rerun["justified_by"]["seq"] == outcome["seq"]
    assert env.registry.get_version("gate-test", first.version).tags == version.tags


def test_the_decision_record_and_its_evidence_are_stored_and_named_by_the_audit(env: Env) -> None:
    import hashlib
    import json

    import mlflow

    from govern.engine.evidence.document import canonical_digest
    from govern.engine.record import record_from_text
    from govern.engine.registry.records import load_gate_record
    from govern.engine.replay import replay

    result = env.register(0.9)
    stored = env.audit.records()[-1]["records"]
    for kind in ("decision", "evidence"):
        text = mlflow.artifacts.load_text(stored[kind]["uri"])
        assert hashlib.sha256(text.encode()).hexdigest() == stored[kind]["sha256"]
    record = record_from_text(mlflow.artifacts.load_text(stored["decision"]["uri"]))
    assert record.decision_id == result.decision.decision_id  # type: ignore[union-attr]
    assert record.evidence is None  # by reference: the evidence is its own artifact
    assert record.evidence_ref.uri == stored["evidence"]["uri"]
    evidence = json.loads(mlflow.artifacts.load_text(stored["evidence"]["uri"]))
    assert canonical_digest(evidence) == record.evidence_ref.canonical
    assert stored["evidence"]["uri"].endswith(f"govern/evidence/{stored['evidence']['sha256']}.json")
    # and the registry finds both again: the version's tag names the record
    again, judged = load_gate_record(env.registry, "gate-test", str(result.version))
    assert again.to_dict() == record.to_dict()
    assert replay(again, evidence=judged).reproduced


def test_register_denied_registers_nothing(env: Env) -> None:
    result = env.register(0.5)
    assert result.action is Action.DENIED
    assert result.exit_code == 1
    assert env.registry.list_versions("gate-test") == []
    record = env.audit.records()[-1]
    assert record["result"] == "denied"
    assert record["run_id"]
    assert record["run_id"] == record["records"]["decision"]["uri"].split("/")[1]


def test_dry_run_changes_nothing_but_is_audited(env: Env) -> None:
    result = env.register(0.9, dry_run=True)
    assert result.action is Action.DRY_RUN
    assert env.registry.list_versions("gate-test") == []
    assert env.audit.records()[-1]["dry_run"] is True


def test_promote_compares_with_the_champion_and_records_the_previous_holder(env: Env) -> None:
    v1 = env.register(0.90).version
    v2 = env.register(0.895).version  # within max_regression 0.01
    v3 = env.register(0.85).version  # regresses by 0.05
    assert env.gate(Gate.PROMOTE, version=v1).action is Action.PROMOTED
    assert env.holder() == v1
    promoted = env.gate(Gate.PROMOTE, version=v2)
    assert promoted.action is Action.PROMOTED, promoted.message
    assert promoted.previous == v1
    assert env.registry.get_version("gate-test", v2).tags["govern.previous.champion"] == v1
    denied = env.gate(Gate.PROMOTE, version=v3)
    assert denied.action is Action.DENIED
    assert "GOV-CHAMP-001" in {r.rule_id for r in denied.decision.results if r.result.value == "fail"}  # type: ignore[union-attr]
    assert env.holder() == v2
    tags = env.registry.get_version("gate-test", v2).tags
    again = env.gate(Gate.PROMOTE, version=v2)
    assert again.action is Action.ALREADY_DONE
    assert again.audit["decision_id"] == promoted.decision.decision_id  # type: ignore[index, union-attr]
    assert env.registry.get_version("gate-test", v2).tags == tags  # the original decision's tags stay
    assert env.audit.verify().ok


def test_rollback_moves_back_to_the_last_vetted_version(env: Env) -> None:
    v1 = env.register(0.90).version
    v2 = env.register(0.91).version
    env.gate(Gate.PROMOTE, version=v1)
    env.gate(Gate.PROMOTE, version=v2)
    log_live(env.uri, "gate-test", str(v2), 0.95)
    assert env.gate(Gate.ROLLBACK).action is Action.KEPT
    log_live(env.uri, "gate-test", str(v2), 0.70)
    result = env.gate(Gate.ROLLBACK)
    assert result.action is Action.ROLLED_BACK, result.message
    assert result.exit_code == 1
    assert (result.previous, result.version, result.to) == (v2, v2, v1)
    record = env.audit.records()[-1]
    assert (record["model"]["version"], record["from"], record["to"]) == (v2, v2, v1)
    assert env.holder() == v1
    import subprocess

    from .conftest import govern_bin

    show = subprocess.run(
        [govern_bin(), "audit", "show", "--audit-log", str(env.audit.path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert show.returncode == 0, show.stderr
    rows = [line for line in show.stdout.splitlines() if "rollback" in line]
    assert any(f"gate-test v{v2}" in row and f"champion: {v2} → {v1}" in row for row in rows), show.stdout
    assert env.registry.get_version("gate-test", str(v2)).tags["govern.rollback.outcome"] == "fail"


def test_rollback_refuses_when_no_version_was_vetted(env: Env) -> None:
    v1 = env.register(0.90).version
    env.registry.set_alias("gate-test", "champion", v1)  # moved by hand, never through the gate
    log_live(env.uri, "gate-test", str(v1), 0.5)
    result = env.gate(Gate.ROLLBACK)
    assert result.action is Action.REFUSED
    assert "refusing" in result.message
    assert env.holder() == v1


def test_rollback_from_a_live_file(env: Env, tmp_path: Path) -> None:
    v1 = env.register(0.90).version
    v2 = env.register(0.91).version
    env.gate(Gate.PROMOTE, version=v1)
    env.gate(Gate.PROMOTE, version=v2)
    live = tmp_path / "live.json"
    live.write_text('{"metrics": {"accuracy": 0.6}, "window": "24h"}')
    ctx = GateContext(
        registry=env.registry,
        audit=env.audit,
        decide=lambda evidence, stage: env.checker.decide(evidence, stage, TODAY),
        collect=CollectOptions(with_model=False, live_file=live),
        lock_dir=env.tmp / "locks",
    )
    result = run_gate(Gate.ROLLBACK, env.spec, ctx)
    assert result.action is Action.ROLLED_BACK
    assert env.holder() == v1


# --- faults: fail closed -------------------------------------------------------------------


class Faulty:
    """The real registry, with one method made to fail."""

    def __init__(self, real: Any, method: str) -> None:
        self.real = real
        self.method = method

    def __getattr__(self, name: str) -> Any:
        if name == self.method:

            def fail(*_args: Any, **_kwargs: Any) -> Any:
                raise RegistryError(f"injected failure in {name}")

            return fail
        return getattr(self.real, name)


def test_alias_write_failing_leaves_the_alias_and_records_an_error(env: Env) -> None:
    v1 = env.register(0.90).version
    env.gate(Gate.PROMOTE, version=v1)
    v2 = env.register(0.91).version
    result = env.gate(Gate.PROMOTE, version=v2, registry=Faulty(env.registry, "set_alias"))
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert env.holder() == v1
    record = env.audit.records()[-1]
    assert record["result"] == "error"
    assert "injected failure" in record["message"]


def test_registration_failing_registers_nothing_and_closes_the_intent(env: Env) -> None:
    result = env.gate(
        Gate.REGISTER, run_id=log_run(env.uri, 0.9), registry=Faulty(env.registry, "create_version")
    )
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert env.registry.list_versions("gate-test") == []
    intent, outcome = env.audit.records()
    assert (outcome["result"], outcome["intent_id"]) == ("error", intent["intent_id"])


def test_missing_references_are_exit_2(env: Env) -> None:
    assert env.gate(Gate.REGISTER, run_id="0" * 32).exit_code == 2
    assert env.gate(Gate.PROMOTE, version="42").exit_code == 2
    rollback = env.gate(Gate.ROLLBACK)
    assert rollback.exit_code == 2
    assert "nothing to roll back" in rollback.message
    assert [r["result"] for r in env.audit.records()] == ["error", "error", "error"]


def test_unreachable_tracking_server_is_exit_3(tmp_path: Path, checker: Pipeline, spec: ModelSpec) -> None:
    env = Env(tmp_path, "http://127.0.0.1:9", checker, spec)
    result = env.gate(Gate.PROMOTE, version="1")
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert env.audit.records()[-1]["result"] == "error"


def test_unwritable_audit_log_stops_the_gate_before_it_acts(env: Env) -> None:
    v1 = env.register(0.90).version
    env.audit.path.unlink()
    env.audit.path.mkdir()  # a folder where the log should be
    with pytest.raises(AuditError):
        env.gate(Gate.PROMOTE, version=v1)
    assert env.holder() is None


def test_an_unexpected_failure_is_audited_and_surfaces(env: Env) -> None:
    v1 = env.register(0.90).version

    class Broken(Faulty):
        def __getattr__(self, name: str) -> Any:
            if name == "set_alias":

                def fail(*_args: Any, **_kwargs: Any) -> Any:
                    raise ZeroDivisionError("a bug")

                return fail
            return getattr(self.real, name)

    with pytest.raises(ZeroDivisionError):
        env.gate(Gate.PROMOTE, version=v1, registry=Broken(env.registry, "set_alias"))
    assert env.holder() is None
    record = env.audit.records()[-1]
    assert record["result"] == "error"
    assert "internal error: ZeroDivisionError" in record["message"]

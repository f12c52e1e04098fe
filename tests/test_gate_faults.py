"""Fault injection on the write-ahead gates, against a real MLflow sqlite store.

Two families: the gate process is SIGKILL-ed at every step boundary (in a subprocess whose
``_checkpoint`` or head write is replaced), and every write fails in turn (the audit log, its head,
each registry call, a registry response lost after the call was applied, the read-back). After
recovery the registry holds what the last committed outcome says and ``audit verify`` passes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govern.engine.audit import AuditLog, open_intents
from govern.engine.errors import AuditError, RegistryError
from govern.engine.evidence.collect import CollectOptions
from govern.engine.gates import Action, Gate, GateContext, GateResult, resolve_open_intents, run_gate
from govern.engine.pipeline import Pipeline
from govern.engine.registry.lock import model_lock
from govern.engine.registry.mlflow import MlflowRegistry
from govern.engine.spec import ModelSpec, load_spec

from .conftest import govern_bin
from .mlflow_helpers import GATE_SPEC, log_live, log_run

pytest.importorskip("mlflow")

TODAY = dt.date(2026, 11, 27)
MODEL = "gate-test"
ROOT = Path(__file__).resolve().parent.parent

# A gate in a subprocess, killed with SIGKILL at one point: a checkpoint name, or "head:N" (after
# the N-th audit record of this process is fsync-ed, before its head is written).
KILLED_GATE = r"""
import datetime as dt, os, signal, sys
from pathlib import Path
from govern.engine import gates
from govern.engine.audit import AuditLog
from govern.engine.pipeline import Pipeline
from govern.engine.evidence.collect import CollectOptions
from govern.engine.registry.mlflow import MlflowRegistry
from govern.engine.spec import load_spec

uri, audit, locks, gate, arg, live, point = sys.argv[1:8]
def die(): os.kill(os.getpid(), signal.SIGKILL)
if point.startswith("head:"):
    nth, real, seen = int(point[5:]), AuditLog._write_head, [0]
    def head(self, record):
        seen[0] += 1
        if seen[0] == nth:
            die()
        real(self, record)
    AuditLog._write_head = head
else:
    gates._checkpoint = lambda at: die() if at == point else None
spec = load_spec(Path(sys.argv[8]))
with Pipeline(spec) as checker:
    ctx = gates.GateContext(
        registry=MlflowRegistry(uri), audit=AuditLog(Path(audit)),
        decide=lambda evidence, stage: checker.decide(evidence, stage, dt.date(2026, 11, 27)),
        collect=CollectOptions(with_model=False, live_file=Path(live) if live != "-" else None),
        lock_dir=Path(locks),
    )
    kwargs = {"version": arg} if gate == "promote" else {"run_id": arg} if gate == "register" else {}
    result = gates.run_gate(gates.Gate(gate), spec, ctx, **kwargs)
print(result.action.value)
"""


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(GATE_SPEC)


@pytest.fixture(scope="module")
def checker(spec: ModelSpec) -> Iterator[Pipeline]:
    with Pipeline(spec) as pipeline:
        yield pipeline


class World:
    """A store where v1 holds champion (promoted through the gate), v2 is registered, run3 is not."""

    def __init__(self, folder: Path, template: dict[str, Any], checker: Pipeline, spec: ModelSpec) -> None:
        shutil.copy(template["db"], folder / "mlflow.db")
        shutil.copy(template["audit"], folder / "audit.jsonl")
        shutil.copy(template["audit"].with_name("audit.jsonl.head"), folder / "audit.jsonl.head")
        self.uri = f"sqlite:///{folder}/mlflow.db"
        self.registry: Any = MlflowRegistry(self.uri)
        self.audit = AuditLog(folder / "audit.jsonl")
        self.locks = folder / "locks"
        self.folder = folder
        self.checker = checker
        self.spec = spec
        self.v1, self.v2, self.run3 = template["v1"], template["v2"], template["run3"]
        self.live = folder / "live.json"
        self.live.write_text('{"metrics": {"accuracy": 0.5}}')

    def ctx(self, registry: Any = None, audit: AuditLog | None = None, live: bool = False) -> GateContext:
        return GateContext(
            registry=registry or self.registry,
            audit=audit or self.audit,
            decide=lambda evidence, stage: self.checker.decide(evidence, stage, TODAY),
            collect=CollectOptions(with_model=False, live_file=self.live if live else None),
            lock_dir=self.locks,
        )

    def gate(self, gate: Gate, registry: Any = None, audit: AuditLog | None = None, **kw: Any) -> GateResult:
        return run_gate(gate, self.spec, self.ctx(registry, audit, gate is Gate.ROLLBACK), **kw)

    def killed(self, gate: str, arg: str, point: str) -> subprocess.CompletedProcess[str]:
        live = str(self.live) if gate == "rollback" else "-"
        args = [self.uri, str(self.audit.path), str(self.locks), gate, arg, live, point, str(GATE_SPEC)]
        return subprocess.run(
            [sys.executable, "-c", KILLED_GATE, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
            check=False,
        )

    def holder(self) -> str | None:
        record = self.registry.get_alias(MODEL, "champion")
        return record.version if record else None

    def recover(self) -> list[dict[str, Any]]:
        with model_lock(self.locks, self.uri, MODEL):
            return resolve_open_intents(self.audit, self.registry, MODEL)

    def assert_consistent(self) -> None:
        """The registry holds what the committed outcomes say; the log verifies; no intent is open."""
        records = self.audit.records()
        assert open_intents(records) == []
        committed_holder = None
        registered: set[str] = set()
        for r in records:
            if r.get("phase") != "outcome" or r.get("dry_run"):
                continue
            moved = r["result"] in ("promoted", "rolled_back") or (r["result"] == "recovered" and r.get("to"))
            if moved:
                committed_holder = r["to"]
            if r["action"] == "gate.register" and r["result"] in ("registered", "recovered"):
                registered.add(r["model"]["version"])
        assert self.holder() == committed_holder
        versions = {v.version for v in self.registry.list_versions(MODEL)}
        assert versions == registered
        report = self.audit.verify()
        assert report.ok, report


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, checker: Pipeline, spec: ModelSpec) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("world")
    uri = f"sqlite:///{folder}/mlflow.db"
    registry = MlflowRegistry(uri)
    audit = AuditLog(folder / "audit.jsonl")
    ctx = GateContext(
        registry=registry,
        audit=audit,
        decide=lambda evidence, stage: checker.decide(evidence, stage, TODAY),
        collect=CollectOptions(with_model=False),
        lock_dir=folder / "locks",
    )
    v1 = run_gate(Gate.REGISTER, spec, ctx, run_id=log_run(uri, 0.90)).version
    v2 = run_gate(Gate.REGISTER, spec, ctx, run_id=log_run(uri, 0.91)).version
    assert run_gate(Gate.PROMOTE, spec, ctx, version=v1).action is Action.PROMOTED
    return {"db": folder / "mlflow.db", "audit": audit.path, "v1": v1, "v2": v2, "run3": log_run(uri, 0.92)}


@pytest.fixture
def world(tmp_path: Path, template: dict[str, Any], checker: Pipeline, spec: ModelSpec) -> World:
    return World(tmp_path, template, checker, spec)


# --- SIGKILL at every step boundary -------------------------------------------------------------

PROMOTE_POINTS = {
    # point: (resolution, champion after recovery)
    "head:1": ("aborted", "v1"),  # the intent is on disk, its head is not
    "intent_written": ("aborted", "v1"),
    "records_stored": ("aborted", "v1"),
    "tags_written": ("aborted", "v1"),
    "registry_written": ("recovered", "v2"),
    "read_back": ("recovered", "v2"),
    "head:2": (None, "v2"),  # the outcome is on disk, its head is not: nothing to resolve
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(PROMOTE_POINTS))
def test_promote_killed_at_each_step_recovers_to_the_committed_state(world: World, point: str) -> None:
    proc = world.killed("promote", world.v2, point)
    assert proc.returncode == -9, proc.stderr[-2000:]
    resolution, champion = PROMOTE_POINTS[point]
    resolved = world.recover()
    assert [r["result"] for r in resolved] == ([resolution] if resolution else [])
    assert world.holder() == getattr(world, champion)
    world.assert_consistent()
    # the next gate runs normally on top of the recovered log
    again = world.gate(Gate.PROMOTE, version=world.v2)
    assert again.action in (Action.PROMOTED, Action.ALREADY_DONE)
    world.assert_consistent()


REGISTER_POINTS = {"intent_written": "aborted", "records_stored": "aborted", "registry_written": "recovered"}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(REGISTER_POINTS))
def test_register_killed_at_each_step_recovers_to_the_committed_state(world: World, point: str) -> None:
    proc = world.killed("register", world.run3, point)
    assert proc.returncode == -9, proc.stderr[-2000:]
    resolved = world.recover()
    assert [r["result"] for r in resolved] == [REGISTER_POINTS[point]]
    world.assert_consistent()
    again = world.gate(Gate.REGISTER, run_id=world.run3)  # registers it, or finds it registered
    assert again.action in (Action.REGISTERED, Action.ALREADY_DONE)
    world.assert_consistent()
    assert len([v for v in world.registry.list_versions(MODEL) if v.run_id == world.run3]) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "resolution"), [("tags_written", "aborted"), ("registry_written", "recovered")]
)
def test_rollback_killed_mid_move_recovers(world: World, point: str, resolution: str) -> None:
    assert world.gate(Gate.PROMOTE, version=world.v2).action is Action.PROMOTED
    proc = world.killed("rollback", "-", point)
    assert proc.returncode == -9, proc.stderr[-2000:]
    # the next gate on the model resolves the interrupted one before it acts
    result = world.gate(Gate.PROMOTE, version=world.v2)
    resolved = [r for r in world.audit.records() if r.get("result") in ("recovered", "aborted")]
    assert [r["result"] for r in resolved] == [resolution]
    if resolution == "recovered":  # the rollback happened: v2 was quarantined before the move
        assert result.action is Action.DENIED
        assert result.decision is not None
        failed = {r.rule_id for r in result.decision.results if r.result.value == "fail"}
        assert failed == {"GOV-LIVE-007"}
    else:
        assert result.action in (Action.ALREADY_DONE, Action.PROMOTED)
    world.assert_consistent()


@pytest.mark.slow
def test_audit_verify_resolves_an_interrupted_gate(world: World) -> None:
    proc = world.killed("promote", world.v2, "registry_written")
    assert proc.returncode == -9
    verify = subprocess.run(
        [govern_bin(), "audit", "verify", "--audit-log", str(world.audit.path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOVERN_LOCK_DIR": str(world.locks)},
    )
    assert verify.returncode == 0, verify.stderr
    assert "recovered" in verify.stderr
    world.assert_consistent()


# --- every write fails in turn -----------------------------------------------------------------


class Faulty:
    """The real registry; one method fails, before acting or after it (the response lost)."""

    def __init__(self, real: Any, method: str, *, applied: bool = False) -> None:
        self.real, self.method, self.applied = real, method, applied

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.real, name)
        if name != self.method:
            return real

        def fail(*args: Any, **kwargs: Any) -> Any:
            if self.applied:
                real(*args, **kwargs)
            raise RegistryError(f"injected failure in {name} (503)")

        return fail


class ReadBackFails(Faulty):
    """get_alias works until the alias has been set, then the registry stops answering."""

    def __getattr__(self, name: str) -> Any:
        if name == "set_alias":

            def moved(*args: Any) -> None:
                self.real.set_alias(*args)
                self.method = "get_alias"

            return moved
        return super().__getattr__(name)


class FailingLog(AuditLog):
    """The audit log; its N-th append fails: in the log itself or in the head."""

    def __init__(self, path: Path, nth: int, where: str) -> None:
        super().__init__(path)
        self.nth, self.where, self.count = nth, where, 0

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        if self.count == self.nth and self.where == "log":
            raise AuditError(f"cannot write the audit log {self.path}: File too large")
        return super().append(entry)

    def _write_head(self, record: dict[str, Any]) -> None:
        if self.count == self.nth and self.where == "head":
            raise OSError(28, "No space left on device")
        super()._write_head(record)


@pytest.mark.parametrize("method", ["log_text", "set_version_tags", "set_alias"])
def test_a_failing_registry_write_moves_nothing(world: World, method: str) -> None:
    result = world.gate(Gate.PROMOTE, registry=Faulty(world.registry, method), version=world.v2)
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert "injected failure" in result.message
    assert world.holder() == world.v1
    world.assert_consistent()


def test_a_lost_response_is_read_back_as_applied(world: World) -> None:
    result = world.gate(
        Gate.PROMOTE, registry=Faulty(world.registry, "set_alias", applied=True), version=world.v2
    )
    assert result.action is Action.PROMOTED
    assert result.exit_code == 0
    assert "yet the alias moved" in result.message
    assert world.holder() == world.v2
    world.assert_consistent()


def test_a_lost_registration_response_is_read_back_as_applied(world: World) -> None:
    faulty = Faulty(world.registry, "create_version", applied=True)
    result = world.gate(Gate.REGISTER, registry=faulty, run_id=world.run3)
    assert result.action is Action.REGISTERED, result.message
    assert "yet the version exists" in result.message
    world.assert_consistent()


def test_a_failing_read_back_leaves_the_intent_for_recovery(world: World) -> None:
    result = world.gate(Gate.PROMOTE, registry=ReadBackFails(world.registry, "none"), version=world.v2)
    assert result.action is Action.ERROR
    assert "stays open" in result.message
    assert len(open_intents(world.audit.records())) == 1
    assert [r["result"] for r in world.recover()] == ["recovered"]
    world.assert_consistent()


@pytest.mark.parametrize("where", ["log", "head"])
def test_a_failing_intent_append_stops_the_gate_before_the_registry(world: World, where: str) -> None:
    with pytest.raises(AuditError):
        world.gate(Gate.PROMOTE, audit=FailingLog(world.audit.path, 1, where), version=world.v2)
    assert world.holder() == world.v1
    world.assert_consistent()


@pytest.mark.parametrize("where", ["log", "head"])
def test_a_failing_outcome_append_is_recovered_from_the_registry(world: World, where: str) -> None:
    with pytest.raises(AuditError, match="stays open"):
        world.gate(Gate.PROMOTE, audit=FailingLog(world.audit.path, 2, where), version=world.v2)
    assert world.holder() == world.v2  # it moved: the intent says so, and recovery records it
    assert [r["result"] for r in world.recover()] == ["recovered"]
    world.assert_consistent()


# --- compare-and-set and trust -----------------------------------------------------------------


def test_an_alias_moved_during_the_decision_aborts_the_move(world: World) -> None:
    real = world.checker

    class MovesAlias:
        def decide(self, evidence: Any, stage: Any, today: Any) -> Any:
            world.registry.set_alias(MODEL, "champion", world.v2)  # someone else, straight in MLflow
            return real.decide(evidence, stage, today)

    world.checker = MovesAlias()  # type: ignore[assignment]
    v3 = world.gate(Gate.REGISTER, run_id=world.run3).version
    world.registry.set_alias(MODEL, "champion", world.v1)
    result = world.gate(Gate.PROMOTE, version=v3)
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert "since the decision" in result.message
    assert world.holder() == world.v2  # not moved to v3
    assert world.audit.records()[-1]["result"] == "error"


def test_a_forged_pass_tag_is_ignored_and_reported(world: World) -> None:
    v3 = world.gate(Gate.REGISTER, run_id=world.run3).version
    assert world.gate(Gate.PROMOTE, version=v3).action is Action.PROMOTED
    # v2 was never judged at deploy; someone tags it as if it had passed
    world.registry.set_version_tags(
        MODEL, world.v2, {"govern.deploy.outcome": "pass", "govern.deploy.decision_id": "f" * 32}
    )
    log_live(world.uri, MODEL, str(v3), 0.5)
    result = world.gate(Gate.ROLLBACK)
    assert result.action is Action.ROLLED_BACK
    assert result.to == world.v1  # skips the forged v2
    assert [i["version"] for i in result.ignored] == [world.v2]
    assert world.audit.records()[-1]["ignored"][0]["version"] == world.v2


def test_rollback_refuses_when_only_forged_tags_vouch(world: World) -> None:
    world.registry.set_alias(MODEL, "champion", world.v2)
    world.registry.set_version_tags(MODEL, world.v1, {"govern.deploy.decision_id": "f" * 32})
    log_live(world.uri, MODEL, str(world.v2), 0.5)
    result = world.gate(Gate.ROLLBACK)
    assert result.action is Action.REFUSED
    assert "ignored version" in result.message
    assert world.holder() == world.v2


def test_concurrent_promotes_with_different_audit_logs_serialize(world: World) -> None:
    """Two gates, two audit logs, one lock: the second judges against the first's result."""
    v3 = world.gate(Gate.REGISTER, run_id=world.run3).version  # accuracy 0.92
    weak = world.gate(Gate.REGISTER, run_id=log_run(world.uri, 0.905)).version  # within 0.01 of v2, not of v3
    env = {**os.environ, "GOVERN_LOCK_DIR": str(world.locks)}

    def promote(version: str, log: str) -> subprocess.Popen[str]:
        command = [govern_bin(), "gate", "promote", str(GATE_SPEC), "--version", version, "--tracking-uri",
                   world.uri, "--audit-log", str(world.folder / log), "--no-model",
                   "--format", "json"]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    procs = [promote(v3, "a.jsonl"), promote(weak, "b.jsonl")]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    previous = {o["version"]: o["previous"] for o in outs}
    # in either order the second gate judged against the first one's result, never both against v1,
    # and the alias ends on the stronger version (weak first: both move; v3 first: weak is denied)
    assert sorted(previous.values(), key=str) != [world.v1, world.v1]
    assert world.holder() == v3


def test_rollback_trusts_no_target_from_a_log_that_does_not_verify(world: World) -> None:
    assert world.gate(Gate.PROMOTE, version=world.v2).action is Action.PROMOTED
    lines = world.audit.path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"gate.register"', b'"gate.registeR"')  # an edited record
    world.audit.path.write_bytes(b"".join(lines))
    result = world.gate(Gate.ROLLBACK)
    assert result.action is Action.ERROR
    assert result.exit_code == 3
    assert "does not verify" in result.message
    assert world.holder() == world.v2


def test_a_holder_without_a_record_is_judged_and_its_tags_left_alone(world: World) -> None:
    world.registry.set_alias(MODEL, "champion", world.v2)  # moved by hand
    world.registry.set_version_tags(MODEL, world.v2, {"govern.deploy.decision_id": "f" * 32})
    tags = world.registry.get_version(MODEL, world.v2).tags
    result = world.gate(Gate.PROMOTE, version=world.v2)
    assert result.action is Action.ALREADY_DONE
    assert result.audit is not None
    assert result.audit["decision_id"] == result.decision.decision_id  # type: ignore[union-attr]
    assert "justified_by" not in result.audit  # no record vouched for it: judged now
    assert world.registry.get_version(MODEL, world.v2).tags == {
        **tags,
        "govern.audit.head": result.audit["hash"],
    }

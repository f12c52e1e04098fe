"""Gates: decisions that act on the model registry.

* ``register``: judge a run at stage ``register``; on pass create the model version, tagged
  with the decision; on fail register nothing.
* ``promote``: judge a version at stage ``deploy`` (with the champion comparison); on pass
  move the alias and record the previous holder.
* ``rollback``: judge the alias holder at stage ``rollback`` on live evidence; on fail move the
  alias back to the latest earlier version that is healthy (see :mod:`.rollback`), quarantine
  the holder, and refuse when there is none.

Every gate fails closed (an error never moves an alias), supports a dry run, is idempotent when
re-run, holds a per-model lock so that gates on one model run one at a time, and appends an audit
record before it returns: the log's writability is checked before the registry is touched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from . import rollback
from .audit import AuditLog
from .decision import EXIT_DENIED, EXIT_ERROR, EXIT_OK, Decision, Outcome
from .errors import AuditError, ConfigError, GovernError, RegistryError
from .evidence.collect import CollectOptions, collect_evidence
from .evidence.document import EvidenceDocument
from .evidence.mlflow import Target, resolve_target
from .registry import Registry, VersionRecord
from .spec import ModelSpec, Stage

__all__ = ["Action", "Gate", "GateContext", "GateResult", "run_gate"]

Decide = Callable[[EvidenceDocument, Stage], Decision]


class Gate(StrEnum):
    REGISTER = "register"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


class Action(StrEnum):
    REGISTERED = "registered"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ALREADY_DONE = "already_done"  # re-run: the registry is already as this gate would leave it
    KEPT = "kept"  # rollback judged the holder healthy: nothing to do
    DENIED = "denied"  # the decision failed: nothing registered or moved
    REFUSED = "refused"  # rollback needed, but no vetted version to go back to
    DRY_RUN = "dry_run"  # would have acted
    ERROR = "error"  # no decision or a failed write: nothing moved


_STAGE = {Gate.REGISTER: Stage.REGISTER, Gate.PROMOTE: Stage.DEPLOY, Gate.ROLLBACK: Stage.ROLLBACK}


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    action: Action
    model: str | None
    version: str | None
    alias: str | None
    previous: str | None
    message: str
    decision: Decision | None
    audit: dict[str, Any] | None
    error_exit: int = EXIT_ERROR

    @property
    def exit_code(self) -> int:
        if self.action is Action.ERROR:
            return self.error_exit
        if self.action in (Action.DENIED, Action.REFUSED, Action.ROLLED_BACK):
            return EXIT_DENIED
        return EXIT_OK


@dataclass
class GateContext:
    """Everything a gate needs, injected: the registry, the audit log and how to decide."""

    registry: Registry
    audit: AuditLog
    decide: Decide
    collect: CollectOptions = field(default_factory=CollectOptions)
    dry_run: bool = False
    lock_dir: Path | None = None
    today: dt.date | None = None


def _tags(stage: Stage, decision: Decision, artifact: str | None = None) -> dict[str, str]:
    prefix = f"govern.{stage.value}"
    tags = {
        f"{prefix}.decision_id": decision.decision_id,
        f"{prefix}.outcome": decision.outcome.value,
        f"{prefix}.policy_digest": decision.policy_digest,
        f"{prefix}.evidence_digest": decision.evidence_digest,
        f"{prefix}.time": decision.timestamp,
    }
    if artifact:
        tags[f"{prefix}.decision_artifact"] = artifact
    return tags


@contextmanager
def _model_lock(lock_dir: Path | None, name: str) -> Iterator[None]:
    """Serialize gates on one model across processes on this machine."""
    if lock_dir is None:
        yield
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _model_name(spec: ModelSpec) -> str:
    name = (spec.data["model"].get("registered") or {}).get("name")
    if not name:
        raise ConfigError("gates need a registered model name: set model.registered.name in the spec")
    return str(name)


def _default_alias(spec: ModelSpec) -> str:
    champion = spec.data.get("requirements", {}).get("champion") or {}
    return str(champion.get("alias") or "champion")


def _preflight(audit: AuditLog) -> None:
    """Fail before acting if the audit log cannot be written."""
    path = audit.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"cannot create the audit log folder {path.parent}: {exc.strerror}") from None
    target = path if path.exists() else path.parent
    if path.exists() and not path.is_file():
        raise AuditError(f"the audit log {path} is not a file")
    if not os.access(target, os.W_OK):
        raise AuditError(f"the audit log {path} is not writable")


def _actor() -> str:
    for var in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _Run:
    """One gate run: accumulates what happened, then writes exactly one audit record."""

    def __init__(self, gate: Gate, spec: ModelSpec, ctx: GateContext) -> None:
        self.gate = gate
        self.spec = spec
        self.ctx = ctx
        self.stage = _STAGE[gate]

    def finish(
        self,
        action: Action,
        message: str,
        *,
        model: str | None,
        version: str | None = None,
        alias: str | None = None,
        previous: str | None = None,
        decision: Decision | None = None,
        error_exit: int = EXIT_ERROR,
    ) -> GateResult:
        entry: dict[str, Any] = {
            "action": f"gate.{self.gate.value}",
            "result": action.value,
            "message": message,
            "model": {"name": model, "version": version},
            "alias": alias,
            "previous": previous,
            "stage": self.stage.value,
            "outcome": decision.outcome.value if decision else Outcome.ERROR.value,
            "decision_id": decision.decision_id if decision else None,
            "policy_digest": decision.policy_digest if decision else None,
            # OPA decision-log fields, for pipelines that ingest OPA's logs
            "path": "govern",
            "bundles": {"govern": {"revision": decision.policy_digest}} if decision else {},
            "evidence_digest": decision.evidence_digest if decision else None,
            "dry_run": self.ctx.dry_run,
            "spec": {"name": self.spec.name, "path": self.spec.source, "sha256": self.spec.sha256},
            "tracking_uri": self.ctx.registry.uri,
            "actor": _actor(),
        }
        record = self.ctx.audit.append(entry)
        if decision is not None and model and version and not self.ctx.dry_run and action is not Action.ERROR:
            with contextlib.suppress(GovernError):  # an independent copy of the chain head (best effort)
                self.ctx.registry.set_version_tags(model, version, {"govern.audit.head": record["hash"]})
        return GateResult(
            gate=self.gate,
            action=action,
            model=model,
            version=version,
            alias=alias,
            previous=previous,
            message=message,
            decision=decision,
            audit=record,
            error_exit=error_exit,
        )

    def decide(self, target: Target) -> Decision:
        evidence = collect_evidence(self.spec, self.stage, self.ctx.registry, target, self.ctx.collect)
        return self.ctx.decide(evidence, self.stage)

    def log_decision(self, decision: Decision, run_id: str | None) -> str | None:
        if self.ctx.dry_run or not run_id:
            return None
        from .formats import Format, render

        return self.ctx.registry.log_decision(run_id, decision.decision_id, render(Format.JSON, decision))


def run_gate(
    gate: Gate,
    spec: ModelSpec,
    ctx: GateContext,
    *,
    alias: str | None = None,
    version: str | None = None,
    run_id: str | None = None,
) -> GateResult:
    """Run one gate. Never raises for a failure it can record: errors become ``Action.ERROR``."""
    _preflight(ctx.audit)
    run = _Run(gate, spec, ctx)
    name: str | None = (spec.data["model"].get("registered") or {}).get("name")
    try:
        name = _model_name(spec)
        with _model_lock(ctx.lock_dir, name):
            if gate is Gate.REGISTER:
                return _register(run, name, run_id)
            if gate is Gate.PROMOTE:
                return _promote(run, name, alias or _default_alias(spec), version)
            return _rollback(run, name, alias or _default_alias(spec))
    except AuditError:
        raise
    except GovernError as exc:
        return run.finish(
            Action.ERROR, str(exc), model=name, version=version, alias=alias, error_exit=exc.exit_code
        )
    except Exception as exc:  # a bug or an unwrapped library error: audit it, then let it surface
        run.finish(
            Action.ERROR,
            f"internal error: {type(exc).__name__}: {exc}",
            model=name,
            version=version,
            alias=alias,
        )
        raise


def _register(run: _Run, name: str, run_id: str | None) -> GateResult:
    spec, registry = run.spec, run.ctx.registry
    source_run = run_id or (spec.data["model"].get("run") or {}).get("run_id")
    if not source_run:
        raise ConfigError("register needs a run: set model.run.run_id in the spec or pass --run-id")
    artifact_path = (spec.data["model"].get("run") or {}).get("artifact_path", "model")
    target = Target(run_id=source_run, artifact_path=artifact_path, name=name)
    for existing in _versions(registry, name):
        if (
            existing.run_id == source_run
            and existing.tags.get("govern.register.outcome") == Outcome.PASS.value
        ):
            return run.finish(
                Action.ALREADY_DONE,
                f"run {source_run} is already registered as {name} version {existing.version}",
                model=name,
                version=existing.version,
            )
    decision = run.decide(target)
    if decision.outcome is Outcome.ERROR:
        return run.finish(Action.ERROR, "no decision: nothing registered", model=name, decision=decision)
    artifact = run.log_decision(decision, source_run)
    if decision.outcome is Outcome.FAIL:
        return run.finish(
            Action.DENIED, f"run {source_run} denied: nothing registered", model=name, decision=decision
        )
    if run.ctx.dry_run:
        return run.finish(
            Action.DRY_RUN, f"would register run {source_run} as {name}", model=name, decision=decision
        )
    created = registry.create_version(name, source_run, artifact_path, {})
    try:
        registry.set_version_tags(name, created.version, _tags(Stage.REGISTER, decision, artifact))
    except RegistryError as exc:
        # half-way: a version without its decision must not stay registered
        try:
            registry.delete_version(name, created.version)
        except RegistryError as cleanup:
            raise RegistryError(
                f"{exc.message}; version {created.version} was created but could not be tagged "
                f"nor deleted ({cleanup.message}): delete it by hand"
            ) from None
        raise RegistryError(f"{exc.message}; the new version {created.version} was deleted again") from None
    return run.finish(
        Action.REGISTERED,
        f"registered run {source_run} as {name} version {created.version}",
        model=name,
        version=created.version,
        decision=decision,
    )


def _versions(registry: Registry, name: str) -> list[VersionRecord]:
    from .errors import ReferenceNotFound

    try:
        return registry.list_versions(name)
    except ReferenceNotFound:
        return []


def _promote(run: _Run, name: str, alias: str, version: str | None) -> GateResult:
    spec, registry = run.spec, run.ctx.registry
    registered = spec.data["model"].get("registered") or {}
    candidate = version or registered.get("version")
    if not candidate:
        raise ConfigError("promote needs a version: pass --version or set model.registered.version")
    target = resolve_target(spec, registry, version=str(candidate))
    holder = registry.get_alias(name, alias)
    previous = holder.version if holder else None
    was = previous or "nothing"
    decision = run.decide(target)
    done = partial(
        run.finish, model=name, version=target.version, alias=alias, previous=previous, decision=decision
    )
    if decision.outcome is Outcome.ERROR:
        return done(Action.ERROR, f"no decision: {name}@{alias} left on {was}")
    artifact = run.log_decision(decision, target.run_id)
    if not run.ctx.dry_run:
        registry.set_version_tags(name, str(target.version), _tags(Stage.DEPLOY, decision, artifact))
    if decision.outcome is Outcome.FAIL:
        return done(Action.DENIED, f"version {target.version} denied: {name}@{alias} stays on {was}")
    if previous == target.version:
        return done(Action.ALREADY_DONE, f"{name}@{alias} already points to version {target.version}")
    if run.ctx.dry_run:
        return done(Action.DRY_RUN, f"would move {name}@{alias} from {was} to {target.version}")
    if previous:
        registry.set_version_tags(name, str(target.version), {f"govern.previous.{alias}": previous})
    registry.set_alias(name, alias, str(target.version))
    return done(Action.PROMOTED, f"moved {name}@{alias} from {was} to version {target.version}")


def _rollback(run: _Run, name: str, alias: str) -> GateResult:
    registry = run.ctx.registry
    holder = registry.get_alias(name, alias)
    if holder is None:
        from .errors import ReferenceNotFound

        raise ReferenceNotFound(f"no version of {name} holds the alias '{alias}': nothing to roll back")
    target = resolve_target(run.spec, registry, version=holder.version)
    decision = run.decide(target)
    stays = partial(run.finish, model=name, version=holder.version, alias=alias, decision=decision)
    if decision.outcome is Outcome.ERROR:
        return stays(Action.ERROR, f"no decision: {name}@{alias} left on {holder.version}")
    artifact = run.log_decision(decision, target.run_id)
    if not run.ctx.dry_run:
        registry.set_version_tags(name, holder.version, _tags(Stage.ROLLBACK, decision, artifact))
    if decision.outcome is Outcome.PASS:
        return stays(Action.KEPT, f"version {holder.version} is healthy: {name}@{alias} stays")
    judge = rollback.live_judge(run.spec, registry, run.ctx.collect, run.ctx.decide)
    choice = rollback.choose_target(registry, name, holder, judge)
    fallback = choice.target
    if fallback is None:
        return stays(
            Action.REFUSED,
            f"version {holder.version} failed at rollback, but no earlier version is healthy "
            f"({choice.explain() or 'there is none'}): refusing to move {name}@{alias}",
        )
    moves = partial(
        run.finish,
        model=name,
        version=fallback.version,
        alias=alias,
        previous=holder.version,
        decision=decision,
    )
    if run.ctx.dry_run:
        return moves(
            Action.DRY_RUN, f"would roll {name}@{alias} back from {holder.version} to {fallback.version}"
        )
    rollback.quarantine(registry, name, holder.version, decision)
    rollback.mark_restored(registry, name, fallback.version, decision)
    registry.set_alias(name, alias, fallback.version)
    return moves(
        Action.ROLLED_BACK,
        f"rolled {name}@{alias} back from version {holder.version} to {fallback.version}; "
        f"version {holder.version} quarantined",
    )

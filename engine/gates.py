"""Gates: decisions that act on the model registry.

* ``register``: judge a run at stage ``register``; on pass create the model version, tagged
  with the decision; on fail register nothing.
* ``promote``: judge a version at stage ``deploy`` (with the champion comparison); on pass
  move the alias and record the previous holder.
* ``rollback``: judge the alias holder at stage ``rollback`` on live evidence; on fail move the
  alias back to the latest earlier version that is healthy (see :mod:`.rollback`), quarantine
  the holder, and refuse when there is none.

Every gate fails closed (an error never moves an alias), supports a dry run, and holds a lock
keyed by the registry and the model, so gates on one model run one at a time on this machine
whatever audit log they write. A gate that writes to the registry is write-ahead audited:

1. decide;
2. append an *intent* record (the decision, the planned action, the previous holder, where the
   decision record and its evidence will be stored), fsync-ed;
3. store the decision record and the evidence as artifacts of the run, tag the version;
4. re-read the alias holder and stop if it changed since the decision (compare-and-set);
5. act (register, move the alias), then read the registry back;
6. append the *outcome* record.

A gate stopped between 2 and 6 leaves an intent without an outcome. The next gate on that model,
and ``govern audit verify``, resolve it by reading the registry: the action is there → outcome
``recovered``; it is not → ``aborted``.

Which versions were vetted (for rollback, and for an idempotent re-run) is read from committed
audit records, never from a version's tags alone: a ``govern.deploy.outcome=pass`` tag that no
record backs is ignored and reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import rollback
from .audit import AuditLog, open_intents
from .decision import EXIT_DENIED, EXIT_ERROR, EXIT_OK, Decision, Outcome
from .errors import AuditError, ConfigError, EvaluationError, GovernError, ReferenceNotFound, RegistryError
from .evidence.collect import CollectOptions, collect_evidence
from .evidence.document import EvidenceDocument
from .evidence.mlflow import Target, resolve_target
from .record import DecisionRecord
from .registry import Registry, VersionRecord
from .registry.lock import default_lock_dir, model_lock
from .registry.records import evidence_artifact, record_artifact
from .spec import ModelSpec, Stage

__all__ = [
    "Action",
    "Gate",
    "GateContext",
    "GateResult",
    "resolve_open_intents",
    "run_gate",
    "select_rollback_target",
    "vetted_candidates",
]

#: How a gate decides: the engine's pipeline (``Pipeline.decide``), injected.
Decide = Callable[[EvidenceDocument, Stage], DecisionRecord]


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
    RECOVERED = "recovered"  # an interrupted gate's action was found applied in the registry
    ABORTED = "aborted"  # an interrupted gate's action was found not applied


_STAGE = {Gate.REGISTER: Stage.REGISTER, Gate.PROMOTE: Stage.DEPLOY, Gate.ROLLBACK: Stage.ROLLBACK}
_MOVED = (Action.PROMOTED.value, Action.ROLLED_BACK.value, Action.REGISTERED.value, Action.RECOVERED.value)


def _checkpoint(point: str) -> None:
    """A step boundary of a gate (``intent_written``, ``records_stored``, ``tags_written``,
    ``registry_written``, ``read_back``). Does nothing; fault-injection tests replace it."""


class AliasConflict(RegistryError):
    """The alias moved between the decision and the move: the decision no longer applies."""


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    action: Action
    model: str | None
    version: str | None  # the version judged
    alias: str | None
    previous: str | None  # the alias holder before the gate
    message: str
    decision: Decision | None
    audit: dict[str, Any] | None
    error_exit: int = EXIT_ERROR
    to: str | None = None  # where the alias points after a move
    ignored: tuple[dict[str, str], ...] = ()  # version tags claiming trust that no record backs

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
    lock_dir: Path | None = None  # None: GOVERN_LOCK_DIR or the user's cache
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


def _record_payload(record: DecisionRecord, evidence_uri: str) -> str:
    """The decision record a gate stores: the record, its evidence by reference to its artifact."""
    stored = replace(
        record.with_evidence(inline=False), evidence_ref=replace(record.evidence_ref, uri=evidence_uri)
    )
    return stored.to_json(indent=None)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _model_name(spec: ModelSpec) -> str:
    name = spec.registered_name
    if not name:
        raise ConfigError("gates need a registered model name: set model.registered.name in the spec")
    return str(name)


def _default_alias(spec: ModelSpec) -> str:
    champion = spec.requirements.champion
    return champion.alias if champion is not None else "champion"


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
    """One gate run: an optional intent record, then exactly one outcome record."""

    def __init__(self, gate: Gate, spec: ModelSpec, ctx: GateContext) -> None:
        self.gate = gate
        self.spec = spec
        self.ctx = ctx
        self.stage = _STAGE[gate]
        self.intent: dict[str, Any] | None = None
        self.stored: dict[str, Any] | None = None  # where the decision record and evidence go
        self.record: DecisionRecord | None = None  # the decision record, once decided
        self.quarantined: str | None = None  # the version a rollback quarantined
        self.run_id: str | None = None
        self.ignored: list[dict[str, str]] = []
        self.resolved: list[dict[str, Any]] = []

    def _entry(
        self,
        *,
        model: str | None,
        version: str | None,
        alias: str | None,
        previous: str | None,
        to: str | None,
        decision: Decision | None,
        original: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        source: dict[str, Any] = original if original is not None else {}
        if decision is not None:
            source = {
                "outcome": decision.outcome.value,
                "decision_id": decision.decision_id,
                "policy_digest": decision.policy_digest,
                "evidence_digest": decision.evidence_digest,
            }
        policy_digest = source.get("policy_digest")
        entry: dict[str, Any] = {
            "action": f"gate.{self.gate.value}",
            "model": {"name": model, "version": version},
            "alias": alias,
            "previous": previous,
            "from": previous if to is not None else None,
            "to": to,
            "run_id": self.run_id,
            "stage": self.stage.value,
            "outcome": source.get("outcome") or Outcome.ERROR.value,
            "decision_id": source.get("decision_id"),
            "policy_digest": policy_digest,
            # OPA decision-log fields, for pipelines that ingest OPA's logs
            "path": "govern",
            "bundles": {"govern": {"revision": policy_digest}} if policy_digest else {},
            "evidence_digest": source.get("evidence_digest"),
            "dry_run": self.ctx.dry_run,
            "spec": {"name": self.spec.name, "path": self.spec.source, "sha256": self.spec.sha256},
            "tracking_uri": self.ctx.registry.uri,
            "actor": _actor(),
        }
        if self.stored is not None:
            entry["records"] = self.stored
        if original is not None and original.get("phase") != "intent":
            entry["justified_by"] = {"seq": original.get("seq"), "decision_id": original.get("decision_id")}
        if self.ignored:
            entry["ignored"] = list(self.ignored)
        if self.quarantined is not None:
            entry["quarantined"] = {"version": self.quarantined, "decision_id": source.get("decision_id")}
        return entry

    def plan_records(self, evidence: EvidenceDocument, decision: Decision, run_id: str) -> tuple[str, str]:
        """Decide where the decision record and its evidence go; return both texts."""
        record = self.record
        if record is None or record.decision_id != decision.decision_id:
            raise GovernError("internal: the gate has no decision record for this decision")
        evidence_text = _canonical(evidence.value)
        evidence_sha = hashlib.sha256(evidence_text.encode("utf-8")).hexdigest()
        evidence_path = evidence_artifact(f"sha256:{evidence_sha}")
        record_path = record_artifact(decision.decision_id)
        record_text = _record_payload(record, f"runs:/{run_id}/{evidence_path}")
        record_sha = hashlib.sha256(record_text.encode("utf-8")).hexdigest()
        self.stored = {
            "decision": {"path": record_path, "uri": f"runs:/{run_id}/{record_path}", "sha256": record_sha},
            "evidence": {
                "path": evidence_path,
                "uri": f"runs:/{run_id}/{evidence_path}",
                "sha256": evidence_sha,
            },
        }
        return record_text, evidence_text

    def store_records(self, run_id: str, record_text: str, evidence_text: str) -> str:
        """Write the evidence, then the decision record, as artifacts of ``run_id``."""
        assert self.stored is not None
        registry = self.ctx.registry
        registry.log_text(run_id, self.stored["evidence"]["path"], evidence_text)
        registry.log_text(run_id, self.stored["decision"]["path"], record_text)
        _checkpoint("records_stored")
        return str(self.stored["decision"]["path"])

    def intend(
        self,
        planned: dict[str, Any],
        *,
        model: str,
        version: str | None,
        alias: str | None,
        previous: str | None,
        to: str | None,
        decision: Decision,
    ) -> None:
        """Append the intent record (fsync-ed) before the registry is touched."""
        entry = self._entry(
            model=model, version=version, alias=alias, previous=previous, to=to, decision=decision
        )
        entry.update({"phase": "intent", "intent_id": uuid.uuid4().hex, "planned": planned})
        entry["message"] = f"intends to {planned['op']} {_describe(planned)}"
        self.intent = self.ctx.audit.append(entry)
        _checkpoint("intent_written")

    def finish(
        self,
        action: Action,
        message: str,
        *,
        model: str | None,
        version: str | None = None,
        alias: str | None = None,
        previous: str | None = None,
        to: str | None = None,
        decision: Decision | None = None,
        original: dict[str, Any] | None = None,
        error_exit: int = EXIT_ERROR,
    ) -> GateResult:
        entry = self._entry(
            model=model,
            version=version,
            alias=alias,
            previous=previous,
            to=to,
            decision=decision,
            original=original,
        )
        entry.update({"phase": "outcome", "result": action.value, "message": message})
        if self.intent is not None:
            entry["intent_id"] = self.intent["intent_id"]
        record = self.ctx.audit.append(entry)
        self.intent = None
        if decision is not None and model and version and self.stored is not None:
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
            to=to,
            ignored=tuple(self.ignored),
        )

    def fail(
        self, exc: GovernError, *, model: str | None, version: str | None, alias: str | None
    ) -> GateResult:
        """Record a failure. With an intent open, first read the registry to say what happened."""
        if self.intent is None:
            return self.finish(
                Action.ERROR, str(exc), model=model, version=version, alias=alias, error_exit=exc.exit_code
            )
        intent = self.intent
        try:
            applied = _applied(self.ctx.registry, intent)
        except GovernError as unknown:
            message = (
                f"{exc}; the registry could not be read back ({unknown.message}): intent record "
                f"{intent['seq']} stays open until the next gate on {model} or `govern audit verify` "
                "resolves it"
            )
            return GateResult(
                gate=self.gate,
                action=Action.ERROR,
                model=model,
                version=version,
                alias=alias,
                previous=intent.get("previous"),
                message=message,
                decision=None,
                audit=intent,
                error_exit=EXIT_ERROR,
            )
        version = intent["model"].get("version")
        if applied and intent["planned"].get("op") == "register":
            version = _registered(
                self.ctx.registry, str(model), intent.get("run_id"), intent.get("decision_id")
            )
        fields: dict[str, Any] = {
            "model": model,
            "version": version,
            "alias": intent.get("alias"),
            "previous": intent.get("previous"),
            "original": intent,
        }
        if applied:
            return self.finish(
                Action.RECOVERED,
                f"{exc}; yet the registry shows it done: {_describe(intent['planned'])}",
                to=intent.get("to"),
                **fields,
            )
        return self.finish(
            Action.ERROR,
            f"{exc}: nothing moved",
            error_exit=exc.exit_code,
            **fields,
        )

    def decide(self, target: Target) -> tuple[EvidenceDocument, Decision]:
        evidence = collect_evidence(self.spec, self.stage, self.ctx.registry, target, self.ctx.collect)
        self.record = self.ctx.decide(evidence, self.stage)
        return evidence, self.record.decision


def _describe(planned: dict[str, Any]) -> str:
    op, name = planned.get("op"), planned.get("model")
    if op == "move":
        return f"{name}@{planned.get('alias')} from {planned.get('from') or 'nothing'} to {planned.get('to')}"
    if op == "register":
        return f"run {planned.get('run_id')} as {name}"
    if op == "record":
        return f"the decision on {name} version {planned.get('version')}"
    return f"the records of run {planned.get('run_id')}"


def _applied(registry: Registry, intent: dict[str, Any]) -> bool:
    """Whether the registry holds what ``intent`` planned (read now, not remembered)."""
    planned = intent.get("planned") or {}
    op, name = planned.get("op"), str(planned.get("model"))
    decision_id = intent.get("decision_id")
    if op == "move":
        holder = registry.get_alias(name, str(planned.get("alias")))
        return holder is not None and holder.version == planned.get("to")
    if op == "register":
        return _registered(registry, name, planned.get("run_id"), decision_id) is not None
    if op == "record":
        try:
            version = registry.get_version(name, str(planned.get("version")))
        except ReferenceNotFound:
            return False
        return version.tags.get(f"govern.{intent.get('stage')}.decision_id") == decision_id
    return False  # "store": artifacts only, nothing in the registry moved


def _registered(registry: Registry, name: str, run_id: Any, decision_id: Any) -> str | None:
    """The version registered from ``run_id`` under the decision ``decision_id``, if any."""
    for v in _versions(registry, name):
        if v.run_id == run_id and v.tags.get("govern.register.decision_id") == decision_id:
            return v.version
    return None


def resolve_open_intents(
    audit: AuditLog, registry: Registry, name: str | None = None
) -> list[dict[str, Any]]:
    """Close every intent (of model ``name``, in this registry) that has no outcome record.

    The caller holds the model's lock. Returns the outcome records appended.
    """
    out = []
    for intent in open_intents(audit.records()):
        model = (intent.get("model") or {}).get("name")
        if intent.get("tracking_uri") != registry.uri or (name is not None and model != name):
            continue
        applied = _applied(registry, intent)
        entry = {
            k: v
            for k, v in intent.items()
            if k not in ("seq", "prev", "hash", "mac", "time", "phase", "message")
        }
        if applied and intent["planned"].get("op") == "register":
            version = _registered(registry, str(model), intent.get("run_id"), intent.get("decision_id"))
            entry["model"] = {"name": model, "version": version}
        result = Action.RECOVERED if applied else Action.ABORTED
        state = "found applied" if applied else "found not applied"
        entry.update(
            {
                "phase": "outcome",
                "result": result.value,
                "message": f"interrupted gate (intent record {intent['seq']}) {state}: "
                f"{_describe(intent['planned'])}",
                "resolved_by": _actor(),
            }
        )
        out.append(audit.append(entry))
    return out


def _committed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("phase") != "intent" and not r.get("dry_run")]


def _vetting_record(
    records: list[dict[str, Any]], gate: Gate, name: str, version: str
) -> dict[str, Any] | None:
    """The committed record whose passing decision made ``version`` what it is (registered, promoted)."""
    for record in reversed(_committed(records)):
        if (
            record.get("action") == f"gate.{gate.value}"
            and (record.get("model") or {}).get("name") == name
            and (record.get("model") or {}).get("version") == version
            and record.get("outcome") == Outcome.PASS.value
            and record.get("result") in (*_MOVED, Action.ALREADY_DONE.value)
            and record.get("decision_id")
        ):
            return dict(record)
    return None


def _judged(record: dict[str, Any]) -> Any:
    """The version a record's decision judged. Records written before intents existed (no
    ``phase``) named a rollback's new holder as the version and the judged one as ``previous``."""
    if "phase" not in record and record.get("result") == Action.ROLLED_BACK.value:
        return record.get("previous")
    return (record.get("model") or {}).get("version")


def vetted_candidates(
    versions: list[VersionRecord], records: list[dict[str, Any]], name: str, holder: VersionRecord
) -> tuple[list[VersionRecord], list[dict[str, str]]]:
    """The versions a failed holder may roll back to, newest first, and the tags that claimed
    trust without a record.

    Eligible: older than ``holder``, promoted by a committed passing deploy record whose decision id
    the version's tag repeats, and never judged failing at rollback.
    """
    ignored: list[dict[str, str]] = []
    failed = {
        _judged(r)
        for r in _committed(records)
        if r.get("action") == "gate.rollback"
        and (r.get("model") or {}).get("name") == name
        and r.get("outcome") == Outcome.FAIL.value
    }
    eligible: list[VersionRecord] = []
    for candidate in sorted(versions, key=lambda v: int(v.version), reverse=True):
        if int(candidate.version) >= int(holder.version):
            continue
        record = _vetting_record(records, Gate.PROMOTE, name, candidate.version)
        tag = candidate.tags.get("govern.deploy.decision_id")
        if record is None or record.get("decision_id") != tag:
            if candidate.tags.get("govern.deploy.outcome") == Outcome.PASS.value:
                ignored.append(
                    {
                        "version": candidate.version,
                        "reason": "govern.deploy.outcome=pass tag that no audit record backs",
                    }
                )
            continue
        if candidate.version in failed:
            continue
        eligible.append(candidate)
    return eligible, ignored


def select_rollback_target(
    versions: list[VersionRecord], records: list[dict[str, Any]], name: str, holder: VersionRecord
) -> tuple[VersionRecord | None, list[dict[str, str]]]:
    """The newest vetted version (see :func:`vetted_candidates`), before any live health check."""
    eligible, ignored = vetted_candidates(versions, records, name, holder)
    return (eligible[0] if eligible else None), ignored


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
    if alias is not None and not alias.strip():
        raise ConfigError("--alias is empty: name the alias to move (for example champion)")
    _preflight(ctx.audit)
    run = _Run(gate, spec, ctx)
    name: str | None = spec.registered_name
    try:
        name = _model_name(spec)
        with model_lock(ctx.lock_dir or default_lock_dir(), ctx.registry.uri, name):
            run.resolved = resolve_open_intents(ctx.audit, ctx.registry, name)
            if gate is Gate.REGISTER:
                return _register(run, name, run_id)
            if gate is Gate.PROMOTE:
                return _promote(run, name, alias or _default_alias(spec), version)
            return _rollback(run, name, alias or _default_alias(spec))
    except AuditError as exc:
        if run.intent is not None:
            raise AuditError(
                f"{exc.message}; intent record {run.intent['seq']} stays open: the next gate on {name} "
                "or `govern audit verify` resolves it from the registry"
            ) from None
        raise
    except GovernError as exc:
        return run.fail(exc, model=name, version=version, alias=alias)
    except Exception as exc:  # a bug or an unwrapped library error: audit it, then let it surface
        run.fail(
            RegistryError(f"internal error: {type(exc).__name__}: {exc}"),
            model=name,
            version=version,
            alias=alias,
        )
        raise


def _versions(registry: Registry, name: str) -> list[VersionRecord]:
    try:
        return registry.list_versions(name)
    except ReferenceNotFound:
        return []


def _register(run: _Run, name: str, run_id: str | None) -> GateResult:
    spec, registry = run.spec, run.ctx.registry
    source_run = run_id or (spec.model.run.run_id if spec.model.run else None)
    if not source_run:
        raise ConfigError("register needs a run: set model.run.run_id in the spec or pass --run-id")
    run.run_id = str(source_run)
    artifact_path = spec.model.run.artifact_path if spec.model.run else "model"
    target = Target(run_id=source_run, artifact_path=artifact_path, name=name)
    records = run.ctx.audit.records()
    for existing in _versions(registry, name):
        if existing.run_id != source_run:
            continue
        original = _vetting_record(records, Gate.REGISTER, name, existing.version)
        if original is not None and original.get("decision_id") == existing.tags.get(
            "govern.register.decision_id"
        ):
            return run.finish(
                Action.ALREADY_DONE,
                f"run {source_run} is already registered as {name} version {existing.version} "
                f"(decision {str(original['decision_id'])[:8]}, audit record {original.get('seq')})",
                model=name,
                version=existing.version,
                original=original,
            )
        if existing.tags.get("govern.register.outcome") == Outcome.PASS.value:
            run.ignored.append(
                {
                    "version": existing.version,
                    "reason": "govern.register.outcome=pass tag that no audit record backs",
                }
            )
    evidence, decision = run.decide(target)
    done = partial_finish(run, model=name, decision=decision)
    if decision.outcome is Outcome.ERROR:
        return done(Action.ERROR, "no decision: nothing registered")
    if run.ctx.dry_run:
        if decision.outcome is Outcome.FAIL:
            return done(Action.DENIED, f"run {source_run} denied: nothing registered")
        return done(Action.DRY_RUN, f"would register run {source_run} as {name}")
    record_text, evidence_text = run.plan_records(evidence, decision, source_run)
    if decision.outcome is Outcome.FAIL:
        run.intend({"op": "store", "model": name, "run_id": source_run}, model=name, version=None,
                   alias=None, previous=None, to=None, decision=decision)  # fmt: skip
        run.store_records(source_run, record_text, evidence_text)
        return done(Action.DENIED, f"run {source_run} denied: nothing registered")
    run.intend({"op": "register", "model": name, "run_id": source_run}, model=name, version=None,
               alias=None, previous=None, to=None, decision=decision)  # fmt: skip
    artifact = run.store_records(source_run, record_text, evidence_text)
    failure: RegistryError | None = None
    try:
        registry.create_version(name, source_run, artifact_path, _tags(Stage.REGISTER, decision, artifact))
    except RegistryError as exc:
        failure = exc
    _checkpoint("registry_written")
    created = _registered(registry, name, source_run, decision.decision_id)
    _checkpoint("read_back")
    if created is None:
        raise failure or RegistryError(f"run {source_run} was not registered as {name}")
    note = f" (the registry reported an error, yet the version exists: {failure.message})" if failure else ""
    return done(
        Action.REGISTERED,
        f"registered run {source_run} as {name} version {created}{note}",
        version=created,
    )


def partial_finish(run: _Run, **bound: Any) -> Callable[..., GateResult]:
    """``run.finish`` with the fields every outcome of one gate shares bound up front."""

    def finish(action: Action, message: str, **more: Any) -> GateResult:
        return run.finish(action, message, **{**bound, **more})

    return finish


def _move(run: _Run, name: str, alias: str, expected: str | None, to: str) -> str:
    """Compare-and-set the alias, then read it back. Returns a note when the client erred yet it moved."""
    registry = run.ctx.registry
    now = registry.get_alias(name, alias)
    holder = now.version if now else None
    if holder != expected:
        raise AliasConflict(
            f"{name}@{alias} moved from {expected or 'nothing'} to {holder or 'nothing'} since the decision: "
            "not moving it; run the gate again to judge against the new holder"
        )
    failure: RegistryError | None = None
    try:
        registry.set_alias(name, alias, to)
    except RegistryError as exc:
        failure = exc
    _checkpoint("registry_written")
    back = registry.get_alias(name, alias)
    _checkpoint("read_back")
    if back is None or back.version != to:
        raise failure or RegistryError(f"{name}@{alias} did not move to version {to}")
    return f" (the registry reported an error, yet the alias moved: {failure.message})" if failure else ""


def _promote(run: _Run, name: str, alias: str, version: str | None) -> GateResult:
    spec, registry = run.spec, run.ctx.registry
    registered = spec.model.registered
    candidate = version or (registered.version if registered else None)
    if not candidate:
        raise ConfigError("promote needs a version: pass --version or set model.registered.version")
    target = resolve_target(spec, registry, version=str(candidate))
    run.run_id = target.run_id
    version = str(target.version)
    holder = registry.get_alias(name, alias)
    previous = holder.version if holder else None
    was = previous or "nothing"
    if previous == version:
        original = _vetting_record(run.ctx.audit.records(), Gate.PROMOTE, name, version)
        if (
            original is not None
            and holder is not None
            and (original.get("decision_id") == holder.tags.get("govern.deploy.decision_id"))
        ):
            return run.finish(
                Action.ALREADY_DONE,
                f"{name}@{alias} already points to version {version} "
                f"(decision {str(original['decision_id'])[:8]}, audit record {original.get('seq')})",
                model=name, version=version, alias=alias, previous=previous, original=original,
            )  # fmt: skip
    evidence, decision = run.decide(target)
    done = partial_finish(run, model=name, version=version, alias=alias, previous=previous, decision=decision)
    if decision.outcome is Outcome.ERROR:
        return done(Action.ERROR, f"no decision: {name}@{alias} left on {was}")
    moves = decision.outcome is Outcome.PASS and previous != version
    if run.ctx.dry_run:
        if decision.outcome is Outcome.FAIL:
            return done(Action.DENIED, f"version {version} denied: {name}@{alias} stays on {was}")
        if not moves:
            return done(Action.ALREADY_DONE, f"{name}@{alias} already points to version {version}")
        return done(Action.DRY_RUN, f"would move {name}@{alias} from {was} to {version}")
    record_text, evidence_text = run.plan_records(evidence, decision, str(target.run_id))
    planned: dict[str, Any] = (
        {"op": "move", "model": name, "alias": alias, "from": previous, "to": version}
        if moves
        else {"op": "record", "model": name, "version": version}
    )
    run.intend(planned, model=name, version=version, alias=alias, previous=previous,
               to=version if moves else None, decision=decision)  # fmt: skip
    artifact = run.store_records(str(target.run_id), record_text, evidence_text)
    tags = _tags(Stage.DEPLOY, decision, artifact)
    if previous and moves:
        tags[f"govern.previous.{alias}"] = previous
    tagged = holder is not None and previous == version and "govern.deploy.decision_id" in holder.tags
    if not tagged:  # a re-run never overwrites the tags of the decision that put the alias there
        registry.set_version_tags(name, version, tags)
    _checkpoint("tags_written")
    if decision.outcome is Outcome.FAIL:
        return done(Action.DENIED, f"version {version} denied: {name}@{alias} stays on {was}")
    if not moves:  # held by hand, now judged: the alias was already there
        return done(Action.ALREADY_DONE, f"{name}@{alias} already points to version {version}")
    note = _move(run, name, alias, previous, version)
    return done(Action.PROMOTED, f"moved {name}@{alias} from {was} to version {version}{note}", to=version)


def _rollback(run: _Run, name: str, alias: str) -> GateResult:
    registry = run.ctx.registry
    holder = registry.get_alias(name, alias)
    if holder is None:
        raise ReferenceNotFound(f"no version of {name} holds the alias '{alias}': nothing to roll back")
    target = resolve_target(run.spec, registry, version=holder.version)
    run.run_id = target.run_id
    evidence, decision = run.decide(target)
    judged = holder.version
    stays = partial_finish(run, model=name, version=judged, alias=alias, previous=judged, decision=decision)
    if decision.outcome is Outcome.ERROR:
        return stays(Action.ERROR, f"no decision: {name}@{alias} left on {judged}")
    fallback: VersionRecord | None = None
    choice: rollback.TargetChoice | None = None
    if decision.outcome is Outcome.FAIL:
        report = run.ctx.audit.verify()
        if not report.ok:
            raise EvaluationError(
                f"the audit log {run.ctx.audit.path} does not verify (record {report.first_bad}: "
                f"{report.reason}): rollback targets come from it, so none is trusted; {name}@{alias} "
                f"left on {judged}"
            )
        # vetted by committed audit records (never a bare tag), then healthy on its own live evidence
        vetted, ignored = vetted_candidates(_versions(registry, name), run.ctx.audit.records(), name, holder)
        run.ignored.extend(ignored)
        judge = rollback.live_judge(
            run.spec, registry, run.ctx.collect, lambda ev, stage: run.ctx.decide(ev, stage).decision
        )
        choice = rollback.choose_target(vetted, judge)
        fallback = choice.target
    if run.ctx.dry_run:
        if fallback is not None:
            return stays(
                Action.DRY_RUN, f"would roll {name}@{alias} back from {judged} to {fallback.version}"
            )
    else:
        record_text, evidence_text = run.plan_records(evidence, decision, str(target.run_id))
        planned: dict[str, Any] = (
            {"op": "move", "model": name, "alias": alias, "from": judged, "to": fallback.version,
             "quarantine": judged}
            if fallback is not None
            else {"op": "record", "model": name, "version": judged}
        )  # fmt: skip
        run.intend(planned, model=name, version=judged, alias=alias, previous=judged,
                   to=fallback.version if fallback else None, decision=decision)  # fmt: skip
        artifact = run.store_records(str(target.run_id), record_text, evidence_text)
        registry.set_version_tags(name, judged, _tags(Stage.ROLLBACK, decision, artifact))
        _checkpoint("tags_written")
    if decision.outcome is Outcome.PASS:
        return stays(Action.KEPT, f"version {judged} is healthy: {name}@{alias} stays")
    if fallback is None:
        forged = "".join(f"; ignored version {i['version']}: {i['reason']}" for i in run.ignored)
        why = choice.explain() if choice is not None else ""
        return stays(
            Action.REFUSED,
            f"version {judged} failed at rollback, but no earlier vetted version is healthy "
            f"({why or 'there is none'}): refusing to move {name}@{alias}{forged}",
        )
    # quarantined before the move: a crash in between leaves the failing holder quarantined (safe)
    rollback.quarantine(registry, name, judged, decision)
    run.quarantined = judged
    rollback.mark_restored(registry, name, fallback.version, decision)
    note = _move(run, name, alias, judged, fallback.version)
    return stays(
        Action.ROLLED_BACK,
        f"rolled {name}@{alias} back from version {judged} to {fallback.version}{note}; "
        f"version {judged} quarantined",
        to=fallback.version,
    )

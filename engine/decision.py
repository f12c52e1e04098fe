"""Decisions: one result per rule, a summary, and the exit code that follows from them.

These are the values every formatter renders and every gate acts on. They serialize to the
shape of ``schemas/decision.schema.json`` with :meth:`Decision.to_dict`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .dataclass_methods import shared_methods
from .policyset import Severity
from .spec import Stage

__all__ = [
    "EXIT_DENIED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Decision",
    "Outcome",
    "Result",
    "RuleResult",
    "Summary",
    "Violation",
    "WaiverStatus",
    "WaiverUse",
]

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


class Result(StrEnum):
    """What one rule said. Ordered from most to least urgent by :data:`RESULT_ORDER`."""

    ERROR = "error"
    FAIL = "fail"
    WARN = "warn"
    WAIVED = "waived"
    PASS = "pass"
    SKIP = "skip"


RESULT_ORDER = {r: i for i, r in enumerate(Result)}


class WaiverStatus(StrEnum):
    APPLIED = "applied"  # turned a failure or warning into "waived"
    PARTIAL = "partial"  # waived the findings of the features it names; others still fail
    EXPIRED = "expired"  # void: past its expiry date; the failure stands
    UNUSED = "unused"  # the rule did not fail, so there was nothing to waive
    NOT_THIS_STAGE = "not_this_stage"  # limited to other stages
    UNKNOWN_RULE = "unknown_rule"  # names no rule of the policy set
    REFUSED = "refused"  # the rule errored: an error is never waived


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class WaiverUse:
    rule: str
    approver: str
    expires: dt.date
    reason: str
    ticket: str | None
    status: WaiverStatus
    days_left: int

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> WaiverUse:
        return cls(
            rule=str(value["rule"]),
            approver=str(value["approver"]),
            expires=dt.date.fromisoformat(value["expires"]),
            reason=str(value["reason"]),
            ticket=value.get("ticket"),
            status=WaiverStatus(value["status"]),
            days_left=int(value["days_left"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
            "reason": self.reason,
            "ticket": self.ticket,
            "status": self.status.value,
            "days_left": self.days_left,
        }


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Violation:
    """One object a rule produced: its message and the evidence values that decided it."""

    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"msg": self.message, **dict(self.details)}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Violation:
        return cls(str(value["msg"]), {k: v for k, v in value.items() if k != "msg"})


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class RuleResult:
    rule_id: str
    package: str
    rule: str
    result: Result
    severity: Severity
    message: str
    controls: tuple[str, ...] = ()
    title: str | None = None
    description: str | None = None
    violations: tuple[Violation, ...] = ()
    waiver: WaiverUse | None = None

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> RuleResult:
        waiver = value.get("waiver")
        return cls(
            rule_id=str(value["rule_id"]),
            package=str(value["package"]),
            rule=str(value["rule"]),
            result=Result(value["result"]),
            severity=Severity(value["severity"]),
            message=str(value["message"]),
            controls=tuple(value.get("controls", ())),
            title=value.get("title"),
            description=value.get("description"),
            violations=tuple(Violation.from_dict(v) for v in value.get("violations", ())),
            waiver=WaiverUse.from_dict(waiver) if waiver else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "package": self.package,
            "rule": self.rule,
            "title": self.title,
            "description": self.description,
            "result": self.result.value,
            "severity": self.severity.value,
            "message": self.message,
            "controls": list(self.controls),
            "violations": [v.to_dict() for v in self.violations],
            "waiver": self.waiver.to_dict() if self.waiver else None,
        }


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Summary:
    total: int
    passed: int
    failed: int
    warned: int
    waived: int
    skipped: int
    errored: int

    @classmethod
    def of(cls, results: Iterable[RuleResult]) -> Summary:
        counts = Counter(r.result for r in results)
        return cls(
            total=sum(counts.values()),
            passed=counts[Result.PASS],
            failed=counts[Result.FAIL],
            warned=counts[Result.WARN],
            waived=counts[Result.WAIVED],
            skipped=counts[Result.SKIP],
            errored=counts[Result.ERROR],
        )

    @property
    def outcome(self) -> Outcome:
        if self.errored:
            return Outcome.ERROR
        if self.failed:
            return Outcome.FAIL
        return Outcome.PASS

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "pass": self.passed,
            "fail": self.failed,
            "warn": self.warned,
            "waived": self.waived,
            "skip": self.skipped,
            "error": self.errored,
        }


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Decision:
    decision_id: str
    timestamp: str
    spec: Mapping[str, Any]
    model: Mapping[str, Any]
    stage: Stage
    results: tuple[RuleResult, ...]
    policy_digest: str
    params_digest: str
    evidence_digest: str
    backend: str
    backend_version: str
    engine_version: str
    as_of: dt.date
    waivers: tuple[WaiverUse, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        return Summary.of(self.results)

    @property
    def outcome(self) -> Outcome:
        if self.errors:
            return Outcome.ERROR
        return self.summary.outcome

    def exit_code(self, *, fail_on_warn: bool = False, no_fail: bool = False) -> int:
        """0 pass, 1 denied, 3 error. An error is never downgraded, not even by ``no_fail``."""
        outcome = self.outcome
        if outcome is Outcome.ERROR:
            return EXIT_ERROR
        if no_fail:
            return EXIT_OK
        if outcome is Outcome.FAIL or (fail_on_warn and self.summary.warned):
            return EXIT_DENIED
        return EXIT_OK

    def sorted_results(self) -> list[RuleResult]:
        """Most urgent first (errors, failures, warnings, waived, passes, skips), then by id."""
        return sorted(self.results, key=lambda r: (RESULT_ORDER[r.result], r.rule_id))

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Decision:
        """The decision a :meth:`to_dict` document describes (lossless for govern's own output)."""
        backend = value["backend"]
        return cls(
            decision_id=str(value["decision_id"]),
            timestamp=str(value["timestamp"]),
            spec=dict(value["spec"]),
            model=dict(value["model"]),
            stage=Stage(value["stage"]),
            results=tuple(RuleResult.from_dict(r) for r in value["results"]),
            policy_digest=str(value["policy_digest"]),
            params_digest=str(value["params_digest"]),
            evidence_digest=str(value["evidence_digest"]),
            backend=str(backend["name"]),
            backend_version=str(backend["version"]),
            engine_version=str(value["engine_version"]),
            as_of=dt.date.fromisoformat(value["as_of"]),
            waivers=tuple(WaiverUse.from_dict(w) for w in value.get("waivers", ())),
            errors=tuple(str(e) for e in value.get("errors", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "govern/v1",
            "kind": "Decision",
            "decision_id": self.decision_id,
            "timestamp": self.timestamp,
            "as_of": self.as_of.isoformat(),
            "spec": dict(self.spec),
            "model": dict(self.model),
            "stage": self.stage.value,
            "outcome": self.outcome.value,
            "summary": self.summary.to_dict(),
            "results": [r.to_dict() for r in self.sorted_results()],
            "waivers": [w.to_dict() for w in self.waivers],
            "errors": list(self.errors),
            "policy_digest": self.policy_digest,
            "params_digest": self.params_digest,
            "evidence_digest": self.evidence_digest,
            "backend": {"name": self.backend, "version": self.backend_version},
            "engine_version": self.engine_version,
        }

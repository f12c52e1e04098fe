"""Helpers shared by the CI formats: labels, counts and waiver notes, all pure."""

from __future__ import annotations

import re

from ..decision import Decision, Result, RuleResult, WaiverStatus

__all__ = [
    "RESULT_LABEL",
    "counts_phrase",
    "is_evidence_missing",
    "is_not_configured",
    "model_label",
    "result_lines",
    "spec_path",
    "strip_control",
    "waiver_note",
]

RESULT_LABEL = {
    Result.ERROR: "ERROR",
    Result.FAIL: "FAIL",
    Result.WARN: "WARN",
    Result.WAIVED: "WAIVED",
    Result.PASS: "PASS",
    Result.SKIP: "SKIP",
}

# C0 controls but tab/newline/CR, DEL, C1 controls: never valid in XML 1.0 and unreadable anywhere.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def strip_control(text: str) -> str:
    """``text`` without control characters (tab, newline and carriage return are kept)."""
    return _CONTROL_RE.sub("", text)


def model_label(decision: Decision) -> str:
    """``adult-income v2``, ``adult-income@champion``, or the spec name."""
    model = decision.model
    name = str(model.get("name") or decision.spec.get("name") or "model")
    if model.get("version"):
        return f"{name} v{model['version']}"
    if model.get("alias"):
        return f"{name}@{model['alias']}"
    return name


def spec_path(decision: Decision) -> str:
    """The spec path as the decision records it, with forward slashes and no leading ``./``."""
    path = str(decision.spec.get("path") or "spec.yaml").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def is_evidence_missing(result: RuleResult) -> bool:
    """A failure because the evidence the rule requires is absent (never a pass)."""
    return result.result is Result.FAIL and any("evidence_missing" in v.details for v in result.violations)


def is_not_configured(result: RuleResult) -> bool:
    """A skip because the spec does not configure the check."""
    return result.result is Result.SKIP and result.message.startswith("not configured:")


def counts_phrase(decision: Decision) -> str:
    """``32 rules: 1 failed (1 evidence missing), 2 waived, 27 passed, 2 skipped (1 not configured)``."""
    s = decision.summary
    missing = sum(is_evidence_missing(r) for r in decision.results)
    unset = sum(is_not_configured(r) for r in decision.results)
    parts = [
        (s.errored, "errored"),
        (s.failed, "failed" + (f" ({missing} evidence missing)" if missing else "")),
        (s.warned, "warned"),
        (s.waived, "waived"),
        (s.passed, "passed"),
        (s.skipped, "skipped" + (f" ({unset} not configured)" if unset else "")),
    ]
    listed = ", ".join(f"{n} {label}" for n, label in parts if n)
    noun = "rule" if s.total == 1 else "rules"
    return f"{s.total} {noun}: {listed}" if listed else f"{s.total} {noun}"


def waiver_note(result: RuleResult) -> str | None:
    """What the waiver did to this result, in one line; None when there is nothing to say."""
    waiver = result.waiver
    if waiver is None:
        return None
    ticket = f", {waiver.ticket}" if waiver.ticket else ""
    if waiver.status is WaiverStatus.APPLIED:
        return (
            f"waived by {waiver.approver} until {waiver.expires.isoformat()} "
            f"({waiver.days_left} days left{ticket}): {waiver.reason}"
        )
    if waiver.status is WaiverStatus.EXPIRED and "expired" not in result.message:
        return f"waiver by {waiver.approver} expired on {waiver.expires.isoformat()}{ticket}: void"
    return None


def result_lines(result: RuleResult) -> list[str]:
    """The result's message, one line per violation when there are several."""
    if len(result.violations) > 1 and result.result in (Result.FAIL, Result.WARN, Result.WAIVED):
        return [v.message for v in result.violations]
    return [result.message]

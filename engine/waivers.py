"""Waivers: approved, time-boxed exceptions, applied after evaluation.

A waiver turns a ``fail`` or ``warn`` of its rule into ``waived`` while it is in force (through
its expiry date, for the stages it names). An expired waiver is void and says so in the result;
a waiver never turns an ``error`` into anything else: govern fails closed. Nor does it cover a
failure for missing evidence: a waiver accepts a finding, and with the evidence missing there is
no finding to accept (the failure stands and the waiver is reported as refused).

A waiver may name ``features``: then only the findings for those sensitive features (each
violation's ``feature``) are waived. When findings for other features remain, the rule still
fails on them alone and the waiver is reported as ``partial``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace

from .decision import Result, RuleResult, Violation, WaiverStatus, WaiverUse
from .spec import Stage, Waiver

__all__ = ["apply_waivers", "is_evidence_missing"]


def is_evidence_missing(result: RuleResult) -> bool:
    """A failure govern raised because the rule's required evidence was absent."""
    return result.result is Result.FAIL and any("evidence_missing" in v.details for v in result.violations)


def _use(waiver: Waiver, status: WaiverStatus, today: dt.date) -> WaiverUse:
    return WaiverUse(
        rule=waiver.rule,
        approver=waiver.approver,
        expires=waiver.expires,
        reason=waiver.reason,
        ticket=waiver.ticket,
        status=status,
        days_left=(waiver.expires - today).days,
    )


def _feature_of(violation: Violation) -> str | None:
    value = violation.details.get("feature")
    return value if isinstance(value, str) else None


def _per_feature(result: RuleResult, waiver: Waiver, today: dt.date) -> tuple[RuleResult, WaiverUse]:
    """A waiver limited to some sensitive features: their findings are waived, the others stand."""
    named = set(waiver.features or ())
    covered = [v for v in result.violations if _feature_of(v) in named]
    rest = [v for v in result.violations if _feature_of(v) not in named]
    if not covered:
        return result, _use(waiver, WaiverStatus.UNUSED, today)
    if not rest:
        use = _use(waiver, WaiverStatus.APPLIED, today)
        return replace(result, result=Result.WAIVED, waiver=use), use
    use = _use(waiver, WaiverStatus.PARTIAL, today)
    waived = ", ".join(sorted({f for v in covered if (f := _feature_of(v))}))
    message = rest[0].message + (f" (and {len(rest) - 1} more)" if len(rest) > 1 else "")
    note = f"{len(covered)} finding(s) for {waived} waived by {waiver.approver}; the others stand"
    return replace(result, message=f"{message} ({note})", violations=tuple(rest), waiver=use), use


def apply_waivers(
    results: Iterable[RuleResult], waivers: Iterable[Waiver], stage: Stage, today: dt.date
) -> tuple[list[RuleResult], list[WaiverUse]]:
    """Apply ``waivers`` to ``results`` as of ``today``; report what became of each waiver."""
    out = list(results)
    index = {r.rule_id: i for i, r in enumerate(out)}
    uses: list[WaiverUse] = []
    for waiver in waivers:
        position = index.get(waiver.rule)
        if position is None:
            uses.append(_use(waiver, WaiverStatus.UNKNOWN_RULE, today))
            continue
        result = out[position]
        if not waiver.applies_to(stage):
            uses.append(_use(waiver, WaiverStatus.NOT_THIS_STAGE, today))
            continue
        if result.result is Result.ERROR:
            uses.append(_use(waiver, WaiverStatus.REFUSED, today))
            continue
        if is_evidence_missing(result):
            use = _use(waiver, WaiverStatus.REFUSED, today)
            note = f"the waiver by {waiver.approver} does not cover missing evidence"
            out[position] = replace(result, message=f"{result.message} ({note})", waiver=use)
            uses.append(use)
            continue
        if result.result not in (Result.FAIL, Result.WARN):
            uses.append(_use(waiver, WaiverStatus.UNUSED, today))
            continue
        if waiver.expired(today):
            use = _use(waiver, WaiverStatus.EXPIRED, today)
            note = f"waiver by {waiver.approver} expired on {waiver.expires.isoformat()} and is void"
            out[position] = replace(result, message=f"{result.message} ({note})", waiver=use)
        elif waiver.features is not None:
            out[position], use = _per_feature(result, waiver, today)
        else:
            use = _use(waiver, WaiverStatus.APPLIED, today)
            out[position] = replace(result, result=Result.WAIVED, waiver=use)
        uses.append(use)
    return out, uses

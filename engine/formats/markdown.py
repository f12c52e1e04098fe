"""Markdown: a summary for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment.

A headline with the outcome, a table of what needs attention (errors, failures, warnings and
waivers, most urgent first), the waivers with approver and expiry, then the passes and skips
in a collapsed ``<details>`` block, and the digests that identify the decision. All user text
is escaped for GitHub-flavoured Markdown (HTML and table syntax included).
"""

from __future__ import annotations

import html
import re

from ..decision import Decision, Outcome, Result, RuleResult, WaiverStatus
from .common import RESULT_LABEL, counts_phrase, model_label, result_lines, strip_control

__all__ = ["cell", "render"]

_ICON = {
    Result.ERROR: "⛔",
    Result.FAIL: "❌",
    Result.WARN: "⚠️",
    Result.WAIVED: "🔕",
    Result.PASS: "✅",
    Result.SKIP: "⏭️",
}
_OUTCOME_ICON = {Outcome.PASS: "✅", Outcome.FAIL: "❌", Outcome.ERROR: "⛔"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ATTENTION = (Result.ERROR, Result.FAIL, Result.WARN, Result.WAIVED)
_WAIVER_STATUS = {
    WaiverStatus.APPLIED: "applied",
    WaiverStatus.PARTIAL: "**partial: findings for other features stand**",
    WaiverStatus.EXPIRED: "**expired: void**",
    WaiverStatus.UNUSED: "unused (the rule passed)",
    WaiverStatus.NOT_THIS_STAGE: "not for this stage",
    WaiverStatus.UNKNOWN_RULE: "**names no rule**",
    WaiverStatus.REFUSED: "**refused: the rule errored or its evidence is missing**",
}


def cell(text: str) -> str:
    """``text`` safe inside a GFM table cell: HTML-escaped, Markdown-escaped, one line."""
    escaped = html.escape(strip_control(text), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _code(text: str) -> str:
    """An inline code span (backticks inside are dropped: they cannot be escaped in code)."""
    return "`" + html.escape(strip_control(text).replace("`", "'"), quote=False).replace("|", "\\|") + "`"


def _rule_cell(result: RuleResult) -> str:
    title = f" {cell(result.title)}" if result.title else ""
    return f"{_code(result.rule_id)}{title}"


def _message_cell(result: RuleResult) -> str:
    lines = [cell(line) for line in result_lines(result)]
    waiver = result.waiver
    if waiver is not None and waiver.status is WaiverStatus.APPLIED:
        lines.append(
            f"<sub>waived by {cell(waiver.approver)} until {waiver.expires.isoformat()} "
            f"({waiver.days_left} days left)</sub>"
        )
    return "<br>".join(lines)


def _controls(result: RuleResult) -> str:
    return "<br>".join(cell(c) for c in result.controls) or "—"


def _attention_table(results: list[RuleResult]) -> list[str]:
    lines = ["| | Result | Rule | Severity | Message | Controls |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {_ICON[r.result]} | **{RESULT_LABEL[r.result]}** | {_rule_cell(r)} | {r.severity.value} "
            f"| {_message_cell(r)} | {_controls(r)} |"
        )
    return lines


def _waiver_table(decision: Decision) -> list[str]:
    lines = [
        "| Rule | Status | Approver | Expires | Ticket | Reason |",
        "|---|---|---|---|---|---|",
    ]
    for w in decision.waivers:
        expires = (
            f"{w.expires.isoformat()} ({w.days_left} days)" if w.days_left >= 0 else w.expires.isoformat()
        )
        lines.append(
            f"| {_code(w.rule)} | {_WAIVER_STATUS[w.status]} | {cell(w.approver)} | {expires} "
            f"| {cell(w.ticket or '—')} | {cell(w.reason)} |"
        )
    return lines


def _quiet_table(results: list[RuleResult]) -> list[str]:
    lines = ["| | Rule | Severity | Controls |", "|---|---|---|---|"]
    for r in results:
        rule = _rule_cell(r)
        if r.result is Result.SKIP:
            rule += f"<br><sub>skipped: {cell(r.message)}</sub>"
        lines.append(f"| {_ICON[r.result]} | {rule} | {r.severity.value} | {_controls(r)} |")
    return lines


def render(decision: Decision) -> str:
    ordered = decision.sorted_results()
    attention = [r for r in ordered if r.result in _ATTENTION]
    quiet = [r for r in ordered if r.result not in _ATTENTION]
    outcome = decision.outcome
    out = [
        f"### {_OUTCOME_ICON[outcome]} govern: {outcome.value.upper()} · {cell(model_label(decision))} "
        f"· stage {decision.stage.value}",
        "",
        f"{cell(counts_phrase(decision))} · waivers judged as of {decision.as_of.isoformat()} · "
        f"{cell(decision.backend)} ({cell(decision.backend_version)})",
        "",
    ]
    if decision.errors:
        out += ["**No decision could be reached:**", ""]
        out += [f"- {cell(e)}" for e in decision.errors]
        out.append("")
    if attention:
        out += _attention_table(attention)
        out.append("")
    else:
        out += ["Every rule passed.", ""]
    if decision.waivers:
        out += ["#### Waivers", "", *_waiver_table(decision), ""]
    if quiet:
        passed = sum(r.result is Result.PASS for r in quiet)
        skipped = len(quiet) - passed
        out += [
            "<details>",
            f"<summary>{passed} passed, {skipped} skipped</summary>",
            "",
            *_quiet_table(quiet),
            "",
            "</details>",
            "",
        ]
    out.append(
        f"<sub>decision {_code(decision.decision_id)} · {decision.timestamp} · "
        f"policies {_code(decision.policy_digest)} · evidence {_code(decision.evidence_digest)} · "
        f"spec {_code(str(decision.spec.get('path', '')))}</sub>"
    )
    return "\n".join(out) + "\n"

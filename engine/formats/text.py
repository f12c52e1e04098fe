"""Text: a table for people, failures first, with the evidence values that decided each rule."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..decision import Decision, Outcome, Result, RuleResult, WaiverStatus
from .common import is_evidence_missing, is_not_configured

__all__ = ["render"]

_STYLE = {
    Result.ERROR: "bold magenta",
    Result.FAIL: "bold red",
    Result.WARN: "yellow",
    Result.WAIVED: "cyan",
    Result.PASS: "green",
    Result.SKIP: "dim",
}
_OUTCOME_STYLE = {Outcome.PASS: "bold green", Outcome.FAIL: "bold red", Outcome.ERROR: "bold magenta"}
_MAX_DETAILS = 4


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value[:5]) + (", …" if len(value) > 5 else "") + "]"
    return str(value)


def _evidence(result: RuleResult) -> str:
    lines = []
    for violation in result.violations[:_MAX_DETAILS]:
        pairs = [f"{k}={_value(v)}" for k, v in violation.details.items() if k != "id"]
        if pairs:
            lines.append(" ".join(pairs))
    if len(result.violations) > _MAX_DETAILS:
        lines.append(f"… {len(result.violations) - _MAX_DETAILS} more")
    return "\n".join(lines)


def _message(result: RuleResult) -> Text:
    text = Text(result.message)
    if result.result in (Result.FAIL, Result.WARN, Result.WAIVED) and len(result.violations) > 1:
        text = Text("\n".join(v.message for v in result.violations[:_MAX_DETAILS]))
    waiver = result.waiver
    if waiver is not None and waiver.status is WaiverStatus.APPLIED:
        text.append(
            f"\nwaived by {waiver.approver} until {waiver.expires.isoformat()} ({waiver.days_left} days left)"
            + (f", {waiver.ticket}" if waiver.ticket else ""),
            style="cyan",
        )
    elif waiver is not None and waiver.status is WaiverStatus.EXPIRED:
        text.append(f"\nwaiver expired {-waiver.days_left} days ago: void", style="red")
    return text


def _summary(decision: Decision) -> Text:
    s = decision.summary
    missing = sum(is_evidence_missing(r) for r in decision.results)
    unset = sum(is_not_configured(r) for r in decision.results)
    parts = [
        (s.errored, "errored", _STYLE[Result.ERROR]),
        (s.failed, "failed" + (f" ({missing} evidence missing)" if missing else ""), _STYLE[Result.FAIL]),
        (s.warned, "warned", _STYLE[Result.WARN]),
        (s.waived, "waived", _STYLE[Result.WAIVED]),
        (s.passed, "passed", _STYLE[Result.PASS]),
        (s.skipped, "skipped" + (f" ({unset} not configured)" if unset else ""), _STYLE[Result.SKIP]),
    ]
    text = Text()
    text.append(decision.outcome.value.upper(), style=_OUTCOME_STYLE[decision.outcome])
    text.append(f"  {s.total} rules: ")
    text.append_text(Text(", ").join(Text(f"{n} {label}", style=style) for n, label, style in parts if n))
    return text


def render(decision: Decision, *, color: bool = False, width: int = 120) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False, soft_wrap=False
    )
    model = decision.model
    ref = model.get("name") or decision.spec.get("name")
    if model.get("version"):
        ref = f"{ref} v{model['version']}"
    elif model.get("alias"):
        ref = f"{ref}@{model['alias']}"
    elif model.get("run_id"):
        ref = f"{ref} run {model['run_id']}"
    console.print(
        Text.assemble(
            ("govern check", "bold"),
            f"  {ref}  stage {decision.stage.value}  ",
            (f"{decision.backend_version}", "dim"),
        )
    )
    table = Table(show_edge=False, pad_edge=False, expand=False, header_style="bold")
    table.add_column("result", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("message", ratio=3)
    table.add_column("evidence", ratio=2, style="dim")
    for result in decision.sorted_results():
        table.add_row(
            Text(result.result.value.upper(), style=_STYLE[result.result]),
            Text(result.rule_id),  # user text reaches Rich only as Text: markup is never parsed
            Text(result.severity.value),
            _message(result),
            Text(_evidence(result)),
        )
    console.print(table)
    for error in decision.errors:
        console.print(Text(f"error: {error}", style=_STYLE[Result.ERROR]))
    for waiver in decision.waivers:
        if waiver.status in (WaiverStatus.UNKNOWN_RULE, WaiverStatus.REFUSED):
            why = (
                "names no rule in the policy set"
                if waiver.status is WaiverStatus.UNKNOWN_RULE
                else "cannot waive an error or missing evidence"
            )
            console.print(Text(f"note: the waiver for {waiver.rule} {why}", style="yellow"))
        elif waiver.status is WaiverStatus.APPLIED and waiver.days_left <= 14:
            console.print(
                Text(f"note: the waiver for {waiver.rule} expires in {waiver.days_left} days", style="yellow")
            )
    console.print(_summary(decision))
    console.print(
        Text(
            f"decision {decision.decision_id}  policies {decision.policy_digest[:19]}…  "
            f"evidence {decision.evidence_digest[:19]}…",
            style="dim",
        )
    )
    return buffer.getvalue()

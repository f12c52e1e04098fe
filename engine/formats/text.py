"""Text: a table for people, failures first, with the evidence values that decided each rule.

In colour the table is drawn by Rich. Without colour (a file, a pipe, ``NO_COLOR``) the same
characters are laid out by :mod:`.text_plain`, which follows Rich's table layout to the
character without importing Rich (a fifth of a cold ``govern check``); text it cannot lay out
exactly as Rich would (wide or combining characters, tabs, a very narrow width) goes to Rich.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ..decision import Decision, Outcome, Result, RuleResult, WaiverStatus
from .common import is_evidence_missing, is_not_configured

if TYPE_CHECKING:
    from rich.text import Text

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


def _message_parts(result: RuleResult) -> tuple[str, str, str | None]:
    """The message, and the waiver's line (empty if none) with its style."""
    message = result.message
    if result.result in (Result.FAIL, Result.WARN, Result.WAIVED) and len(result.violations) > 1:
        message = "\n".join(v.message for v in result.violations[:_MAX_DETAILS])
    waiver = result.waiver
    if waiver is not None and waiver.status is WaiverStatus.APPLIED:
        line = (
            f"\nwaived by {waiver.approver} until {waiver.expires.isoformat()} ({waiver.days_left} days left)"
            + (f", {waiver.ticket}" if waiver.ticket else "")
        )
        return message, line, "cyan"
    if waiver is not None and waiver.status is WaiverStatus.EXPIRED:
        return message, f"\nwaiver expired {-waiver.days_left} days ago: void", "red"
    return message, "", None


def _message(result: RuleResult) -> Text:
    from rich.text import Text

    message, line, style = _message_parts(result)
    text = Text(message)
    if line:
        text.append(line, style=style)
    return text


def _summary_parts(decision: Decision) -> list[tuple[str, str]]:
    """The summary line as (text, style) pieces."""
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
    out = [(decision.outcome.value.upper(), _OUTCOME_STYLE[decision.outcome]), (f"  {s.total} rules: ", "")]
    for i, (n, label, style) in enumerate([p for p in parts if p[0]]):
        if i:
            out.append((", ", ""))
        out.append((f"{n} {label}", style))
    return out


def _summary(decision: Decision) -> Text:
    from rich.text import Text

    return Text.assemble(*_summary_parts(decision))


def _heading(decision: Decision) -> list[tuple[str, str]]:
    model = decision.model
    ref = model.get("name") or decision.spec.get("name")
    if model.get("version"):
        ref = f"{ref} v{model['version']}"
    elif model.get("alias"):
        ref = f"{ref}@{model['alias']}"
    elif model.get("run_id"):
        ref = f"{ref} run {model['run_id']}"
    return [
        ("govern check", "bold"),
        (f"  {ref}  stage {decision.stage.value}  ", ""),
        (f"{decision.backend_version}", "dim"),
    ]


def _notes(decision: Decision) -> list[tuple[str, str]]:
    """The lines after the table, before the summary: errors, then waiver notes."""
    out = [(f"error: {error}", _STYLE[Result.ERROR]) for error in decision.errors]
    for waiver in decision.waivers:
        if waiver.status in (WaiverStatus.UNKNOWN_RULE, WaiverStatus.REFUSED):
            why = (
                "names no rule in the policy set"
                if waiver.status is WaiverStatus.UNKNOWN_RULE
                else "cannot waive an error or missing evidence"
            )
            out.append((f"note: the waiver for {waiver.rule} {why}", "yellow"))
        elif waiver.status is WaiverStatus.APPLIED and waiver.days_left <= 14:
            out.append((f"note: the waiver for {waiver.rule} expires in {waiver.days_left} days", "yellow"))
    return out


def _footer(decision: Decision) -> str:
    return (
        f"decision {decision.decision_id}  policies {decision.policy_digest[:19]}…  "
        f"evidence {decision.evidence_digest[:19]}…"
    )


_HEADERS = ("result", "rule", "severity", "message", "evidence")


def render(decision: Decision, *, color: bool = False, width: int = 120) -> str:
    if not color:
        from . import text_plain

        rows = []
        for result in decision.sorted_results():
            message, line, _ = _message_parts(result)
            rows.append(
                (
                    result.result.value.upper(),
                    result.rule_id,
                    result.severity.value,
                    message + line,
                    _evidence(result),
                )
            )
        lines = [
            "".join(piece for piece, _ in _heading(decision)),
            *[text for text, _ in _notes(decision)],
            "".join(piece for piece, _ in _summary_parts(decision)),
            _footer(decision),
        ]
        plain = text_plain.render(lines[0], _HEADERS, rows, lines[1:], width)
        if plain is not None:
            return plain
    return _render_rich(decision, color=color, width=width)


def _render_rich(decision: Decision, *, color: bool, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False, soft_wrap=False
    )
    console.print(Text.assemble(*_heading(decision)))
    table = Table(show_edge=False, pad_edge=False, expand=False, header_style="bold")
    table.add_column(_HEADERS[0], no_wrap=True)
    table.add_column(_HEADERS[1], no_wrap=True)
    table.add_column(_HEADERS[2], no_wrap=True)
    table.add_column(_HEADERS[3], ratio=3)
    table.add_column(_HEADERS[4], ratio=2, style="dim")
    for result in decision.sorted_results():
        table.add_row(
            Text(result.result.value.upper(), style=_STYLE[result.result]),
            Text(result.rule_id),  # user text reaches Rich only as Text: markup is never parsed
            Text(result.severity.value),
            _message(result),
            Text(_evidence(result)),
        )
    console.print(table)
    for line, style in _notes(decision):
        console.print(Text(line, style=style))
    console.print(_summary(decision))
    console.print(Text(_footer(decision), style="dim"))
    return buffer.getvalue()

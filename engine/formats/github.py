"""GitHub Actions workflow commands: one annotation per rule that did not simply pass.

``fail`` and ``error`` are ``::error``, ``warn`` is ``::warning``, ``waived`` is ``::notice``;
each names the spec file (and the line of the waiver or of the section the thresholds come
from) so the annotation lands on the spec in the pull request. Passes and skips go in a
collapsed log group; the last line is the summary. Values are escaped as the Actions runner
expects: ``%``, CR and LF in messages, and also ``:`` and ``,`` in properties.
"""

from __future__ import annotations

from ..decision import Decision, Result, RuleResult
from .common import (
    RESULT_LABEL,
    counts_phrase,
    model_label,
    result_lines,
    spec_path,
    strip_control,
    waiver_note,
)
from .locations import SpecLocations

__all__ = ["escape_data", "escape_property", "render"]

_COMMAND = {
    Result.ERROR: "error",
    Result.FAIL: "error",
    Result.WARN: "warning",
    Result.WAIVED: "notice",
}


def escape_data(value: str) -> str:
    """A workflow command's message: ``%``, CR and LF are percent-encoded."""
    return strip_control(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value: as :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _annotation(result: RuleResult, file: str, locations: SpecLocations) -> str:
    properties = [("file", file)]
    line = locations.line_for(result)
    if line is not None:
        properties.append(("line", str(line)))
    properties.append(("title", result.rule_id))
    heading = f"[{result.severity.value}] {result.title}" if result.title else f"[{result.severity.value}]"
    if result.result is Result.ERROR:
        heading += " (could not be evaluated)"
    lines = [heading, *result_lines(result)]
    note = waiver_note(result)
    if note:
        lines.append(note)
    if result.controls:
        lines.append("Controls: " + ", ".join(result.controls))
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    return f"::{_COMMAND[result.result]} {props}::{escape_data(chr(10).join(lines))}"


def render(decision: Decision, locations: SpecLocations | None = None) -> str:
    locs = locations or SpecLocations()
    file = spec_path(decision)
    out: list[str] = []
    quiet: list[RuleResult] = []
    for result in decision.sorted_results():
        if result.result in _COMMAND:
            out.append(_annotation(result, file, locs))
        else:
            quiet.append(result)
    for error in decision.errors:
        out.append(f"::error file={escape_property(file)},title=govern::{escape_data(error)}")
    if quiet:
        passed = sum(r.result is Result.PASS for r in quiet)
        skipped = len(quiet) - passed
        out.append(f"::group::govern: {passed} passed, {skipped} skipped")
        for result in quiet:
            text = result.title or result.message
            if result.result is Result.SKIP:
                text = f"{text} ({result.message})"
            # never a workflow command: every line starts with the result label
            out.append(f"{RESULT_LABEL[result.result]} {result.rule_id} {escape_data(text)}")
        out.append("::endgroup::")
    out.append(
        escape_data(
            f"govern: {decision.outcome.value.upper()} {model_label(decision)} at stage "
            f"{decision.stage.value}: {counts_phrase(decision)} (decision {decision.decision_id})"
        )
    )
    return "\n".join(out) + "\n"

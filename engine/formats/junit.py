"""JUnit XML: one testcase per rule, one testsuite per Rego package.

The shape CI systems ingest (Jenkins, GitLab, Azure DevOps, CircleCI, the JUnit report actions
on GitHub): ``fail`` is a ``<failure>``, ``error`` an ``<error>``, ``warn`` a pass with its
message in ``<system-out>``, ``waived`` and ``skip`` are ``<skipped message="reason"/>``.
Errors the decision carries outside any rule become a ``<error>`` in a ``govern`` testsuite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from itertools import groupby

from ..decision import Decision, Result, RuleResult
from .common import counts_phrase, model_label, result_lines, spec_path, strip_control, waiver_note

__all__ = ["render"]

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _text(value: str) -> str:
    return strip_control(value)


def _timestamp(decision: Decision) -> str:
    """ISO 8601 without fraction or zone (the Jenkins/Ant XSD form); the decision's is UTC."""
    return decision.timestamp.split(".")[0].rstrip("Z")


def _details(result: RuleResult) -> str:
    lines = [f"{result.rule_id} ({result.severity.value}): {result.title or result.rule}"]
    lines += [f"- {line}" for line in result_lines(result)]
    for violation in result.violations:
        pairs = ", ".join(f"{k}={v}" for k, v in violation.details.items() if k != "id")
        if pairs:
            lines.append(f"  evidence: {pairs}")
    if result.controls:
        lines.append("controls: " + ", ".join(result.controls))
    note = waiver_note(result)
    if note:
        lines.append(note)
    return "\n".join(lines)


def _testcase(parent: ET.Element, result: RuleResult, file: str) -> None:
    name = f"{result.rule_id}: {result.title}" if result.title else result.rule_id
    case = ET.SubElement(
        parent, "testcase", {"name": _text(name), "classname": result.package, "file": file, "time": "0"}
    )
    message = _text(result.message)
    if result.result is Result.FAIL:
        failure = ET.SubElement(case, "failure", {"message": message, "type": result.severity.value})
        failure.text = _text(_details(result))
    elif result.result is Result.ERROR:
        error = ET.SubElement(case, "error", {"message": message, "type": "EvaluationError"})
        error.text = _text(_details(result))
    elif result.result is Result.WAIVED:
        ET.SubElement(case, "skipped", {"message": _text(waiver_note(result) or "waived")})
        out = ET.SubElement(case, "system-out")
        out.text = _text(_details(result))
    elif result.result is Result.SKIP:
        ET.SubElement(case, "skipped", {"message": message})
    elif result.result is Result.WARN:
        out = ET.SubElement(case, "system-out")
        out.text = _text("WARNING " + _details(result))


def _counts(results: Iterable[RuleResult]) -> dict[str, str]:
    items = list(results)
    return {
        "tests": str(len(items)),
        "failures": str(sum(r.result is Result.FAIL for r in items)),
        "errors": str(sum(r.result is Result.ERROR for r in items)),
        "skipped": str(sum(r.result in (Result.SKIP, Result.WAIVED) for r in items)),
        "time": "0",
    }


def _properties(parent: ET.Element, decision: Decision) -> None:
    props = ET.SubElement(parent, "properties")
    values = {
        "govern.decision_id": decision.decision_id,
        "govern.outcome": decision.outcome.value,
        "govern.model": model_label(decision),
        "govern.stage": decision.stage.value,
        "govern.as_of": decision.as_of.isoformat(),
        "govern.policy_digest": decision.policy_digest,
        "govern.evidence_digest": decision.evidence_digest,
        "govern.backend": f"{decision.backend} {decision.backend_version}",
        "govern.engine_version": decision.engine_version,
    }
    for name, value in values.items():
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})


def render(decision: Decision) -> str:
    file = spec_path(decision)
    results = sorted(decision.results, key=lambda r: (r.package, r.rule_id))
    errors = [_text(e) for e in decision.errors]
    suite_name = f"govern {model_label(decision)} {decision.stage.value}"
    totals = _counts(results)
    if errors:
        totals["tests"] = str(int(totals["tests"]) + 1)
        totals["errors"] = str(int(totals["errors"]) + 1)
    root = ET.Element("testsuites", {"name": _text(suite_name), **totals})
    timestamp = _timestamp(decision)
    for index, (package, group) in enumerate(groupby(results, key=lambda r: r.package)):
        members = list(group)
        suite = ET.SubElement(
            root,
            "testsuite",
            {"name": package, **_counts(members), "id": str(index), "timestamp": timestamp, "file": file},
        )
        _properties(suite, decision)
        for result in members:
            _testcase(suite, result, file)
    if errors:
        suite = ET.SubElement(
            root,
            "testsuite",
            {"name": "govern", "tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0"},
        )
        _properties(suite, decision)
        case = ET.SubElement(suite, "testcase", {"name": "decision", "classname": "govern", "time": "0"})
        error = ET.SubElement(case, "error", {"message": errors[0], "type": "EvaluationError"})
        error.text = "\n".join(errors)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    summary = _text(f"{decision.outcome.value.upper()} {model_label(decision)}: {counts_phrase(decision)}")
    return f"{_DECLARATION}<!-- govern check: {_comment(summary)} -->\n{body}\n"


def _comment(text: str) -> str:
    """Text safe inside an XML comment (no ``--``, no trailing ``-``)."""
    return text.replace("--", "- -").rstrip("-")

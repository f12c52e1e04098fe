"""SARIF 2.1.0: for GitHub code scanning and any SARIF viewer.

Every rule the decision evaluated is a ``reportingDescriptor`` (id, title, description, help
with its controls, and a default level: ``error`` for deny rules, ``warning`` for warn rules,
``note`` for severity ``info``). Every violation of a failed, warned, waived or errored rule is a
result located at the spec file: on the line of its waiver when it has one, else on the line of
the spec section its thresholds come from. A waived result carries an accepted suppression with
the waiver's approver, expiry and reason. Passes and skips are not results: a SARIF result is a
finding, and the driver's rule list already names every rule evaluated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any

from ..decision import Decision, Result, RuleResult
from ..policyset import Severity
from .common import counts_phrase, model_label, spec_path, strip_control
from .locations import SpecLocations

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "render"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_REPORTED = (Result.ERROR, Result.FAIL, Result.WARN, Result.WAIVED)


def _text(value: str) -> str:
    return strip_control(value)


def _default_level(result: RuleResult) -> str:
    if result.severity is Severity.INFO:
        return "note"
    if result.rule.startswith("warn"):
        return "warning"
    return "error"


def _level(result: RuleResult) -> str:
    if result.result is Result.ERROR:
        return "error"
    if result.result is Result.WARN:
        return "note" if result.severity is Severity.INFO else "warning"
    return _default_level(result)


def _help(result: RuleResult) -> dict[str, str]:
    about = result.description or result.title or result.rule_id
    controls = ", ".join(result.controls) if result.controls else "none"
    text = f"{about}\n\nPackage: {result.package} ({result.rule})\nSeverity: {result.severity.value}\n"
    text += f"Controls: {controls}"
    markdown = (
        f"{about}\n\n| | |\n|---|---|\n| Package | `{result.package}` (`{result.rule}`) |\n"
        f"| Severity | {result.severity.value} |\n| Controls | {controls} |"
    )
    return {"text": _text(text), "markdown": _text(markdown)}


def _descriptor(result: RuleResult) -> dict[str, Any]:
    title = result.title or f"{result.rule} in {result.package}"
    return {
        "id": result.rule_id,
        "name": result.rule,
        "shortDescription": {"text": _text(title)},
        "fullDescription": {"text": _text(result.description or title)},
        "help": _help(result),
        "defaultConfiguration": {"level": _default_level(result)},
        "properties": {
            "tags": ["governance", result.package, *result.controls],
            "severity": result.severity.value,
            "controls": list(result.controls),
            "package": result.package,
            "precision": "very-high",
        },
    }


def _artifact(path: str) -> dict[str, str]:
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return {"uri": pure.as_uri()}
    return {"uri": path, "uriBaseId": "%SRCROOT%"}


def _location(path: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(path)}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _results_for(
    result: RuleResult, index: int, decision: Decision, path: str, locations: SpecLocations
) -> list[dict[str, Any]]:
    line = locations.line_for(result)
    where = [_location(path, line)]
    logical = [{"name": result.rule, "fullyQualifiedName": f"data.{result.package}.{result.rule}"}]
    where[0]["logicalLocations"] = logical
    messages: list[tuple[str, dict[str, Any]]]
    if result.violations and result.result is not Result.ERROR:
        messages = [
            (violation.message, {k: value for k, value in violation.details.items() if k != "id"})
            for violation in result.violations
        ]
    else:
        prefix = "Rule could not be evaluated: " if result.result is Result.ERROR else ""
        messages = [(prefix + result.message, {})]
    out: list[dict[str, Any]] = []
    model = str(decision.spec.get("name") or "")
    for message, details in messages:
        subject = str(details.get("feature") or details.get("metric") or details.get("name") or "")
        item: dict[str, Any] = {
            "ruleId": result.rule_id,
            "ruleIndex": index,
            "kind": "fail",
            "level": _level(result),
            "message": {"text": _text(message)},
            "locations": where,
            "partialFingerprints": {"governFinding/v1": _fingerprint(model, result.rule_id, subject)},
            "properties": {
                "result": result.result.value,
                "severity": result.severity.value,
                "controls": list(result.controls),
                "evidence": details,
            },
        }
        waiver = result.waiver
        if result.result is Result.WAIVED and waiver is not None:
            suppression: dict[str, Any] = {
                "kind": "inSource",
                "status": "accepted",
                "justification": _text(
                    f"Waived by {waiver.approver} until {waiver.expires.isoformat()}"
                    + (f" ({waiver.ticket})" if waiver.ticket else "")
                    + f": {waiver.reason}"
                ),
                "properties": {
                    "approver": waiver.approver,
                    "expires": waiver.expires.isoformat(),
                    "ticket": waiver.ticket,
                    "days_left": waiver.days_left,
                },
            }
            waiver_line = locations.waiver_line(result.rule_id)
            if waiver_line is not None:
                suppression["location"] = _location(path, waiver_line)
            item["suppressions"] = [suppression]
        elif waiver is not None:
            item["properties"]["waiver"] = waiver.to_dict()
        out.append(item)
    return out


def render(decision: Decision, locations: SpecLocations | None = None) -> str:
    locs = locations or SpecLocations()
    path = spec_path(decision)
    descriptors: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for result in sorted(decision.results, key=lambda r: r.rule_id):
        if result.rule_id not in index:
            index[result.rule_id] = len(descriptors)
            descriptors.append(_descriptor(result))
    results: list[dict[str, Any]] = []
    for result in decision.sorted_results():
        if result.result in _REPORTED:
            results.extend(_results_for(result, index[result.rule_id], decision, path, locs))
    notifications = [{"level": "error", "message": {"text": _text(e)}} for e in decision.errors]
    errored = bool(decision.errors) or any(r.result is Result.ERROR for r in decision.results)
    summary = f"{decision.outcome.value.upper()} {model_label(decision)}: {counts_phrase(decision)}"
    name = decision.spec.get("name") or "model"
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "govern",
                "version": decision.engine_version,
                "semanticVersion": decision.engine_version,
                "rules": descriptors,
            }
        },
        "automationDetails": {"id": f"govern/{name}/{decision.stage.value}/{decision.decision_id}"},
        "invocations": [
            {
                "executionSuccessful": not errored,
                "endTimeUtc": decision.timestamp,
                "toolExecutionNotifications": notifications,
            }
        ],
        "artifacts": [{"location": _artifact(path), "roles": ["analysisTarget"]}],
        "results": results,
        "properties": {
            "summary": _text(summary),
            "decision_id": decision.decision_id,
            "outcome": decision.outcome.value,
            "stage": decision.stage.value,
            "as_of": decision.as_of.isoformat(),
            "model": dict(decision.model),
            "policy_digest": decision.policy_digest,
            "params_digest": decision.params_digest,
            "evidence_digest": decision.evidence_digest,
            "backend": {"name": decision.backend, "version": decision.backend_version},
            "counts": decision.summary.to_dict(),
        },
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"

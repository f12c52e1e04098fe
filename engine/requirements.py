"""What a result means, decided in one place.

A rule's ``# METADATA`` ``custom`` block may say what it needs:

``requires``
    Evidence paths under ``input`` (``explanations``, ``run.datasets``, ``data.reference``) that
    must be present and non-empty for the rule's silence to mean anything.
``skip_without``
    Evidence paths whose absence means the check does not apply (no champion holds the alias:
    a first deployment has nothing to compare against; another rule reports that absence).
``configured_by``
    Settings the check depends on, each ``params.<path>`` (``data.govern.params``) or
    ``spec.<path>`` (the model spec). The check is configured only when every one is set
    (not null, not false, not empty).

A rule that produced nothing is then judged here, not in Rego:

* a setting it depends on is not set → ``skip`` "not configured: …";
* evidence named in ``skip_without`` is absent → ``skip`` "not applicable: …";
* evidence it requires is absent or empty → ``fail`` "evidence missing: … (how to collect it)";
* otherwise → ``pass``.

A rule that produced violations keeps them: a deny is never softened into a skip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .evidence.document import SECTIONS

__all__ = [
    "COLLECT_HINTS",
    "Requirement",
    "Verdict",
    "VerdictKind",
    "is_set",
    "judge_silence",
    "lookup",
    "parse_config_path",
    "parse_evidence_path",
]

#: How each evidence section is collected, for "evidence missing" messages.
COLLECT_HINTS: Mapping[str, str] = {
    "model": "register the model in MLflow and name it under model.registered in the spec, then run "
    "`govern collect`",
    "run": "the model's MLflow run is read by `govern collect`; the spec's model must point at a run",
    "run.datasets": "log the training data with mlflow.log_input(dataset, context='training') in the "
    "training run",
    "run.metrics": "log the metrics with mlflow.log_metric in the training run",
    "run.params": "log the parameters with mlflow.log_param in the training run",
    "run.git_commit": "train from a git checkout so MLflow records mlflow.source.git.commit",
    "champion": "set requirements.champion in the spec and make its alias point at a model version",
    "fairness": "list fairness.sensitive_features and data.evaluation in the spec, then run `govern collect`",
    "explanations": "add an explainability section to the spec, then run `govern collect`",
    "data": "give data.evaluation in the spec, then run `govern collect`",
    "data.reference": "give data.reference in the spec (the data the model was trained on), then run "
    "`govern collect`",
    "data.drift": "give data.reference in the spec so drift can be measured, then run `govern collect`",
    "live": "run `govern collect --stage rollback` with the live metrics of the serving model",
}

#: What a rule may require: an evidence section (from the pack manifest), the spec or the stage.
_SECTIONS = (*SECTIONS, "spec", "stage")


class VerdictKind(StrEnum):
    NOT_CONFIGURED = "not-configured"
    NOT_APPLICABLE = "not-applicable"
    EVIDENCE_MISSING = "evidence-missing"


@dataclass(frozen=True)
class Verdict:
    """Why a silent rule is not a pass."""

    kind: VerdictKind
    message: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Requirement:
    """What a rule needs: evidence paths under ``input`` and the settings that configure it."""

    evidence: tuple[str, ...] = ()
    configured_by: tuple[str, ...] = ()
    skip_without: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.evidence or self.configured_by or self.skip_without)


def parse_evidence_path(text: Any) -> str | None:
    """A dotted path under ``input`` whose first part is an evidence section; None when invalid."""
    if not isinstance(text, str):
        return None
    path = text.removeprefix("input.")
    parts = path.split(".")
    if not path or any(not p.isidentifier() for p in parts) or parts[0] not in _SECTIONS:
        return None
    return path


def parse_config_path(text: Any) -> str | None:
    """``params.<path>`` or ``spec.<path>``; None when invalid."""
    if not isinstance(text, str):
        return None
    path = text.removeprefix("data.govern.").removeprefix("input.")
    parts = path.split(".")
    if len(parts) < 2 or parts[0] not in ("params", "spec") or any(not p.isidentifier() for p in parts):
        return None
    return path


def lookup(document: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in nested mappings, or None when any step is missing."""
    node = document
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def is_set(value: Any) -> bool:
    """Present and meaningful: not null, not false, not an empty string, list or mapping."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return True


def _hint(path: str) -> str:
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        hint = COLLECT_HINTS.get(".".join(parts[:n]))
        if hint:
            return hint
    return "run `govern collect` with a spec that asks for it"


def judge_silence(
    requirement: Requirement, input_doc: Mapping[str, Any], params: Mapping[str, Any]
) -> Verdict | None:
    """Why a rule that produced nothing is not a pass, or None when its silence is a pass."""
    unset = []
    for path in requirement.configured_by:
        root, _, rest = path.partition(".")
        base: Any = params if root == "params" else input_doc.get("spec")
        if not is_set(lookup(base, rest.split("."))):
            unset.append(path)
    if unset:
        return Verdict(
            VerdictKind.NOT_CONFIGURED,
            "not configured: " + ", ".join(unset) + (" is" if len(unset) == 1 else " are") + " not set",
            tuple(unset),
        )
    reasons = input_doc.get("missing")
    if not isinstance(reasons, Mapping):
        reasons = {}

    def why(path: str) -> str | None:
        reason = reasons.get(path) or reasons.get(path.split(".", maxsplit=1)[0])
        return reason if isinstance(reason, str) and reason.strip() else None

    without = [p for p in requirement.skip_without if not is_set(lookup(input_doc, p.split(".")))]
    if without:
        notes = [f"{p} is absent" + (f" ({why(p)})" if why(p) else "") for p in without]
        return Verdict(VerdictKind.NOT_APPLICABLE, "not applicable: " + "; ".join(notes), tuple(without))
    absent = [p for p in requirement.evidence if not is_set(lookup(input_doc, p.split(".")))]
    if not absent:
        return None
    parts = []
    for path in absent:
        reason = why(path)
        parts.append(f"{path} ({reason + '; ' if reason else ''}{_hint(path)})")
    return Verdict(VerdictKind.EVIDENCE_MISSING, "evidence missing: " + "; ".join(parts), tuple(absent))


def _param_leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for key, child in value.items():
            out.extend(_param_leaves(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, value)]


def threshold_source(
    requirement: Requirement,
    details: Mapping[str, Any],
    params: Mapping[str, Any],
    sources: Mapping[str, str],
) -> str | None:
    """Where the threshold a violation names came from ("the default for risk tier high", a spec
    line, ``--param``): the parameter under the rule's ``configured_by`` that holds that value,
    preferring one that names the violation's metric. None when it cannot be told."""
    threshold = details.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        return None
    candidates: list[str] = []
    for configured in requirement.configured_by:
        root, _, rest = configured.partition(".")
        if root != "params":
            continue
        for path, value in _param_leaves(lookup(params, rest.split(".")), rest):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == threshold:
                candidates.append(path)
    metric = details.get("metric")
    named = [c for c in candidates if isinstance(metric, str) and f".{metric}." in f".{c}."]
    for path in named or candidates:
        if path in sources:
            shown = f"{threshold:.12f}".rstrip("0").rstrip(".") if isinstance(threshold, float) else threshold
            return f"threshold {shown} from {sources[path]}"
    return None

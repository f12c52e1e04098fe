"""The orchestration: spec + evidence + stage → policies → decision.

:class:`Checker` holds one loaded policy set (compiled once per process and per parameter set)
and turns evidence documents into :class:`~govern.engine.decision.Decision` values. It fails
closed: an engine error becomes an ``error`` result, never a pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import __version__
from .backends import UNDEFINED, Backend, PackageValues
from .decision import Decision, Result, RuleResult, Violation
from .errors import BackendError, EvidenceError, Location
from .evidence.document import EvidenceDocument, canonical_digest
from .params import build_params
from .policyset import PolicySet, RuleKind, RuleMeta
from .spec import ModelSpec, Stage
from .waivers import apply_waivers

__all__ = ["Checker", "rule_results"]

_MESSAGE_KEYS = ("msg", "message")


def _violations(value: Any, rule: RuleMeta) -> list[Violation]:
    """Normalize a rule's value (set, object, bool, string) to its violations."""
    if value is UNDEFINED or value is None or value is False:
        return []
    if isinstance(value, dict) and not any(k in value for k in _MESSAGE_KEYS):
        items: list[Any] = list(value.values())  # a partial object rule: deny[key] := {...}
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    out: list[Violation] = []
    fallback = rule.title or f"{rule.name} in {rule.package}"
    for item in items:
        if item is False or item is None:
            continue
        if isinstance(item, dict):
            message = next((str(item[k]) for k in _MESSAGE_KEYS if k in item), fallback)
            details = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
            out.append(Violation(message, details))
        elif isinstance(item, str):
            out.append(Violation(item))
        else:
            out.append(Violation(fallback, {"value": item}))
    return out


def _result(
    rule: RuleMeta, result: Result, message: str, violations: tuple[Violation, ...] = ()
) -> RuleResult:
    return RuleResult(
        rule_id=rule.id,
        package=rule.package,
        rule=rule.name,
        result=result,
        severity=rule.severity,
        message=message,
        controls=rule.controls,
        title=rule.title,
        description=rule.description,
        violations=violations,
    )


def _result_for(rule: RuleMeta, violations: list[Violation]) -> RuleResult:
    if not violations:
        return _result(rule, Result.PASS, rule.title or "no violation")
    if all(v.details.get("skip") is True for v in violations):
        # the rule declined to judge and said why (e.g. too few live samples): a skip, never a pass
        return _result(rule, Result.SKIP, violations[0].message)
    kind = Result.WARN if rule.kind is RuleKind.WARN else Result.FAIL
    message = violations[0].message
    if len(violations) > 1:
        message += f" (and {len(violations) - 1} more)"
    return _result(rule, kind, message, tuple(violations))


def _skipped(rule: RuleMeta, stage: Stage) -> RuleResult:
    stages = ", ".join(sorted(s.value for s in rule.stages))
    return _result(rule, Result.SKIP, f"applies at {stages}, not at {stage.value}")


def _errored(rule: RuleMeta, message: str) -> RuleResult:
    return _result(rule, Result.ERROR, message)


def rule_results(rules: Iterable[RuleMeta], values: PackageValues, stage: Stage) -> list[RuleResult]:
    """One result per rule from raw package values.

    A rule whose result objects carry an ``id`` other than its own is split: each such id
    becomes its own result (for policies that put many checks in one ``deny`` rule).
    """
    out: list[RuleResult] = []
    for rule in rules:
        if stage not in rule.stages:
            out.append(_skipped(rule, stage))
            continue
        value = values.get(rule.package, {}).get(rule.name, UNDEFINED)
        violations = _violations(value, rule)
        by_id: dict[str, list[Violation]] = {}
        own: list[Violation] = []
        for violation in violations:
            other = violation.details.get("id")
            if isinstance(other, str) and other != rule.id:
                by_id.setdefault(other, []).append(violation)
            else:
                own.append(violation)
        out.append(_result_for(rule, own))
        for other_id, items in sorted(by_id.items()):
            virtual = RuleMeta(
                id=other_id,
                package=rule.package,
                name=rule.name,
                kind=rule.kind,
                severity=rule.severity,
                stages=rule.stages,
                controls=rule.controls,
                title=None,
                description=None,
                file=rule.file,
                line=rule.line,
                annotated=False,
            )
            out.append(_result_for(virtual, items))
    return out


@dataclass(frozen=True)
class PreparedInput:
    value: dict[str, Any]
    digest: str


class Checker:
    """A spec's policy set loaded into a backend, ready to decide on evidence."""

    def __init__(
        self, spec: ModelSpec, policy_set: PolicySet, backend: Backend, params: Mapping[str, Any]
    ) -> None:
        self.spec = spec
        self.policy_set = policy_set
        self.backend = backend
        self.params = dict(params)
        self.params_digest = canonical_digest(self.params)
        self._packages = policy_set.packages
        backend.load(policy_set, {"govern": {"params": self.params}})

    @classmethod
    def for_spec(
        cls,
        spec: ModelSpec,
        policy_set: PolicySet,
        backend: Backend,
        param_overrides: list[dict[str, Any]] | None = None,
    ) -> Checker:
        return cls(spec, policy_set, backend, build_params(spec, param_overrides))

    def prepare_input(self, evidence: EvidenceDocument, stage: Stage | None) -> PreparedInput:
        """The Rego input: the evidence with this spec and the stage asked for."""
        collected_for = evidence.model_name
        if collected_for is not None and collected_for != self.spec.name:
            raise EvidenceError(
                f"this evidence was collected for model '{collected_for}', but the spec describes "
                f"'{self.spec.name}'",
                Location(evidence.source, None, "spec.metadata.name"),
            )
        value = dict(evidence.value)
        value["spec"] = self.spec.data
        if stage is not None:
            value["stage"] = stage.value
        if evidence.sha256:
            # The input is the evidence as read, with this spec and this stage: digest those three.
            basis = f"{evidence.sha256}\0{self.spec.sha256}\0{value['stage']}".encode()
            digest = "sha256:" + hashlib.sha256(basis).hexdigest()
        else:
            digest = canonical_digest(value)
        return PreparedInput(value=value, digest=digest)

    def _evaluate(self, value: Mapping[str, Any], stage: Stage) -> tuple[list[RuleResult], list[str]]:
        try:
            values = self.backend.evaluate(value, self._packages)
        except BackendError as exc:
            return self._evaluate_each(value, stage, str(exc))
        return rule_results(self.policy_set.rules, values, stage), []

    def _evaluate_each(
        self, value: Mapping[str, Any], stage: Stage, first: str
    ) -> tuple[list[RuleResult], list[str]]:
        """After an engine error, evaluate rule by rule to say which rules failed to evaluate."""
        results: list[RuleResult] = []
        errors = [first]
        for rule in self.policy_set.rules:
            if stage not in rule.stages:
                results.append(_skipped(rule, stage))
                continue
            try:
                rule_value = self.backend.evaluate_rule(value, rule.path)
            except BackendError as exc:
                results.append(_errored(rule, str(exc)))
                continue
            results.extend(rule_results([rule], {rule.package: {rule.name: rule_value}}, stage))
        if not any(r.result is Result.ERROR for r in results):
            errors.append("the error did not recur rule by rule; the decision is an error all the same")
        return results, errors

    def decide(
        self, evidence: EvidenceDocument, stage: Stage | None = None, today: dt.date | None = None
    ) -> Decision:
        prepared = self.prepare_input(evidence, stage)
        effective = Stage(prepared.value["stage"])
        as_of = today or dt.date.today()
        results, errors = self._evaluate(prepared.value, effective)
        results, uses = apply_waivers(results, self.spec.waivers, effective, as_of)
        return Decision(
            decision_id=str(uuid.uuid4()),
            timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            spec={"name": self.spec.name, "path": self.spec.source, "sha256": self.spec.sha256},
            model=self._model_ref(prepared.value),
            stage=effective,
            results=tuple(results),
            policy_digest=self.policy_set.digest,
            params_digest=self.params_digest,
            evidence_digest=prepared.digest,
            backend=self.backend.name,
            backend_version=self.backend.version(),
            engine_version=__version__,
            as_of=as_of,
            waivers=tuple(uses),
            errors=tuple(errors),
        )

    def _model_ref(self, value: Mapping[str, Any]) -> dict[str, Any]:
        ref = self.spec.model_ref
        model = value.get("model") or {}
        run = value.get("run") or {}
        version = model.get("version") or (ref["version"] if not model else None)
        aliases = model.get("aliases") or []
        # the spec's alias names this model only if the judged version holds it (not a new run)
        alias = ref["alias"] if (not model or ref["alias"] in aliases) else None
        return {
            "name": model.get("name") or ref["name"],
            "version": version,
            "alias": alias,
            "run_id": run.get("id") or model.get("run_id") or ref["run_id"],
        }

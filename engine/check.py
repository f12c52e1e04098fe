"""The orchestration: spec + evidence + stage → policies → decision.

:class:`Checker` holds one loaded policy set (compiled once per process and per parameter set)
and turns evidence documents into :class:`~govern.engine.decision.Decision` values. It fails
closed: an engine error becomes an ``error`` result, never a pass.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from . import __version__
from .backends import UNDEFINED, Backend, PackageValues
from .capabilities import check_builtins
from .decision import Decision, Result, RuleResult, Violation
from .digests import input_digest
from .errors import BackendError, ConfigError, EvidenceError, Location
from .evidence.document import EvidenceDocument, canonical_digest
from .params import build_params, param_sources
from .policyset import PolicySet, RuleKind, RuleMeta
from .rego_numbers import engine_data, formats_numbers, integral_floats_as_integers, rego_json
from .requirements import VerdictKind, judge_silence, threshold_source
from .spec import ModelSpec, Stage
from .typecheck import check_policy_set
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


@lru_cache(maxsize=4096)
def _passed(rule: RuleMeta) -> RuleResult:
    """A rule's pass: the same (immutable) result for every decision."""
    return _result(rule, Result.PASS, rule.title or "no violation")


def _result_for(rule: RuleMeta, violations: list[Violation]) -> RuleResult:
    if not violations:
        return _passed(rule)
    if all(v.details.get("skip") is True for v in violations):
        # the rule declined to judge and said why (e.g. too few live samples): a skip, never a pass
        return _result(rule, Result.SKIP, violations[0].message)
    kind = Result.WARN if rule.kind is RuleKind.WARN else Result.FAIL
    message = violations[0].message
    if len(violations) > 1:
        message += f" (and {len(violations) - 1} more)"
    return _result(rule, kind, message, tuple(violations))


@lru_cache(maxsize=4096)
def _skipped(rule: RuleMeta, stage: Stage) -> RuleResult:
    """A rule skipped at a stage it does not apply at: the same result for every decision."""
    stages = ", ".join(sorted(s.value for s in rule.stages))
    return _result(rule, Result.SKIP, f"applies at {stages}, not at {stage.value}")


def _errored(rule: RuleMeta, message: str) -> RuleResult:
    return _result(rule, Result.ERROR, message)


def _judged(
    rule: RuleMeta, own: list[Violation], judge: _Judge | None, sources: Mapping[str, str] | None = None
) -> RuleResult:
    """A silent rule is a pass only when it is configured and its evidence is there; a failure
    names where its threshold came from."""
    if own and judge is not None and sources:
        noted = []
        for violation in own:
            note = threshold_source(rule.requires, violation.details, judge[1], sources)
            noted.append(replace(violation, message=f"{violation.message} ({note})") if note else violation)
        return _result_for(rule, noted)
    if own or judge is None or not rule.requires:
        return _result_for(rule, own)
    verdict = judge_silence(rule.requires, judge[0], judge[1])
    if verdict is None:
        return _result_for(rule, own)
    if verdict.kind is not VerdictKind.EVIDENCE_MISSING:
        return _result(rule, Result.SKIP, verdict.message)
    missing = Violation(verdict.message, {"evidence_missing": list(verdict.paths)})
    return _result(rule, Result.FAIL, verdict.message, (missing,))


_Judge = tuple[Mapping[str, Any], Mapping[str, Any]]


def rule_results(
    rules: Iterable[RuleMeta],
    values: PackageValues,
    stage: Stage,
    *,
    input_doc: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[RuleResult]:
    """One result per rule from raw package values.

    A rule whose result objects carry an ``id`` other than its own is split: each such id
    becomes its own result (for policies that put many checks in one ``deny`` rule).
    Given the input and the params, a rule that found nothing is judged by its
    ``custom.requires`` / ``custom.configured_by`` (see :mod:`govern.engine.requirements`).
    """
    judge: _Judge | None = (input_doc, params or {}) if input_doc is not None else None
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
        out.append(_judged(rule, own, judge, sources))
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
    """The Rego input of one decision, its digest, and its JSON text (serialized once)."""

    value: dict[str, Any]
    digest: str
    json: str = field(default="", repr=False, compare=False)


def _input_json(evidence: EvidenceDocument, value: Mapping[str, Any], spec_json: str) -> str:
    """``value`` (the evidence with the spec and stage set) as JSON text.

    When the evidence came with its own ``json.dumps`` text, that text is reused and the spec
    and stage are appended after it: a key given twice in a JSON object counts once, with its
    last value, so the engine reads exactly ``value`` without the evidence being serialized
    again. Otherwise the value is serialized once here.
    """
    text = evidence.text
    if text and text.endswith("}") and evidence.value and "stage" in value:
        stage = json.dumps(value["stage"])
        return f'{text[:-1]}, "spec": {spec_json}, "stage": {stage}}}'
    return json.dumps(value)


def _uuid4() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` writes it, without importing
    ``uuid`` (which imports ``platform``: 2 ms of every cold check)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Checker:
    """A spec's policy set loaded into a backend, ready to decide on evidence."""

    def __init__(
        self,
        spec: ModelSpec,
        policy_set: PolicySet,
        backend: Backend,
        params: Mapping[str, Any],
        *,
        allow_empty: bool = False,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.sources = dict(sources or {})
        self.policy_set = policy_set
        self.backend = backend
        self.params = dict(params)
        self.params_digest = canonical_digest(self.params)
        self.allow_empty = allow_empty
        self._packages = policy_set.packages
        self._spec_json = json.dumps(spec.data)
        allowed = list(spec.allow_builtins)
        check_builtins(policy_set.modules, allowed, backend=backend.name, include_builtin=False)
        self.references_checked = check_policy_set(policy_set, include_builtin=False)
        # where a team's policy formats numbers, both engines read integral floats as integers
        # (govern.engine.rego_numbers): the one place where 1.0 and 1 can read differently
        self._integral = formats_numbers(policy_set)
        backend.load(policy_set, engine_data(policy_set, {"govern": {"params": self.params}}))

    @classmethod
    def for_spec(
        cls,
        spec: ModelSpec,
        policy_set: PolicySet,
        backend: Backend,
        param_overrides: list[dict[str, Any]] | None = None,
        *,
        allow_empty: bool = False,
    ) -> Checker:
        params = build_params(spec, param_overrides)
        sources = param_sources(spec, param_overrides)
        return cls(spec, policy_set, backend, params, allow_empty=allow_empty, sources=sources)

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
        collected_at = value.get("stage")
        if stage is not None and collected_at is not None and collected_at != stage.value:
            raise EvidenceError(
                f"this evidence was collected for stage '{collected_at}', but the decision is for "
                f"stage '{stage.value}'; collect evidence for '{stage.value}' (govern collect --stage "
                f"{stage.value})",
                Location(evidence.source, None, "stage"),
            )
        if stage is not None:
            value["stage"] = stage.value
        return PreparedInput(
            value=value,
            digest=input_digest(evidence, self.spec, value["stage"]),
            json=_input_json(evidence, value, self._spec_json),
        )

    def _evaluate(
        self, value: Mapping[str, Any], stage: Stage, text: str = ""
    ) -> tuple[list[RuleResult], list[str]]:
        engine_value = integral_floats_as_integers(value) if self._integral else value
        try:
            if text:
                engine_text = rego_json(text) if self._integral else text
                values = self.backend.evaluate_json(engine_text, stage.value, self._packages, engine_value)
            else:
                values = self.backend.evaluate(engine_value, self._packages)
        except BackendError as exc:
            return self._evaluate_each(value, stage, str(exc))
        rules = self.policy_set.rules
        judged = rule_results(rules, values, stage, input_doc=value, params=self.params, sources=self.sources)
        return judged, []

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
                engine_value = integral_floats_as_integers(value) if self._integral else value
                rule_value = self.backend.evaluate_rule(engine_value, rule.path)
            except BackendError as exc:
                results.append(_errored(rule, str(exc)))
                continue
            one = {rule.package: {rule.name: rule_value}}
            results.extend(
                rule_results([rule], one, stage, input_doc=value, params=self.params, sources=self.sources)
            )
        if not any(r.result is Result.ERROR for r in results):
            errors.append("the error did not recur rule by rule; the decision is an error all the same")
        return results, errors

    def decide(
        self, evidence: EvidenceDocument, stage: Stage | None = None, today: dt.date | None = None
    ) -> Decision:
        prepared = self.prepare_input(evidence, stage)
        effective = Stage(prepared.value["stage"])
        if not self.allow_empty and not any(effective in rule.stages for rule in self.policy_set.rules):
            raise ConfigError(
                f"the policy set has no deny or warn rule that applies at stage {effective.value}, so "
                "nothing would be checked",
                hint="add policies, or pass --allow-empty if an empty decision is intended",
            )
        as_of = today or dt.date.today()
        results, errors = self._evaluate(prepared.value, effective, prepared.json)
        results, uses = apply_waivers(results, self.spec.waivers, effective, as_of)
        return Decision(
            decision_id=_uuid4(),
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

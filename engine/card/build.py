"""Build a :class:`~govern.engine.card.model.ModelCard` from a spec, evidence and a decision.

Pure: it reads the normalized spec, the evidence (an :class:`EvidenceDocument`), the decision
document (``Decision.to_dict()``, or a saved ``govern check --format json``) and the effective
policy parameters, and returns typed values. Every evidence section that is ``null`` says why
(``evidence.missing``); no evidence at all, or no decision, is said too.

The card never judges: every status it shows is a rule result of the decision. A value the card
shows (a metric, a fairness summary, a drift statistic, a feature's attribution) takes the
results of the rules whose violation objects name it (:func:`verdicts_for`); a value no violation
names has no finding. Evidence and decision must belong together: their digests are compared with
the engine's own :func:`~govern.engine.check.input_digest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..decision import RESULT_ORDER, Result
from ..digests import input_digest
from ..errors import ConfigError
from ..evidence.document import EvidenceDocument
from ..spec import ModelSpec
from .model import (
    ChampionComparison,
    ControlRow,
    ControlRule,
    ControlStatus,
    Counts,
    DataSection,
    DatasetProfile,
    DatasetRef,
    DriftRow,
    EthicalConsiderations,
    FactorGroups,
    Factors,
    FairnessSummary,
    FeatureAnalysis,
    FeatureImportance,
    Governance,
    GroupMetric,
    GroupValue,
    Importance,
    IntendedUse,
    MetricRow,
    Metrics,
    ModelCard,
    ModelDetails,
    Note,
    Param,
    QuantitativeAnalyses,
    RuleRow,
    RuleState,
    Status,
    Verdict,
    WaiverRow,
)

__all__ = [
    "EVIDENCE_MISSING",
    "NOT_CONFIGURED",
    "NO_DECISION",
    "NO_EVIDENCE",
    "build_card",
    "check_digests",
    "rule_state",
    "verdicts_for",
]

NO_EVIDENCE = "no evidence document was given (pass --evidence FILE)"
NO_DECISION = "no decision was given or computed (pass --evidence FILE to decide, or --decision FILE)"
#: Message prefixes that give a failure or a skip its meaning (see "What a result means").
EVIDENCE_MISSING = "evidence missing:"
NOT_CONFIGURED = "not configured:"

_TIER_NOTES = {
    "minimal": (
        "Risk tier minimal (EU AI Act): no specific obligations; govern applies its default thresholds."
    ),
    "limited": (
        "Risk tier limited (EU AI Act): transparency obligations apply; people affected should know "
        "an AI system is involved."
    ),
    "high": (
        "Risk tier high (EU AI Act): risk management, data governance, technical documentation, "
        "record-keeping, transparency, human oversight and accuracy obligations apply (Art. 9-15); "
        "govern tightens its fairness thresholds and requires explanations and lineage."
    ),
    "unacceptable": (
        "Risk tier unacceptable (EU AI Act Art. 5): a prohibited practice; govern never passes such a model."
    ),
}
_ATTENTION = {Result.FAIL.value, Result.WARN.value, Result.WAIVED.value, Result.ERROR.value}


# --------------------------------------------------------------------------- small readers


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in _list(value))


def _reason(evidence: Mapping[str, Any] | None, section: str) -> str | None:
    """None when the section is there; else why it is not."""
    if evidence is None:
        return NO_EVIDENCE
    if isinstance(evidence.get(section), dict):
        return None
    why = _obj(evidence.get("missing")).get(section)
    return str(why) if why else f"the evidence has no {section} section"


def _same(found: Any, wanted: Any) -> bool:
    if wanted is None:
        return found is None
    if isinstance(wanted, float):
        return _num(found) == wanted
    return isinstance(found, str) and found == wanted


def verdicts_for(rules: list[dict[str, Any]], **subject: Any) -> tuple[Verdict, ...]:
    """The violation objects of ``rules`` whose fields equal every ``subject`` field, as verdicts.

    ``verdicts_for(rules, metric="accuracy", value=0.86)``: what the decision said about the
    logged accuracy of 0.86. A subject value of ``None`` matches a field that is null or absent.
    """
    out: list[Verdict] = []
    for rule in rules:
        for raw in _list(rule.get("violations")):
            violation = _obj(raw)
            if all(_same(violation.get(key), wanted) for key, wanted in subject.items()):
                out.append(
                    Verdict(
                        rule_id=str(rule.get("rule_id")),
                        result=str(rule.get("result")),
                        message=str(violation.get("msg", rule.get("message", ""))),
                        value=_num(violation.get("value")),
                        threshold=_num(violation.get("threshold")),
                    )
                )
    return tuple(sorted(out, key=lambda v: (_urgency(v.result), v.rule_id, v.message)))


def _status(verdicts: tuple[Verdict, ...]) -> Status:
    """The most urgent result among the verdicts; an unknown result is an error (fail closed)."""
    if not verdicts:
        return Status.NO_FINDING
    worst = min((v.result for v in verdicts), key=_urgency)
    try:
        return Status(worst)
    except ValueError:
        return Status.ERROR


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


# --------------------------------------------------------------------------- sections


def _details(
    spec: ModelSpec, ev: Mapping[str, Any] | None, decision: Mapping[str, Any] | None
) -> ModelDetails:
    meta = spec.metadata
    registered = spec.model.registered
    model = _obj(ev.get("model")) if ev else {}
    run = _obj(ev.get("run")) if ev else {}
    decided = _obj(decision.get("model")) if decision else {}
    tags = _obj(run.get("tags"))
    reasons = [r for r in (_reason(ev, "model"), _reason(ev, "run")) if r]
    missing = None
    if reasons:
        missing = reasons[0] if ev is None else "; ".join(dict.fromkeys(reasons))
    return ModelDetails(
        name=spec.name,
        version=_str(model.get("version") or decided.get("version") or (registered and registered.version))
        or meta.version,
        alias=_str((registered and registered.alias) or decided.get("alias")),
        owner=meta.owner,
        contact=meta.contact,
        model_type=meta.model_type,
        licence=meta.licence,
        risk_tier=meta.risk_tier.value,
        description=" ".join(meta.description.split()),
        flavor=_str(model.get("flavor")),
        run_id=_str(run.get("id") or model.get("run_id") or decided.get("run_id")),
        source=_str(model.get("source")),
        git_commit=_str(run.get("git_commit") or tags.get("mlflow.source.git.commit")),
        created_at=_str(model.get("created_at")),
        trained_at=_str(run.get("start_time")),
        evidence_collected_at=_str(_obj(ev.get("provenance")).get("collected_at")) if ev else None,
        parameters=tuple(Param(str(k), str(v)) for k, v in sorted(_obj(run.get("params")).items())),
        missing=missing,
        quarantined=_quarantine(_obj(model.get("tags"))),
    )


def _quarantine(tags: Mapping[str, Any]) -> str | None:
    """``by rollback decision <id> (<rules>)`` when a rollback quarantined this version."""
    decision = _str(tags.get("govern.quarantine.decision_id"))
    if not decision or not decision.strip():
        return None
    reason = _str(tags.get("govern.quarantine.reason"))
    return f"by rollback decision {decision}" + (f" ({reason})" if reason else "")


def _intended_use(spec: ModelSpec) -> IntendedUse:
    use = spec.intended_use
    return IntendedUse(
        primary_uses=use.primary_uses,
        primary_users=use.primary_users,
        out_of_scope=use.out_of_scope,
    )


def _sensitive(spec: ModelSpec) -> tuple[str, ...]:
    return spec.fairness.sensitive_features if spec.fairness is not None else ()


def _fairness_features(spec: ModelSpec, ev: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """Evidence per feature: declared sensitive features first, then any other (intersections)."""
    features = _obj(_obj(ev.get("fairness")).get("features")) if ev else {}
    declared = [f for f in _sensitive(spec) if f in features]
    others = sorted(f for f in features if f not in declared)
    return [(f, _obj(features[f])) for f in (*declared, *others)]


def _sizes(feature: Mapping[str, Any]) -> tuple[GroupValue, ...]:
    sizes = _obj(feature.get("group_sizes"))
    ordered = sorted(sizes.items(), key=lambda kv: (-(_num(kv[1]) or 0), kv[0]))
    return tuple(GroupValue(str(g), _num(n)) for g, n in ordered)


def _factors(spec: ModelSpec, ev: Mapping[str, Any] | None, params: Mapping[str, Any]) -> Factors:
    sensitive = _sensitive(spec)
    missing = (
        "the spec declares no sensitive features (fairness.sensitive_features)"
        if not sensitive
        else _reason(ev, "fairness")
    )
    groups = tuple(
        FactorGroups(feature=name, groups=_sizes(f), small_groups=_strings(f.get("small_groups")))
        for name, f in _fairness_features(spec, ev)
    )
    min_size = _obj(params.get("fairness")).get("min_group_size")
    return Factors(
        sensitive_features=sensitive,
        intersections=tuple("&".join(i) for i in (spec.fairness.intersections if spec.fairness else ())),
        prohibited_features=spec.explainability.prohibited_features if spec.explainability else (),
        groups=groups,
        min_group_size=min_size if isinstance(min_size, int) and not isinstance(min_size, bool) else None,
        missing=missing,
    )


def _metrics(ev: Mapping[str, Any] | None, params: Mapping[str, Any], rules: list[dict[str, Any]]) -> Metrics:
    run = _obj(ev.get("run")) if ev else {}
    champ = _obj(ev.get("champion")) if ev else {}
    values = _obj(run.get("metrics"))
    best = _obj(champ.get("metrics"))
    rows = []
    for name, raw in values.items():
        value = _num(raw)
        verdicts = verdicts_for(rules, metric=str(name), value=value)
        rows.append(MetricRow(str(name), value, _num(best.get(name)), _status(verdicts), verdicts))
    comparison = None
    wanted = params.get("champion")
    if isinstance(wanted, dict) and wanted.get("metric"):
        metric = str(wanted["metric"])
        alias = str(wanted.get("alias") or "champion")
        verdicts = verdicts_for(rules, metric=metric, alias=alias)
        comparison = ChampionComparison(
            alias=alias,
            version=_str(champ.get("version")),
            metric=metric,
            value=_num(values.get(metric)),
            champion=_num(best.get(metric)),
            status=_status(verdicts),
            verdicts=verdicts,
        )
    missing = _reason(ev, "run")
    if missing is None and comparison is not None and not champ:
        missing = f"champion: {_reason(ev, 'champion')}"
    return Metrics(rows=tuple(rows), champion=comparison, missing=missing)


def _declared(spec: ModelSpec, role: str) -> DatasetRef | None:
    declared = spec.datasets.get(role)
    if declared is None:
        return None
    raw = declared.raw
    return DatasetRef(
        role=role,
        name=None,
        path=_str(raw.get("path") or raw.get("uri")),
        format=_str(raw.get("format")),
        target=_str(raw.get("target")),
        digest=None,
    )


def _logged(ev: Mapping[str, Any] | None, context: str) -> tuple[DatasetRef, ...]:
    run = _obj(ev.get("run")) if ev else {}
    return tuple(
        DatasetRef(
            role=context,
            name=_str(d.get("name")),
            path=_str(d.get("source")),
            format=None,
            target=None,
            digest=_str(d.get("digest")),
        )
        for d in (_obj(x) for x in _list(run.get("datasets")))
        if d.get("context") == context
    )


def _profile(raw: Any) -> DatasetProfile | None:
    profile = _obj(raw)
    if not profile:
        return None
    columns = _obj(profile.get("columns"))
    shares = [_num(_obj(c).get("null_share")) or 0.0 for c in columns.values()]
    return DatasetProfile(
        name=_str(profile.get("name")),
        rows=int(profile.get("rows") or 0),
        columns=len(columns),
        max_null_share=max(shares, default=0.0),
        column_names=tuple(str(c) for c in columns),
    )


def _training(spec: ModelSpec, ev: Mapping[str, Any] | None) -> DataSection:
    declared = _declared(spec, "training")
    reference = _declared(spec, "reference")
    data = _obj(ev.get("data")) if ev else {}
    same = declared is not None and reference is not None and declared.path == reference.path
    profile = _profile(data.get("reference")) if same else None
    missing = _reason(ev, "run")
    if declared is None and missing is None and not _logged(ev, "training"):
        missing = "the spec declares no training dataset (data.training) and the run logged none"
    return DataSection(
        declared=declared, logged=_logged(ev, "training"), profile=profile, drift=(), missing=missing
    )


def _evaluation(spec: ModelSpec, ev: Mapping[str, Any] | None, rules: list[dict[str, Any]]) -> DataSection:
    data = _obj(ev.get("data")) if ev else {}
    drift = []
    for feature, raw in _obj(data.get("drift")).items():
        item = _obj(raw)
        psi = _num(item.get("psi"))
        statistic = _num(
            item.get("ks_statistic") if item.get("kind") == "numeric" else item.get("js_distance")
        )
        judged = sorted({v for v in (psi, statistic) if v is not None})
        verdicts = tuple(
            v for value in judged for v in verdicts_for(rules, feature=str(feature), value=value)
        )
        drift.append(
            DriftRow(
                feature=str(feature),
                kind=str(item.get("kind", "")),
                psi=psi,
                statistic=statistic,
                p_value=_num(item.get("p_value")),
                status=_status(verdicts),
                verdicts=verdicts,
            )
        )
    drift.sort(key=lambda d: (-(d.psi if d.psi is not None else -1.0), d.feature))
    return DataSection(
        declared=_declared(spec, "evaluation"),
        logged=_logged(ev, "evaluation"),
        profile=_profile(data.get("evaluation")),
        drift=tuple(drift),
        missing=_reason(ev, "data"),
    )


def _rule_results(decision: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [_obj(r) for r in _list(decision.get("results"))] if decision else []


def _quantitative(
    spec: ModelSpec, ev: Mapping[str, Any] | None, params: Mapping[str, Any], rules: list[dict[str, Any]]
) -> QuantitativeAnalyses:
    features = []
    for name, feature in _fairness_features(spec, ev):
        sizes = _sizes(feature)
        order = [g.group for g in sizes]
        summaries = []
        for key, raw in feature.items():
            if isinstance(raw, bool) or not isinstance(raw, int | float | type(None)) or key == "rows":
                continue
            value = _num(raw)
            verdicts = () if value is None else verdicts_for(rules, feature=name, value=value)
            summaries.append(FairnessSummary(str(key), value, _status(verdicts), verdicts))
        metrics = []
        for metric, raw in _obj(feature.get("metrics")).items():
            item = _obj(raw)
            by_group = _obj(item.get("by_group"))
            groups = [g for g in order if g in by_group] + sorted(g for g in by_group if g not in order)
            metrics.append(
                GroupMetric(
                    metric=str(metric),
                    overall=_num(item.get("overall")),
                    by_group=tuple(GroupValue(g, _num(by_group[g])) for g in groups),
                    difference=_num(item.get("difference")),
                    ratio=_num(item.get("ratio")),
                )
            )
        features.append(
            FeatureAnalysis(
                feature=name,
                groups=sizes,
                summaries=tuple(summaries),
                metrics=tuple(metrics),
                findings=verdicts_for(rules, feature=name),
            )
        )
    missing = (
        "the spec declares no sensitive features (fairness.sensitive_features)"
        if not _sensitive(spec)
        else _reason(ev, "fairness")
    )
    rows = _obj(ev.get("fairness")).get("rows") if ev else None
    return QuantitativeAnalyses(
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        features=tuple(features),
        importance=_importance(spec, ev, params, rules),
        missing=missing,
    )


def _importance(
    spec: ModelSpec, ev: Mapping[str, Any] | None, params: Mapping[str, Any], rules: list[dict[str, Any]]
) -> Importance:
    explanations = _obj(ev.get("explanations")) if ev else {}
    explain = _obj(params.get("explainability"))
    flagged = set(_strings(explain.get("prohibited_features"))) | set(_sensitive(spec))
    items = sorted(
        (_obj(i) for i in _list(explanations.get("global_importance"))),
        key=lambda i: (-(_num(i.get("share")) or 0.0), str(i.get("feature"))),
    )
    features = []
    for rank, item in enumerate(items, start=1):
        name, share = str(item.get("feature")), _num(item.get("share")) or 0.0
        verdicts = verdicts_for(rules, feature=name, share=share)
        features.append(
            FeatureImportance(
                feature=name,
                mean_abs_shap=_num(item.get("mean_abs_shap")) or 0.0,
                share=share,
                rank=rank,
                prohibited=name in flagged,
                status=_status(verdicts),
                verdicts=verdicts,
            )
        )
    return Importance(
        method=str(explanations.get("method", "")),
        sample_size=int(explanations.get("sample_size") or 0),
        features=tuple(features),
        missing=_reason(ev, "explanations"),
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ethics(
    spec: ModelSpec,
    ev: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    card: QuantitativeAnalyses,
) -> EthicalConsiderations:
    notes: list[Note] = []
    tier = spec.risk_tier.value
    if tier in _TIER_NOTES:
        notes.append(Note(_TIER_NOTES[tier], "spec.metadata.risk_tier"))
    sensitive = _sensitive(spec)
    if sensitive:
        rows = f" over {card.rows:,} evaluation rows" if card.rows is not None else ""
        notes.append(
            Note(
                f"Group fairness is assessed for the sensitive features {', '.join(sensitive)}{rows}.",
                "spec.fairness",
            )
        )
    else:
        notes.append(
            Note(
                "No sensitive features are declared: fairness across groups was not assessed.",
                "spec.fairness",
            )
        )
    for rule in _rule_results(decision):
        if rule.get("result") not in _ATTENTION:
            continue
        about = [_obj(v) for v in _list(rule.get("violations")) if _obj(v).get("feature") in sensitive]
        if not about:
            continue
        messages = [str(v.get("msg")) for v in about if v.get("msg")]
        text = f"{rule.get('rule_id')} ({rule.get('result')}): {'; '.join(messages) or rule.get('message')}"
        waiver = _obj(rule.get("waiver"))
        if rule.get("result") == Result.WAIVED.value and waiver:
            text += (
                f". Accepted by {waiver.get('approver')} until {waiver.get('expires')}"
                + (f" ({waiver['ticket']})" if waiver.get("ticket") else "")
                + f": {waiver.get('reason')}"
            )
        notes.append(Note(text, "decision"))
    importance = card.importance
    flagged = [f for f in importance.features if f.prohibited]
    if importance.missing is None and flagged:
        ranks = ", ".join(f"{f.feature} {_ordinal(f.rank)} ({f.share:.1%})" for f in flagged)
        notes.append(
            Note(
                f"Sensitive or prohibited features by attribution rank of {len(importance.features)}: "
                f"{ranks}.",
                "evidence.explanations",
            )
        )
    return EthicalConsiderations(notes=tuple(notes))


_SECTION_TITLES = {
    "model": "Model registry",
    "run": "Training run",
    "champion": "Champion",
    "fairness": "Fairness",
    "explanations": "Explanation",
    "data": "Data quality and drift",
    "live": "Live",
}


def _caveats(
    spec: ModelSpec,
    ev: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    factors: Factors,
    evaluation: DataSection,
) -> tuple[Note, ...]:
    notes: list[Note] = []
    if ev is None:
        notes.append(Note(f"Evidence: {NO_EVIDENCE}; the sections built from it are empty.", "card"))
    else:
        for section, title in _SECTION_TITLES.items():
            if not isinstance(ev.get(section), dict):
                notes.append(
                    Note(f"{title} evidence not available: {_reason(ev, section)}.", "evidence.missing")
                )
    if decision is None:
        notes.append(Note(f"Governance: {NO_DECISION}.", "card"))
    else:
        as_of = decision.get("as_of")
        for raw in _list(decision.get("waivers")):
            w = _obj(raw)
            ticket = f", {w['ticket']}" if w.get("ticket") else ""
            status = w.get("status")
            if status == "applied":
                notes.append(
                    Note(
                        f"{w.get('rule')} passes only under a waiver "
                        f"(approved by {w.get('approver')}{ticket}) that expires on {w.get('expires')}, "
                        f"{w.get('days_left')} days after {as_of}: "
                        "re-assess before then.",
                        "decision.waivers",
                    )
                )
            elif status == "expired":
                notes.append(
                    Note(
                        f"The waiver for {w.get('rule')} expired on {w.get('expires')} and is void.",
                        "decision.waivers",
                    )
                )
            elif status in ("unknown_rule", "refused"):
                why = (
                    "names no rule of the policy set" if status == "unknown_rule" else "cannot waive an error"
                )
                notes.append(Note(f"The waiver for {w.get('rule')} {why}.", "decision.waivers"))
        for rule in _rule_results(decision):
            if rule.get("result") in (Result.WARN.value, Result.FAIL.value, Result.ERROR.value):
                notes.append(
                    Note(f"{rule.get('rule_id')} {rule.get('result')}: {rule.get('message')}", "decision")
                )
        skipped = [r for r in _rule_results(decision) if r.get("result") == Result.SKIP.value]
        unconfigured = [r for r in skipped if rule_state(r) is RuleState.NOT_CONFIGURED]
        for rule in unconfigured:
            notes.append(Note(f"{rule.get('rule_id')} was not checked: {rule.get('message')}", "decision"))
        elsewhere = [str(r.get("rule_id")) for r in skipped if rule_state(r) is RuleState.NOT_THIS_STAGE]
        if elsewhere:
            notes.append(
                Note(
                    f"{len(elsewhere)} rules do not apply at stage {decision.get('stage')} and were skipped: "
                    f"{', '.join(elsewhere)}.",
                    "decision",
                )
            )
        for error in _strings(decision.get("errors")):
            notes.append(Note(f"No decision could be reached: {error}", "decision.errors"))
    small = [f"{g.feature}: {', '.join(g.small_groups)}" for g in factors.groups if g.small_groups]
    if small:
        limit = f"fewer than {factors.min_group_size} rows" if factors.min_group_size else "few rows"
        notes.append(
            Note(f"Groups with {limit} give unreliable estimates ({'; '.join(small)}).", "evidence.fairness")
        )
    if not notes:
        notes.append(Note("No caveats were derived from the evidence and the decision.", "card"))
    return tuple(notes)


def _urgency(result: Any) -> int:
    """Position in the errors-first order; an unknown result sorts last."""
    try:
        return RESULT_ORDER[Result(result)]
    except ValueError:
        return len(RESULT_ORDER)


def rule_state(rule: Mapping[str, Any]) -> RuleState:
    """A rule result read with its message ("evidence missing: …", "not configured: …")."""
    result = rule.get("result")
    message = str(rule.get("message", "")).lower()
    if result == Result.PASS.value:
        return RuleState.PASSED
    if result == Result.FAIL.value:
        return RuleState.EVIDENCE_MISSING if message.startswith(EVIDENCE_MISSING) else RuleState.FAILED
    if result == Result.SKIP.value:
        return RuleState.NOT_CONFIGURED if message.startswith(NOT_CONFIGURED) else RuleState.NOT_THIS_STAGE
    if result == Result.WARN.value:
        return RuleState.WARNED
    if result == Result.WAIVED.value:
        return RuleState.WAIVED
    return RuleState.ERROR  # an error, or a result this card does not know: never a pass


def _control_status(rules: tuple[ControlRule, ...]) -> ControlStatus:
    states = {r.state for r in rules}
    if states <= {RuleState.PASSED}:
        return ControlStatus.SATISFIED if states else ControlStatus.NOT_ASSESSED
    skipped = {RuleState.NOT_CONFIGURED, RuleState.NOT_THIS_STAGE}
    if states <= skipped:
        return ControlStatus.NOT_ASSESSED
    if states <= skipped | {RuleState.PASSED}:
        return ControlStatus.PARTLY_ASSESSED
    return ControlStatus.NOT_SATISFIED


def _split_control(control: str) -> tuple[str, str]:
    framework, sep, ident = control.partition(":")
    return (framework, ident) if sep else ("other", control)


def _governance(decision: Mapping[str, Any] | None, audit_record_id: str | None) -> Governance:
    if decision is None:
        return Governance(
            outcome=None,
            stage=None,
            as_of=None,
            decision_id=None,
            timestamp=None,
            audit_record_id=audit_record_id,
            policy_digest=None,
            params_digest=None,
            evidence_digest=None,
            backend=None,
            engine_version=None,
            counts=None,
            rules=(),
            waivers=(),
            controls=(),
            errors=(),
            missing=NO_DECISION,
        )
    rules = tuple(
        RuleRow(
            rule_id=str(r.get("rule_id")),
            title=_str(r.get("title")),
            package=str(r.get("package", "")),
            result=str(r.get("result")),
            state=rule_state(r),
            severity=str(r.get("severity", "")),
            message=str(r.get("message", "")),
            controls=_strings(r.get("controls")),
        )
        for r in sorted(
            _rule_results(decision), key=lambda r: (_urgency(r.get("result")), str(r.get("rule_id")))
        )
    )
    by_control: dict[tuple[str, str], list[RuleRow]] = {}
    for row in rules:
        for control in row.controls:
            by_control.setdefault(_split_control(control), []).append(row)
    controls = []
    for (framework, ident), members in sorted(
        by_control.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1]))
    ):
        listed = tuple(ControlRule(r.rule_id, r.result, r.state, r.message) for r in members)
        controls.append(ControlRow(framework, ident, _control_status(listed), listed))
    waivers = tuple(
        WaiverRow(
            rule=str(w.get("rule")),
            approver=str(w.get("approver")),
            expires=str(w.get("expires")),
            status=str(w.get("status")),
            days_left=int(w.get("days_left") or 0),
            ticket=_str(w.get("ticket")),
            reason=str(w.get("reason", "")),
        )
        for w in (_obj(x) for x in _list(decision.get("waivers")))
    )
    summary = _obj(decision.get("summary"))
    backend = _obj(decision.get("backend"))
    return Governance(
        outcome=_str(decision.get("outcome")),
        stage=_str(decision.get("stage")),
        as_of=_str(decision.get("as_of")),
        decision_id=_str(decision.get("decision_id")),
        timestamp=_str(decision.get("timestamp")),
        audit_record_id=audit_record_id or _str(decision.get("audit_record_id")),
        policy_digest=_str(decision.get("policy_digest")),
        params_digest=_str(decision.get("params_digest")),
        evidence_digest=_str(decision.get("evidence_digest")),
        backend=" ".join(str(v) for v in (backend.get("name"), backend.get("version")) if v) or None,
        engine_version=_str(decision.get("engine_version")),
        counts=Counts(
            total=int(summary.get("total", 0)),
            passed=int(summary.get("pass", 0)),
            failed=int(summary.get("fail", 0)),
            warned=int(summary.get("warn", 0)),
            waived=int(summary.get("waived", 0)),
            skipped=int(summary.get("skip", 0)),
            errored=int(summary.get("error", 0)),
        ),
        rules=rules,
        waivers=waivers,
        controls=tuple(controls),
        errors=_strings(decision.get("errors")),
        missing=None,
    )


def check_digests(spec: ModelSpec, evidence: EvidenceDocument, decision: Mapping[str, Any]) -> None:
    """The decision must have judged this evidence under this spec: compare the engine's digest."""
    stage = decision.get("stage")
    named = decision.get("evidence_digest")
    if not isinstance(stage, str) or not isinstance(named, str):
        raise ConfigError("the decision names no stage or no evidence digest, so it cannot be matched")
    actual = input_digest(evidence, spec, stage)
    if actual != named:
        raise ConfigError(
            f"the decision was made on other evidence: it names evidence digest {named}, but the "
            f"evidence given ({evidence.source}) with this spec at stage {stage} has digest {actual}"
        )


def build_card(
    spec: ModelSpec,
    params: Mapping[str, Any],
    evidence: EvidenceDocument | None = None,
    decision: Mapping[str, Any] | None = None,
    audit_record_id: str | None = None,
) -> ModelCard:
    """The card for ``spec``; ``decision`` is a decision document (plain JSON values).

    Given both, the evidence must be what the decision judged (:func:`check_digests`).
    """
    if decision is not None:
        named = _obj(decision.get("spec")).get("name")
        if named is not None and named != spec.name:
            raise ConfigError(f"the decision is for model '{named}', but the spec describes '{spec.name}'")
    if evidence is not None:
        named = evidence.model_name
        if named is not None and named != spec.name:
            raise ConfigError(
                f"the evidence was collected for model '{named}', but the spec describes '{spec.name}'"
            )
        if decision is not None:
            check_digests(spec, evidence, decision)
    ev = evidence.value if evidence is not None else None
    rules = _rule_results(decision)
    factors = _factors(spec, ev, params)
    evaluation = _evaluation(spec, ev, rules)
    quantitative = _quantitative(spec, ev, params, rules)
    return ModelCard(
        details=_details(spec, ev, decision),
        intended_use=_intended_use(spec),
        factors=factors,
        metrics=_metrics(ev, params, rules),
        training_data=_training(spec, ev),
        evaluation_data=evaluation,
        quantitative_analyses=quantitative,
        ethical_considerations=_ethics(spec, ev, decision, quantitative),
        caveats=_caveats(spec, ev, decision, factors, evaluation),
        governance=_governance(decision, audit_record_id),
    )

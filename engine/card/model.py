"""The model card as typed values: what every card format (Markdown, HTML, JSON) renders.

The sections follow what the model-card proposals agree on (Mitchell et al., *Model Cards for
Model Reporting*; the Hugging Face model card; Google's Model Card Toolkit): model details,
intended use, factors, metrics, training and evaluation data, quantitative analyses, ethical
considerations, caveats and recommendations; plus govern's governance section (the decision).

A section built from evidence carries ``missing``: ``None`` when the evidence was there, else
the reason it is not (from the evidence document's ``missing``), so no section ever vanishes.
:func:`to_document` gives the JSON form, valid against ``schemas/model-card.schema.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

__all__ = [
    "ChampionComparison",
    "ControlRow",
    "ControlRule",
    "ControlStatus",
    "Counts",
    "DataSection",
    "DatasetProfile",
    "DatasetRef",
    "DriftRow",
    "EthicalConsiderations",
    "FactorGroups",
    "Factors",
    "FairnessSummary",
    "FeatureAnalysis",
    "FeatureImportance",
    "Governance",
    "GroupMetric",
    "GroupValue",
    "Importance",
    "IntendedUse",
    "MetricRow",
    "Metrics",
    "ModelCard",
    "ModelDetails",
    "Note",
    "Param",
    "QuantitativeAnalyses",
    "RuleRow",
    "RuleState",
    "Status",
    "Verdict",
    "WaiverRow",
    "to_document",
]


class Status(StrEnum):
    """What the decision said about a value the card shows: a rule result, or no finding.

    A value takes the most urgent result among the rules whose violation objects name it; a
    value no violation names has ``no_finding`` (the rules table lists every rule's result).
    The card never compares a value with a threshold itself.
    """

    ERROR = "error"
    FAIL = "fail"
    WARN = "warn"
    WAIVED = "waived"
    PASS = "pass"
    SKIP = "skip"
    NO_FINDING = "no_finding"


class RuleState(StrEnum):
    """A rule result read with its message: a skip or a failure may say why."""

    PASSED = "passed"
    FAILED = "failed"
    EVIDENCE_MISSING = "evidence_missing"  # fail, "evidence missing: …"
    NOT_CONFIGURED = "not_configured"  # skip, "not configured: …"
    NOT_THIS_STAGE = "not_this_stage"  # skip for another reason (the rule's stages)
    WARNED = "warned"
    WAIVED = "waived"
    ERROR = "error"


class ControlStatus(StrEnum):
    """A control is satisfied only when every rule mapped to it passed on present evidence."""

    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"  # a rule failed, warned, was waived or errored
    PARTLY_ASSESSED = "partly_assessed"  # the rules that ran passed; others were skipped
    NOT_ASSESSED = "not_assessed"  # every rule was skipped


@dataclass(frozen=True)
class Verdict:
    """One violation object of the decision naming a value the card shows, with its rule's result."""

    rule_id: str
    result: str
    message: str
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class Param:
    name: str
    value: str


@dataclass(frozen=True)
class ModelDetails:
    name: str
    version: str | None
    alias: str | None
    owner: str
    contact: str | None
    model_type: str | None
    licence: str | None
    risk_tier: str
    description: str
    flavor: str | None
    run_id: str | None
    source: str | None
    git_commit: str | None
    created_at: str | None
    trained_at: str | None
    evidence_collected_at: str | None
    parameters: tuple[Param, ...]
    missing: str | None
    quarantined: str | None = None  # set when a rollback quarantined this version

    def facts(self) -> list[tuple[str, str | None]]:
        """The labelled facts every card format shows, in order."""
        d = self
        return [
            ("Name", d.name),
            ("Version", d.version),
            ("Alias", d.alias),
            ("Owner", d.owner),
            ("Contact", d.contact),
            ("Model type", d.model_type),
            ("Framework", d.flavor),
            ("Licence", d.licence),
            ("Risk tier (EU AI Act)", d.risk_tier),
            ("Registered", d.created_at),
            ("Trained", d.trained_at),
            ("Evidence collected", d.evidence_collected_at),
            ("Run", d.run_id),
            ("Source commit", d.git_commit),
            ("Artifact", d.source),
            ("Quarantined", d.quarantined),
        ]


@dataclass(frozen=True)
class IntendedUse:
    primary_uses: tuple[str, ...]
    primary_users: tuple[str, ...]
    out_of_scope: tuple[str, ...]


@dataclass(frozen=True)
class GroupValue:
    group: str
    value: float | None


@dataclass(frozen=True)
class FactorGroups:
    feature: str
    groups: tuple[GroupValue, ...]  # value = group size (rows)
    small_groups: tuple[str, ...]


@dataclass(frozen=True)
class Factors:
    sensitive_features: tuple[str, ...]
    intersections: tuple[str, ...]
    prohibited_features: tuple[str, ...]
    groups: tuple[FactorGroups, ...]
    min_group_size: int | None
    missing: str | None


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: float | None
    champion: float | None
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class ChampionComparison:
    alias: str
    version: str | None
    metric: str
    value: float | None
    champion: float | None
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class Metrics:
    rows: tuple[MetricRow, ...]
    champion: ChampionComparison | None
    missing: str | None


@dataclass(frozen=True)
class DatasetRef:
    role: str
    name: str | None
    path: str | None
    format: str | None
    target: str | None
    digest: str | None


@dataclass(frozen=True)
class DatasetProfile:
    name: str | None
    rows: int
    columns: int
    max_null_share: float
    column_names: tuple[str, ...]


@dataclass(frozen=True)
class DriftRow:
    feature: str
    kind: str
    psi: float | None
    statistic: float | None
    p_value: float | None
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class DataSection:
    declared: DatasetRef | None
    logged: tuple[DatasetRef, ...]  # datasets the run logged (role = their context)
    profile: DatasetProfile | None
    drift: tuple[DriftRow, ...]
    missing: str | None


@dataclass(frozen=True)
class FairnessSummary:
    """A feature's summary value from the evidence (a parity difference or ratio, …)."""

    metric: str
    value: float | None
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class GroupMetric:
    metric: str
    overall: float | None
    by_group: tuple[GroupValue, ...]
    difference: float | None
    ratio: float | None


@dataclass(frozen=True)
class FeatureAnalysis:
    feature: str
    groups: tuple[GroupValue, ...]  # sizes
    summaries: tuple[FairnessSummary, ...]
    metrics: tuple[GroupMetric, ...]
    findings: tuple[Verdict, ...]  # every violation naming this feature


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean_abs_shap: float
    share: float
    rank: int
    prohibited: bool
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class Importance:
    method: str
    sample_size: int
    features: tuple[FeatureImportance, ...]
    missing: str | None


@dataclass(frozen=True)
class QuantitativeAnalyses:
    rows: int | None
    features: tuple[FeatureAnalysis, ...]
    importance: Importance
    missing: str | None


@dataclass(frozen=True)
class Note:
    """One statement in ethical considerations or caveats; ``source`` says where it comes from."""

    text: str
    source: str


@dataclass(frozen=True)
class EthicalConsiderations:
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    title: str | None
    package: str
    result: str
    state: RuleState
    severity: str
    message: str
    controls: tuple[str, ...]


@dataclass(frozen=True)
class WaiverRow:
    rule: str
    approver: str
    expires: str
    status: str
    days_left: int
    ticket: str | None
    reason: str


@dataclass(frozen=True)
class ControlRule:
    rule_id: str
    result: str
    state: RuleState
    message: str


@dataclass(frozen=True)
class ControlRow:
    framework: str
    control: str
    status: ControlStatus
    rules: tuple[ControlRule, ...]


@dataclass(frozen=True)
class Counts:
    total: int
    passed: int
    failed: int
    warned: int
    waived: int
    skipped: int
    errored: int


@dataclass(frozen=True)
class Governance:
    outcome: str | None
    stage: str | None
    as_of: str | None
    decision_id: str | None
    timestamp: str | None
    audit_record_id: str | None
    policy_digest: str | None
    params_digest: str | None
    evidence_digest: str | None
    backend: str | None
    engine_version: str | None
    counts: Counts | None
    rules: tuple[RuleRow, ...]
    waivers: tuple[WaiverRow, ...]
    controls: tuple[ControlRow, ...]
    errors: tuple[str, ...]
    missing: str | None


@dataclass(frozen=True)
class ModelCard:
    details: ModelDetails
    intended_use: IntendedUse
    factors: Factors
    metrics: Metrics
    training_data: DataSection
    evaluation_data: DataSection
    quantitative_analyses: QuantitativeAnalyses
    ethical_considerations: EthicalConsiderations
    caveats: tuple[Note, ...]
    governance: Governance


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_document(card: ModelCard) -> dict[str, Any]:
    """The JSON form of a card (``schemas/model-card.schema.json``)."""
    return {
        "apiVersion": "govern/v1",
        "kind": "ModelCard",
        "model_details": _plain(card.details),
        "intended_use": _plain(card.intended_use),
        "factors": _plain(card.factors),
        "metrics": _plain(card.metrics),
        "training_data": _plain(card.training_data),
        "evaluation_data": _plain(card.evaluation_data),
        "quantitative_analyses": _plain(card.quantitative_analyses),
        "ethical_considerations": _plain(card.ethical_considerations.notes),
        "caveats_and_recommendations": _plain(card.caveats),
        "governance": _plain(card.governance),
    }

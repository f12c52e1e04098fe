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
    "Bound",
    "ChampionComparison",
    "ControlRow",
    "Counts",
    "DataSection",
    "DatasetProfile",
    "DatasetRef",
    "DriftRow",
    "EthicalConsiderations",
    "FactorGroups",
    "Factors",
    "FairnessCheck",
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
    "Status",
    "WaiverRow",
    "to_document",
]


class Status(StrEnum):
    """How a measured value stands against its threshold."""

    MET = "met"
    NOT_MET = "not_met"
    NO_THRESHOLD = "no_threshold"
    UNKNOWN = "unknown"  # no value to compare


class Bound(StrEnum):
    MIN = "min"
    MAX = "max"


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
    bound: Bound | None
    threshold: float | None
    status: Status


@dataclass(frozen=True)
class ChampionComparison:
    alias: str
    version: str | None
    metric: str
    value: float | None
    champion: float | None
    max_regression: float
    higher_is_better: bool
    status: Status


@dataclass(frozen=True)
class Metrics:
    rows: tuple[MetricRow, ...]
    champion: ChampionComparison | None
    fairness_thresholds: tuple[MetricRow, ...]  # value None: the thresholds the analyses use
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


@dataclass(frozen=True)
class DataSection:
    declared: DatasetRef | None
    logged: tuple[DatasetRef, ...]  # datasets the run logged (role = their context)
    profile: DatasetProfile | None
    drift: tuple[DriftRow, ...]
    max_psi: float | None
    missing: str | None


@dataclass(frozen=True)
class FairnessCheck:
    metric: str
    value: float | None
    bound: Bound
    threshold: float | None
    status: Status
    rule_result: str | None  # what the decision said (pass, fail, waived, …) when known


@dataclass(frozen=True)
class GroupMetric:
    metric: str
    overall: float | None
    by_group: tuple[GroupValue, ...]
    difference: float | None
    ratio: float | None
    floor: float | None  # the per-group floor, for the floor metric


@dataclass(frozen=True)
class FeatureAnalysis:
    feature: str
    groups: tuple[GroupValue, ...]  # sizes
    checks: tuple[FairnessCheck, ...]
    metrics: tuple[GroupMetric, ...]


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean_abs_shap: float
    share: float
    rank: int
    prohibited: bool


@dataclass(frozen=True)
class Importance:
    method: str
    sample_size: int
    features: tuple[FeatureImportance, ...]
    max_feature_share: float | None
    top_k: int | None
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
class ControlRow:
    framework: str
    control: str
    rules: tuple[str, ...]
    worst: str  # the most urgent result among its rules


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

"""``govern card``: render a model card from a spec, its evidence and a decision.

Thin: load the inputs, decide in process when no decision file is given, build the card (which
checks that a decision file judged this evidence), render it, write it atomically. No heavy
library is imported (no plotting, no mlflow, shap, fairlearn or pandas).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govern.engine.errors import ConfigError

from .common import handle_errors, write_atomic

if TYPE_CHECKING:
    from govern.engine.evidence import EvidenceDocument
    from govern.engine.spec import ModelSpec

__all__ = ["card"]


class CardFormatOption(StrEnum):
    md = "md"
    html = "html"
    json = "json"


class CardStage(StrEnum):
    register = "register"
    deploy = "deploy"
    rollback = "rollback"


def _load_decision(path: Path) -> dict[str, Any]:
    """A saved decision document (``govern check --format json``), validated by its schema."""
    from govern.engine.documents import load_document
    from govern.engine.errors import EvidenceError
    from govern.engine.schemas import Schema, validate

    doc, _ = load_document(path, EvidenceError, json_fast_path=True)
    if not isinstance(doc.value, dict):
        raise EvidenceError("a decision document must be a JSON object", doc.location(()))
    validate(doc, Schema.DECISION, EvidenceError)
    return doc.value


def _decide(
    spec: ModelSpec, evidence: EvidenceDocument, stage: CardStage | None, as_of: dt.date | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decide as ``govern check`` does (built-in library plus the spec's own policies)."""
    from govern.engine.backends import create_backend
    from govern.engine.check import Checker
    from govern.engine.policyset import load_policy_set
    from govern.engine.spec import Stage

    policy_set = load_policy_set(spec, [], builtin=True)
    with create_backend("embedded") as engine:
        checker = Checker.for_spec(spec, policy_set, engine)
        decision = checker.decide(evidence, Stage(stage.value) if stage else None, as_of)
    return decision.to_dict(), checker.params


def _audit_record(log: Path, decision_id: str | None) -> str | None:
    """``#seq sha256:hash`` of the last audit record of this decision, if the log has one."""
    from govern.engine.audit import AuditLog

    if decision_id is None:
        return None
    if not log.exists():
        raise ConfigError(f"--audit-log {log}: no such file")
    found = [r for r in AuditLog(log).records() if r.get("decision_id") == decision_id]
    return f"#{found[-1]['seq']} sha256:{found[-1]['hash']}" if found else None


@handle_errors
def card(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)],
    evidence: Annotated[
        Path | None, typer.Option("--evidence", "-e", help="The evidence document (JSON) the card reports.")
    ] = None,
    decision: Annotated[
        Path | None,
        typer.Option(
            "--decision", "-d", help="A saved decision (govern check --format json). Default: decide now."
        ),
    ] = None,
    card_format: Annotated[
        CardFormatOption, typer.Option("--format", "-f", help="md (Hugging Face style), html or json.")
    ] = CardFormatOption.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the card to FILE (atomically).")
    ] = None,
    stage: Annotated[
        CardStage | None,
        typer.Option("--stage", "-s", help="When deciding now: the stage. Default: the evidence's."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="When deciding now: judge waiver expiry as of this date (YYYY-MM-DD)."),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option("--audit-log", help="Look the decision up in this audit log to cite its record."),
    ] = None,
) -> None:
    """Render a model card (Markdown, HTML or JSON) with the governance decision.

    Sections: model details, intended use, factors, metrics, training and evaluation data,
    quantitative analyses, ethical considerations, caveats and recommendations, governance (the
    decision, each rule with its controls, waivers, digests). A section whose evidence is missing
    says why. Without --decision, the decision is computed from --evidence with the built-in
    policies, as `govern check` does. Every status in the card is a rule result of the decision;
    given --evidence and --decision, their digests must match (else exit 2).

    Example:  govern card spec.yaml -e evidence.json -f html -o card.html
    """
    from govern.engine.card import CardFormat, build_card, render_card
    from govern.engine.evidence import load_evidence
    from govern.engine.params import build_params
    from govern.engine.spec import load_spec

    if as_of is not None:
        try:
            today: dt.date | None = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    else:
        today = None
    model_spec = load_spec(spec)
    document = load_evidence(evidence) if evidence is not None else None
    params: dict[str, Any] = build_params(model_spec)
    verdict: dict[str, Any] | None = None
    if decision is not None:
        verdict = _load_decision(decision)
    elif document is not None:
        verdict, params = _decide(model_spec, document, stage, today)
    record = _audit_record(audit_log, verdict.get("decision_id") if verdict else None) if audit_log else None
    built = build_card(model_spec, params, document, verdict, record)
    write_atomic(render_card(CardFormat(card_format.value), built), output)

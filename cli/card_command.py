"""``govern card``: render a model card from a spec, its evidence and a decision.

Thin: load the inputs, decide in process when no decision file is given, build the card (which
checks that a decision file judged this evidence), render it, write it atomically. No heavy
library is imported (no plotting, no mlflow, shap, fairlearn or pandas).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

from .common import handle_errors, write_atomic
from .options import (
    AsOfOpt,
    BackendOpt,
    NoBuiltinOpt,
    OpaUrlOpt,
    ParamOpt,
    PoliciesOpt,
    V0Opt,
    parse_as_of,
    pipeline_options,
)

if TYPE_CHECKING:
    from govern.engine.evidence import EvidenceDocument
    from govern.engine.pipeline import PipelineOptions
    from govern.engine.record import DecisionRecord
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


def _load_decision(path: Path) -> tuple[dict[str, Any], DecisionRecord | None]:
    """A saved decision record (``govern check -f json``, a gate's artifact) or a bare decision
    document, validated by its schema; the record too when it is one."""
    from govern.engine.documents import load_document
    from govern.engine.errors import EvidenceError
    from govern.engine.record import RECORD_KIND, load_record
    from govern.engine.schemas import Schema, validate

    doc, _ = load_document(path, EvidenceError, json_fast_path=True)
    if not isinstance(doc.value, dict):
        raise EvidenceError("a decision document must be a JSON object", doc.location(()))
    if doc.value.get("kind") == RECORD_KIND:
        record = load_record(path)
        return record.decision.to_dict(), record
    validate(doc, Schema.DECISION, EvidenceError)
    return doc.value, None


def _decide(
    spec: ModelSpec, evidence: EvidenceDocument, stage: CardStage | None, options: PipelineOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decide as ``govern check`` does: the one pipeline, with the same options."""
    from govern.engine.pipeline import Pipeline
    from govern.engine.spec import Stage

    with Pipeline(spec, options) as pipeline:
        record = pipeline.decide(evidence, Stage(stage.value) if stage else None)
    return record.decision.to_dict(), dict(record.params)


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
            "--decision",
            "-d",
            help="A saved decision record (govern check -f json, a gate's artifact) or decision "
            "document. Default: decide now.",
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
    as_of: AsOfOpt = None,
    audit_log: Annotated[
        Path | None,
        typer.Option("--audit-log", help="Look the decision up in this audit log to cite its record."),
    ] = None,
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
) -> None:
    """Render a model card (Markdown, HTML or JSON) with the governance decision.

    Sections: model details, intended use, factors, metrics, training and evaluation data,
    quantitative analyses, ethical considerations, caveats and recommendations, governance (the
    decision, each rule with its controls, waivers, digests). A section whose evidence is missing
    says why. Without --decision, the decision is computed from --evidence with the built-in
    policies, as `govern check` does. Every status in the card is a rule result of the decision;
    given --evidence and --decision, their digests must match (else exit 2).

    A decision record carries its evidence and parameters, so `govern card SPEC -d record.json`
    needs nothing else. When deciding now, --policies, --param, --backend and the other
    deciding options mean what they mean for `govern check`.

    Examples:
      govern card spec.yaml -e evidence.json -f html -o card.html
      govern check spec.yaml -e evidence.json -f json -o record.json && govern card spec.yaml -d record.json
    """
    from govern.engine.card import CardFormat, build_card, render_card
    from govern.engine.evidence import load_evidence
    from govern.engine.params import build_params
    from govern.engine.spec import load_spec

    options = pipeline_options(
        backend=backend,
        opa_url=opa_url,
        policies=policies,
        v0_compatible=v0_compatible,
        no_builtin=no_builtin,
        params=param,
        decision_log=None,
        as_of=parse_as_of(as_of),
        command="card",
    )
    model_spec = load_spec(spec)
    document = load_evidence(evidence) if evidence is not None else None
    params: dict[str, Any] = build_params(model_spec)
    verdict: dict[str, Any] | None = None
    if decision is not None:
        verdict, saved = _load_decision(decision)
        if saved is not None:
            params = dict(saved.params)  # the parameters the decision was taken with
            if document is None:
                document = saved.evidence_document()
    elif document is not None:
        verdict, params = _decide(model_spec, document, stage, options)
    record = _audit_record(audit_log, verdict.get("decision_id") if verdict else None) if audit_log else None
    built = build_card(model_spec, params, document, verdict, record)
    write_atomic(render_card(CardFormat(card_format.value), built), output)

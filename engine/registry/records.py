"""Decision records stored by the gates: find a model version's record and its evidence.

A gate stores, as artifacts of the judged run, the decision record
(``govern/records/<decision id>.json``, evidence by reference) and the evidence it judged
(``govern/evidence/<sha256 of its canonical JSON>.json``), and tags the version with
``govern.<stage>.decision_id``. :func:`fetch_gate_record` follows those back, so
``govern replay MODEL/VERSION`` and ``govern card`` need only the registry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError, EvidenceError, Location
from ..evidence.document import EvidenceDocument, evidence_from_value
from ..record import DecisionRecord, record_from_text
from ..stage import Stage
from .base import Registry

__all__ = [
    "EVIDENCE_DIR",
    "RECORDS_DIR",
    "audited_gate_decisions",
    "evidence_artifact",
    "fetch_gate_record",
    "load_audited_record",
    "load_gate_record",
    "record_artifact",
]

RECORDS_DIR = "govern/records"
EVIDENCE_DIR = "govern/evidence"


def record_artifact(decision_id: str) -> str:
    return f"{RECORDS_DIR}/{decision_id}.json"


def evidence_artifact(canonical: str) -> str:
    """The artifact path of evidence whose canonical digest is ``sha256:<hex>``."""
    return f"{EVIDENCE_DIR}/{canonical.removeprefix('sha256:')}.json"


def load_gate_record(
    registry: Registry, name: str, version: str, stage: Stage | None = None
) -> tuple[DecisionRecord, EvidenceDocument]:
    """The record of the gate decision on ``name`` version ``version`` (deploy, else register)."""
    record_version = registry.get_version(name, version)
    stages = [stage] if stage is not None else [Stage.DEPLOY, Stage.REGISTER]
    for candidate in stages:
        decision_id = record_version.tags.get(f"govern.{candidate.value}.decision_id")
        if decision_id:
            break
    else:
        wanted = " or ".join(s.value for s in stages)
        raise ConfigError(
            f"{name} version {version} carries no {wanted} decision (no govern.<stage>.decision_id tag)"
        )
    run_id = record_version.run_id
    if not run_id:
        raise ConfigError(f"{name} version {version} has no run, so no stored decision record")
    source = f"runs:/{run_id}/{record_artifact(decision_id)}"
    record = record_from_text(registry.read_text(run_id, record_artifact(decision_id)), source)
    if record.decision_id != decision_id:
        raise EvidenceError(
            f"the stored record holds decision {record.decision_id}, not {decision_id}", Location(source)
        )
    inline = record.evidence_document()
    if inline is not None:
        return record, inline
    path = evidence_artifact(record.evidence_ref.canonical)
    value = json.loads(registry.read_text(run_id, path))
    document = evidence_from_value(value, source=f"runs:/{run_id}/{path}")
    return record, EvidenceDocument(
        value=document.value, source=document.source, sha256=record.evidence_ref.sha256
    )


def fetch_gate_record(
    name: str, version: str, stage: str | None, tracking_uri: str | None
) -> tuple[DecisionRecord, EvidenceDocument]:
    """:func:`load_gate_record` against the MLflow registry at ``tracking_uri`` (or the default)."""
    from .mlflow import MlflowRegistry, resolve_tracking_uri

    try:
        chosen = Stage(stage) if stage is not None else None
    except ValueError:
        raise ConfigError(f"unknown stage {stage!r}; choose register or deploy") from None
    return load_gate_record(MlflowRegistry(resolve_tracking_uri(None, tracking_uri)), name, version, chosen)


def load_audited_record(
    registry: Registry, entry: Mapping[str, Any]
) -> tuple[DecisionRecord, EvidenceDocument]:
    """The decision record and evidence an audit record names, checked against its digests.

    The audit record carries the artifacts' paths and sha256; an artifact that no longer has
    that digest was changed after the gate, and is refused.
    """
    stored = entry.get("records")
    run_id = entry.get("run_id")
    if not isinstance(stored, Mapping) or not isinstance(run_id, str):
        raise EvidenceError(
            "this audit record names no stored decision record", Location(f"audit #{entry.get('seq')}")
        )
    texts: dict[str, str] = {}
    for kind in ("decision", "evidence"):
        item = stored.get(kind)
        if not isinstance(item, Mapping):
            raise EvidenceError(
                f"the audit record names no {kind} artifact", Location(f"audit #{entry.get('seq')}")
            )
        text = registry.read_text(run_id, str(item["path"]))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest != item.get("sha256"):
            raise EvidenceError(
                f"the stored {kind} artifact was changed after the gate (sha256 {digest[:12]}…, audited "
                f"{str(item.get('sha256'))[:12]}…)",
                Location(str(item.get("uri") or item["path"])),
            )
        texts[kind] = text
    source = str(stored["decision"].get("uri") or stored["decision"]["path"])
    record = record_from_text(texts["decision"], source)
    if record.decision_id != entry.get("decision_id"):
        raise EvidenceError(
            f"the stored record holds decision {record.decision_id}, not {entry.get('decision_id')}",
            Location(source),
        )
    value = json.loads(texts["evidence"])
    document = evidence_from_value(
        value, source=str(stored["evidence"].get("uri") or stored["evidence"]["path"])
    )
    judged = EvidenceDocument(value=document.value, source=document.source, sha256=record.evidence_ref.sha256)
    return record, judged


def audited_gate_decisions(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The outcome records of gates that stored a decision record, one per decision, oldest first."""
    seen: set[str] = set()
    out: list[Mapping[str, Any]] = []
    for entry in records:
        decision_id = entry.get("decision_id")
        if entry.get("phase") != "outcome" or not entry.get("records") or not isinstance(decision_id, str):
            continue
        if decision_id in seen:
            continue
        seen.add(decision_id)
        out.append(entry)
    return out

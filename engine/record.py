"""The decision record: the one unit that check, gates, card, replay and the decision log share.

A record is the decision plus everything needed to read it again and to reproduce it:

* the decision itself (``schemas/decision.schema.json``);
* the effective parameters (after the built-in defaults, the risk tier, the spec and
  ``--param``), whose digest the decision carries;
* the spec (name, path, sha256 and its text, so a replay needs nothing but the record);
* the evidence: inline, or by digest and the place it is stored (an MLflow artifact);
* the policy set: its digest, whether the built-in library was applied, the extra policy
  sources, and each module's path and sha256;
* the backend (name, version) and the stage, and the day waivers were judged (``as_of``).

It round-trips through JSON losslessly (:meth:`DecisionRecord.to_dict` /
:meth:`DecisionRecord.from_dict`), and the evidence it carries is checked against its digest
when it is read back, so a record whose evidence was edited is refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .dataclass_methods import shared_methods
from .decision import Decision
from .documents import load_document, parse_document
from .errors import EvidenceError, Location
from .evidence.document import EvidenceDocument, canonical_digest
from .schemas import Schema, validate

__all__ = [
    "RECORD_KIND",
    "DecisionRecord",
    "EvidenceRef",
    "PolicyRef",
    "SpecRef",
    "load_record",
    "record_from_text",
]

RECORD_KIND = "DecisionRecord"


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class SpecRef:
    """The spec a decision was taken under: where it was, its digest and its text."""

    name: str
    path: str
    sha256: str
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "sha256": self.sha256, "text": self.text}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> SpecRef:
        return cls(str(value["name"]), str(value["path"]), str(value["sha256"]), value.get("text"))


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class EvidenceRef:
    """The evidence judged: the digest of the bytes read, of its canonical JSON, and where it is.

    ``uri`` names a stored copy (a file or an MLflow artifact) when the record does not carry
    the evidence inline.
    """

    sha256: str
    canonical: str
    source: str
    uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "canonical": self.canonical, "source": self.source, "uri": self.uri}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> EvidenceRef:
        return cls(str(value["sha256"]), str(value["canonical"]), str(value["source"]), value.get("uri"))


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class PolicyRef:
    """The policy set: digest, whether the built-in library applied, and where the rest came from."""

    digest: str
    builtin: bool
    packs: tuple[str, ...] | None
    sources: tuple[Mapping[str, str], ...] = ()  # {"path", "rego_version"} beyond the spec's own
    modules: tuple[Mapping[str, str], ...] = ()  # {"path", "rego_version", "sha256"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "builtin": self.builtin,
            "packs": list(self.packs) if self.packs is not None else None,
            "sources": [dict(s) for s in self.sources],
            "modules": [dict(m) for m in self.modules],
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> PolicyRef:
        packs = value.get("packs")
        return cls(
            digest=str(value["digest"]),
            builtin=bool(value["builtin"]),
            packs=tuple(packs) if packs is not None else None,
            sources=tuple(dict(s) for s in value.get("sources", ())),
            modules=tuple(dict(m) for m in value.get("modules", ())),
        )


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class DecisionRecord:
    """A decision with its parameters, spec, evidence and policy set."""

    decision: Decision
    params: Mapping[str, Any]
    spec: SpecRef
    evidence_ref: EvidenceRef
    policy: PolicyRef
    evidence: Mapping[str, Any] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()  # --param key.path=value, as given

    @property
    def decision_id(self) -> str:
        return self.decision.decision_id

    def with_evidence(self, inline: bool) -> DecisionRecord:
        """The same record, carrying the evidence inline or by reference only."""
        if inline:
            return self
        return replace(self, evidence=None)

    def evidence_document(self) -> EvidenceDocument | None:
        """The inline evidence as the document that was judged (digest checked on load)."""
        if self.evidence is None:
            return None
        return EvidenceDocument(
            value=dict(self.evidence), source=self.evidence_ref.source, sha256=self.evidence_ref.sha256
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "govern/v1",
            "kind": RECORD_KIND,
            "decision": copy.deepcopy(self.decision.to_dict()),
            "params": copy.deepcopy(dict(self.params)),
            "spec": self.spec.to_dict(),
            "evidence_ref": self.evidence_ref.to_dict(),
            "evidence": copy.deepcopy(dict(self.evidence)) if self.evidence is not None else None,
            "policy": self.policy.to_dict(),
            "labels": dict(self.labels),
            "overrides": list(self.overrides),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, value: Mapping[str, Any], source: str = "<record>") -> DecisionRecord:
        """A record from its JSON form; its inline evidence must match its canonical digest."""
        evidence = value.get("evidence")
        ref = EvidenceRef.from_dict(value["evidence_ref"])
        if evidence is not None and canonical_digest(evidence) != ref.canonical:
            raise EvidenceError(
                f"the record's evidence does not match its digest {ref.canonical} "
                f"(it is {canonical_digest(evidence)}): it was changed after the decision",
                Location(source, None, "evidence"),
            )
        return cls(
            decision=Decision.from_dict(value["decision"]),
            params=dict(value["params"]),
            spec=SpecRef.from_dict(value["spec"]),
            evidence_ref=ref,
            policy=PolicyRef.from_dict(value["policy"]),
            evidence=dict(evidence) if evidence is not None else None,
            labels=dict(value.get("labels") or {}),
            overrides=tuple(str(o) for o in value.get("overrides", ())),
        )


def _from_document_value(value: Any, source: str, doc: Any) -> DecisionRecord:
    if not isinstance(value, dict):
        raise EvidenceError("a decision record must be a JSON object", Location(source))
    validate(doc, Schema.DECISION_RECORD, EvidenceError)
    decision_doc = parse_document(
        json.dumps(value["decision"]).encode("utf-8"),
        f"{source} (decision)",
        EvidenceError,
        json_fast_path=True,
    )
    validate(decision_doc, Schema.DECISION, EvidenceError)
    return DecisionRecord.from_dict(value, source)


def record_from_text(text: str, source: str = "<record>") -> DecisionRecord:
    """A record from JSON text (an MLflow artifact, a pipe), validated by its schema."""
    doc = parse_document(text.encode("utf-8"), source, EvidenceError, json_fast_path=True)
    return _from_document_value(doc.value, source, doc)


def load_record(path: Path) -> DecisionRecord:
    """A record file (``govern check --format json``, a gate's artifact), validated by its schema."""
    doc, _ = load_document(path, EvidenceError, json_fast_path=True)
    return _from_document_value(doc.value, str(path), doc)

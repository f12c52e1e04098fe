"""Evidence documents on disk: load, validate against schemas/evidence.schema.json."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..documents import Document, load_document, parse_document, with_lines
from ..errors import EvidenceError
from ..schemas import Schema, validate

__all__ = ["SECTIONS", "EvidenceDocument", "canonical_digest", "evidence_from_value", "load_evidence"]

#: The sections every evidence document has whatever the packs: the model and its run.
BASE_SECTIONS = ("model", "run")


def _sections() -> tuple[str, ...]:
    from ..packs import packs

    out = list(BASE_SECTIONS)
    for pack in packs():
        if pack.evidence is not None and pack.evidence not in out:
            out.append(pack.evidence)
    return tuple(out)


#: Sections every evidence document has; each is an object or null with a reason in `missing`.
#: The model and run, then each pack's evidence section (policies/packs.yaml). ``performance``
#: is optional in the schema: documents from before it was measured stay valid.
SECTIONS = _sections()


def canonical_digest(value: Any) -> str:
    """sha256 of the canonical JSON form (sorted keys, no spaces): stable across key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EvidenceDocument:
    value: dict[str, Any]
    source: str
    sha256: str = ""  # of the bytes it was read from
    #: ``json.dumps(value)`` when the document was serialized so on its way in (an in-memory
    #: document is validated from that text), "" otherwise: the decision reuses it as the
    #: engine's input instead of serializing the evidence again.
    text: str = field(default="", repr=False, compare=False)

    @property
    def model_name(self) -> str | None:
        spec = self.value.get("spec") or {}
        name = (spec.get("metadata") or {}).get("name")
        return str(name) if name is not None else None


def _validated(
    doc: Document, raw: bytes | None, text: str = "", *, remember: bool = True
) -> EvidenceDocument:
    if not isinstance(doc.value, dict):
        raise EvidenceError("an evidence document must be a JSON object", doc.location(()))
    relocate = (lambda d: with_lines(d, raw, EvidenceError)) if raw is not None else None
    validate(doc, Schema.EVIDENCE, EvidenceError, relocate=relocate, remember=remember)
    return EvidenceDocument(value=doc.value, source=doc.source, sha256=doc.sha256, text=text)


def load_evidence(path: Path) -> EvidenceDocument:
    """Load and validate an evidence file (JSON, or YAML for hand-written fixtures)."""
    doc, raw = load_document(path, EvidenceError, json_fast_path=True)
    return _validated(doc, raw)


def evidence_from_value(value: Any, source: str = "<evidence>") -> EvidenceDocument:
    """Validate an in-memory evidence document (from a collector or a test)."""
    if not isinstance(value, dict):
        raise EvidenceError("an evidence document must be a JSON object")
    text = json.dumps(value)
    raw = text.encode("utf-8")
    doc = parse_document(raw, source, EvidenceError, json_fast_path=True)
    return _validated(doc, raw, text, remember=False)  # built for one decision: not seen again

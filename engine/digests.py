"""The digest a decision names as its ``evidence_digest``, computed in one place.

The checker stamps every decision with it; the model card recomputes it to prove that the
evidence it is given is the evidence the decision judged.
"""

from __future__ import annotations

import hashlib

from .evidence.document import EvidenceDocument, canonical_digest
from .spec import ModelSpec

__all__ = ["input_digest"]


def input_digest(evidence: EvidenceDocument, spec: ModelSpec, stage: str) -> str:
    """The evidence with this spec and this stage, as the policies saw it.

    The evidence as read (its bytes' sha256), the spec's sha256 and the stage; evidence built in
    memory without bytes is digested in its canonical JSON form with the spec and stage set.
    """
    if evidence.sha256:
        basis = f"{evidence.sha256}\0{spec.sha256}\0{stage}".encode()
        return "sha256:" + hashlib.sha256(basis).hexdigest()
    value = dict(evidence.value)
    value["spec"] = spec.data
    value["stage"] = stage
    return canonical_digest(value)

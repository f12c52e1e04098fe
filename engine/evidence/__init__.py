"""Evidence: the document policies read as ``input``.

``document`` loads and validates an evidence file (``govern check --evidence``); collectors
(one module per source, behind ``base.Collector``) build the document from MLflow and data.
"""

from __future__ import annotations

from .document import SECTIONS, EvidenceDocument, evidence_from_value, load_evidence

__all__ = ["SECTIONS", "EvidenceDocument", "evidence_from_value", "load_evidence"]

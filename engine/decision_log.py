"""Decisions as OPA decision-log events, for log pipelines that already ingest OPA's.

OPA's decision log plugin writes one JSON event per query: ``decision_id``, the ``path`` that
was queried, the ``input``, the ``result``, a ``timestamp`` (RFC 3339, UTC) and the active
bundles' revisions. :func:`decision_log_record` gives a govern decision that shape: the path is
the root package govern queries, the result is the decision document, and the "bundle" is the
policy set, whose revision is its digest. Whichever backend decided (embedded or OPA), the
event is the same, so one dashboard serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .decision import Decision

__all__ = ["BUNDLE_NAME", "decision_log_record"]

#: The bundle name under which the policy digest appears as the revision.
BUNDLE_NAME = "govern"


def decision_log_record(
    decision: Decision,
    input_doc: Mapping[str, Any],
    *,
    path: str = "govern",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An OPA decision-log event for ``decision`` taken on ``input_doc`` (the Rego input).

    ``path`` is the queried document, slash-separated without ``data`` as OPA logs it.
    ``labels`` are added to OPA's ``labels`` block (``app``, ``version``, ``backend``).
    """
    return {
        "labels": {
            "app": "govern",
            "version": decision.engine_version,
            "backend": decision.backend,
            "backend_version": decision.backend_version,
            **(labels or {}),
        },
        "decision_id": decision.decision_id,
        "bundles": {BUNDLE_NAME: {"revision": decision.policy_digest}},
        "path": path.removeprefix("data.").replace(".", "/").strip("/"),
        "input": dict(input_doc),
        "result": decision.to_dict(),
        "timestamp": decision.timestamp,
        "metrics": {},
    }

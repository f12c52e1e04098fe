"""Live evidence, whatever its source: the baseline each live metric is compared with, and drops.

A live metric with ``max_drop`` or ``max_relative_drop`` in ``requirements.live`` is compared
with the judged version's own validation value: the metric of the same name (or ``baseline``)
in the version's run. The drop is computed here, in exact decimal arithmetic, and written into
the evidence (``live.baseline`` and ``live.drops``), so that policies only compare numbers and
the embedded engine and OPA decide alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..spec import ModelSpec

__all__ = ["add_baselines"]

_PLACES = Decimal("0.000000001")  # drops are kept to nine decimals


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def add_baselines(spec: ModelSpec, live: dict[str, Any], run_metrics: dict[str, Any] | None) -> None:
    """Fill ``live["baseline"]`` and ``live["drops"]`` for the metrics that ask for a drop rule."""
    bounds = spec.requirements.live or {}
    baseline: dict[str, float] = {}
    drops: dict[str, dict[str, float | None]] = {}
    metrics = live.get("metrics") or {}
    for name, bound in sorted(bounds.items()):
        if not isinstance(bound, dict) or ("max_drop" not in bound and "max_relative_drop" not in bound):
            continue
        source = str(bound.get("baseline", name))
        base = (run_metrics or {}).get(source)
        if not isinstance(base, int | float) or isinstance(base, bool):
            continue  # no validation value: the live pack says the evidence is missing
        baseline[name] = float(base)
        value = metrics.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        higher_is_better = bool(bound.get("higher_is_better", True))
        drop = _exact(float(base)) - _exact(float(value))
        if not higher_is_better:
            drop = -drop
        relative = (drop / abs(_exact(float(base)))).quantize(_PLACES) if base != 0 else None
        drops[name] = {
            "absolute": float(drop.quantize(_PLACES)),
            "relative": float(relative) if relative is not None else None,
        }
    live["baseline"] = baseline
    live["drops"] = drops

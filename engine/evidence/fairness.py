"""Fairness evidence: group metrics per sensitive feature with fairlearn's ``MetricFrame``.

For each sensitive feature of ``spec.fairness.sensitive_features``, and for each intersection
of ``spec.fairness.intersections`` (named ``a&b``, its groups ``x&y``), the section gives the
group sizes, the groups smaller than ``min_group_size`` (listed in ``small_groups``, never
dropped), and per metric the overall value, the value per group, the difference and ratio
between groups and to the overall value (fairlearn's ``difference``/``ratio`` with
``method="between_groups"`` and ``"to_overall"``). A classifier also gets the demographic parity
difference and ratio (of ``selection_rate``) and the equalized odds difference and ratio (the
worse of ``true_positive_rate`` and ``false_positive_rate``), as fairlearn defines them.

How it scales: a classifier's metrics depend only on the confusion counts of each group, so the
rows are first counted into ``(group, y_true, y_pred)`` cells and ``MetricFrame`` runs over the
cells with the counts as ``sample_weight``: the figures are fairlearn's own (identical to
fairlearn on the rows, see tests/test_evidence_fairness.py) at a cost that does not grow with
the row count beyond one ``bincount``. Regressors run ``MetricFrame`` on the rows.

Confidence intervals (``spec.fairness.bootstrap``: ``samples``, default 200; ``seed``, default
the collection seed; ``confidence``, default 0.95) are percentile bootstrap intervals of row
resamples, put in each metric's ``ci``. For a classifier a resample of the rows is drawn as a
multinomial draw of the cell counts (the same distribution as resampling rows, at no cost per
row); for a regressor rows are resampled. A group absent from a resample is left out of it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..spec import ModelSpec
from .base import ModelContext, Progress, no_progress
from .model import is_classifier, predictions, spec_location

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CLASSIFICATION_METRICS",
    "DEFAULT_CLASSIFICATION_METRICS",
    "DEFAULT_REGRESSION_METRICS",
    "REGRESSION_METRICS",
    "FairnessSettings",
    "classification_from_cells",
    "fairness_section",
    "fairness_settings",
    "feature_from_cells",
    "feature_from_rows",
    "group_codes",
    "group_name",
]

#: Metric names a spec may list under ``fairness.metrics`` for a classifier.
CLASSIFICATION_METRICS = (
    "accuracy",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "true_negative_rate",
    "false_negative_rate",
    "precision",
    "recall",
    "f1",
)
#: ... and for a regressor.
REGRESSION_METRICS = (
    "mean_absolute_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "r2",
    "mean_prediction",
)
DEFAULT_CLASSIFICATION_METRICS = (
    "accuracy",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
)
DEFAULT_REGRESSION_METRICS = ("mean_absolute_error", "mean_squared_error", "r2")
DEFAULT_MIN_GROUP_SIZE = 30
DEFAULT_BOOTSTRAP_SAMPLES = 200
DEFAULT_CONFIDENCE = 0.95
MISSING_GROUP = "(missing)"
_INTERNAL = ("selection_rate", "true_positive_rate", "false_positive_rate")


def _functions(names: Sequence[str]) -> dict[str, Callable[..., Any]]:
    import functools

    import sklearn.metrics as skm
    from fairlearn.metrics import (
        false_negative_rate,
        false_positive_rate,
        mean_prediction,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )

    table: dict[str, Callable[..., Any]] = {
        "accuracy": skm.accuracy_score,
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "true_negative_rate": true_negative_rate,
        "false_negative_rate": false_negative_rate,
        "precision": functools.partial(skm.precision_score, zero_division=0),
        "recall": functools.partial(skm.recall_score, zero_division=0),
        "f1": functools.partial(skm.f1_score, zero_division=0),
        "mean_absolute_error": skm.mean_absolute_error,
        "mean_squared_error": skm.mean_squared_error,
        "root_mean_squared_error": skm.root_mean_squared_error,
        "r2": skm.r2_score,
        "mean_prediction": mean_prediction,
    }
    return {name: table[name] for name in names}


def _metric_names(spec: ModelSpec, classifier: bool) -> list[str]:
    fairness = spec.fairness.raw if spec.fairness else {}
    allowed = CLASSIFICATION_METRICS if classifier else REGRESSION_METRICS
    names = fairness.get("metrics")
    if names is None:
        return list(DEFAULT_CLASSIFICATION_METRICS if classifier else DEFAULT_REGRESSION_METRICS)
    out: list[str] = []
    for i, name in enumerate(names):
        if name not in allowed:
            kind = "classifier" if classifier else "regressor"
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known for a {kind}: {', '.join(allowed)}"
            raise SpecError(
                f"'{name}' is not a fairness metric govern computes for a {kind}",
                spec_location(spec, ("fairness", "metrics", i)),
                hint,
            )
        if name not in out:
            out.append(name)
    return out


def _min_group_size(spec: ModelSpec) -> int:
    from ..params import build_params

    value = build_params(spec).get("fairness", {}).get("min_group_size", DEFAULT_MIN_GROUP_SIZE)
    return int(value) if isinstance(value, int | float) else DEFAULT_MIN_GROUP_SIZE


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- groups


def _name(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return MISSING_GROUP
    return str(value)


def group_name(value: Any) -> str:
    """The name of the group of ``value``: its text, ``(missing)`` for a missing value."""
    return _name(value)


def group_codes(
    frame: pd.DataFrame, columns: Sequence[str], cache: dict[str, tuple[Any, list[str]]] | None = None
) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Integer group codes (0..G-1, groups in sorted order) and group names for ``columns``.

    One column: its values (a missing value is the group ``(missing)``). Several: the
    combinations present, named ``x&y``.
    """
    import numpy as np
    import pandas as pd

    cache = {} if cache is None else cache
    parts: list[tuple[Any, list[str]]] = []
    for column in columns:
        if column not in cache:
            codes, uniques = pd.factorize(frame[column], sort=True, use_na_sentinel=False)
            cache[column] = (np.asarray(codes, dtype=np.int64), [_name(u) for u in uniques])
        parts.append(cache[column])
    if len(parts) == 1:
        return parts[0]
    combined = np.zeros(len(frame), dtype=np.int64)
    for codes, names in parts:
        combined = combined * len(names) + codes
    present, inverse = np.unique(combined, return_inverse=True)
    labels: list[str] = []
    for combined_code in present.tolist():
        pieces: list[str] = []
        remaining = combined_code
        for _codes, names in reversed(parts):
            remaining, rest = divmod(remaining, len(names))
            pieces.append(names[rest])
        labels.append("&".join(reversed(pieces)))
    return np.asarray(inverse, dtype=np.int64).ravel(), labels


# --------------------------------------------------------------------------- point estimates


@dataclass
class _Frame:
    """A MetricFrame's figures, per metric, with groups named."""

    overall: dict[str, float | None]
    by_group: dict[str, dict[str, float | None]]
    difference: dict[str, float | None]
    ratio: dict[str, float | None]
    difference_to_overall: dict[str, float | None]
    ratio_to_overall: dict[str, float | None]


def _metric_frame(
    functions: dict[str, Callable[..., Any]],
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    codes: np.ndarray[Any, Any],
    names: list[str],
    weight: np.ndarray[Any, Any] | None,
) -> _Frame:
    import warnings

    from fairlearn.metrics import MetricFrame

    params = {k: {"sample_weight": weight} for k in functions} if weight is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's zero-division and single-label warnings
        frame = MetricFrame(
            metrics=functions, y_true=y_true, y_pred=y_pred, sensitive_features=codes, sample_params=params
        )
        aggregates = {
            "difference": frame.difference(),
            "ratio": frame.ratio(),
            "difference_to_overall": frame.difference(method="to_overall"),
            "ratio_to_overall": frame.ratio(method="to_overall"),
        }
    by_group = frame.by_group
    return _Frame(
        overall={k: _num(frame.overall[k]) for k in functions},
        by_group={k: {names[int(code)]: _num(v) for code, v in by_group[k].items()} for k in functions},
        **{agg: {k: _num(values[k]) for k in functions} for agg, values in aggregates.items()},
    )


# --------------------------------------------------------------------------- bootstrap


def _rate(num: np.ndarray[Any, Any], den: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """num / den, and 0 where den is 0 (sklearn's zero_division=0, fairlearn's rates)."""
    import numpy as np

    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_from_counts(name: str, counts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A classification metric from confusion counts ``[..., (tn, fp, fn, tp)]``; NaN where empty."""
    import numpy as np

    tn, fp, fn, tp = (counts[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    values = {
        "accuracy": lambda: _rate(tp + tn, n),
        "selection_rate": lambda: _rate(tp + fp, n),
        "true_positive_rate": lambda: _rate(tp, tp + fn),
        "recall": lambda: _rate(tp, tp + fn),
        "false_positive_rate": lambda: _rate(fp, fp + tn),
        "true_negative_rate": lambda: _rate(tn, tn + fp),
        "false_negative_rate": lambda: _rate(fn, fn + tp),
        "precision": lambda: _rate(tp, tp + fp),
        "f1": lambda: _rate(2 * tp, 2 * tp + fp + fn),
    }[name]()
    return np.where(n > 0, values, np.nan)


def regression_from_stats(name: str, stats: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A regression metric from ``[..., (n, Σ|e|, Σe², Σy, Σy², Σŷ)]``; NaN where empty."""
    import numpy as np

    n, sae, sse, sy, syy, sp = (stats[..., i] for i in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "r2":
            sst = syy - np.where(n > 0, sy * sy / np.where(n > 0, n, 1), 0.0)
            values = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1), np.where(sse == 0, 1.0, 0.0))
        else:
            values = {
                "mean_absolute_error": lambda: sae / n,
                "mean_squared_error": lambda: sse / n,
                "root_mean_squared_error": lambda: np.sqrt(sse / n),
                "mean_prediction": lambda: sp / n,
            }[name]()
    return np.where(n > 0, values, np.nan)


def _aggregates(
    by_group: np.ndarray[Any, Any], overall: np.ndarray[Any, Any]
) -> dict[str, np.ndarray[Any, Any]]:
    """fairlearn's difference/ratio (between groups, to overall) per replicate (axis 0)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = np.nanmin(by_group, axis=1), np.nanmax(by_group, axis=1)
        to_overall = by_group / overall[:, None]
        to_overall = np.where(to_overall > 1, 1 / to_overall, to_overall)
        return {
            "difference": high - low,
            "ratio": low / high,
            "difference_to_overall": np.nanmax(np.abs(by_group - overall[:, None]), axis=1),
            "ratio_to_overall": np.nanmin(to_overall, axis=1),
        }


def _interval(values: np.ndarray[Any, Any], quantiles: list[float]) -> list[float | None] | None:
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return [_num(q) for q in np.quantile(finite, quantiles)]


def _bootstrap(
    names: list[str],
    metrics: Sequence[str],
    replicate: Callable[[str], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
    settings: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    confidence = float(settings["confidence"])
    quantiles = [(1 - confidence) / 2, (1 + confidence) / 2]
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        by_group, overall = replicate(metric)
        aggregates = _aggregates(by_group, overall)
        out[metric] = {
            "method": "percentile bootstrap",
            "confidence": confidence,
            "samples": int(settings["samples"]),
            "seed": int(settings["seed"]),
            "overall": _interval(overall, quantiles),
            "by_group": {name: _interval(by_group[:, g], quantiles) for g, name in enumerate(names)},
            **{key: _interval(values, quantiles) for key, values in aggregates.items()},
        }
    return out


def _bootstrap_settings(spec: ModelSpec, ctx: ModelContext) -> dict[str, Any] | None:
    raw = spec.fairness.bootstrap if spec.fairness else None
    if raw is None:
        return None
    return {
        "samples": int(raw.get("samples", DEFAULT_BOOTSTRAP_SAMPLES)),
        "seed": int(raw.get("seed", ctx.seed)),
        "confidence": float(raw.get("confidence", DEFAULT_CONFIDENCE)),
    }


# --------------------------------------------------------------------------- per feature


def _classification_feature(
    metrics: list[str],
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    codes: np.ndarray[Any, Any],
    names: list[str],
    boot: dict[str, Any] | None,
) -> tuple[_Frame, np.ndarray[Any, Any], dict[str, dict[str, Any]] | None]:
    import numpy as np

    cells = np.bincount(codes * 4 + y_true * 2 + y_pred, minlength=len(names) * 4)
    return classification_from_cells(metrics, cells, names, boot)


def classification_from_cells(
    metrics: list[str],
    cells: np.ndarray[Any, Any],
    names: list[str],
    boot: dict[str, Any] | None,
) -> tuple[_Frame, np.ndarray[Any, Any], dict[str, dict[str, Any]] | None]:
    """A classifier's figures for one feature from its confusion cells.

    ``cells[group * 4 + y_true * 2 + y_pred]`` counts the rows of each group and outcome (groups
    numbered as ``names``, in sorted order): every figure depends on these counts alone, so the
    in-memory path (one ``bincount`` of the rows) and the streaming path (counts added batch by
    batch) share this function.
    """
    import numpy as np

    groups = len(names)
    cells = np.asarray(cells, dtype=np.int64)
    present = np.flatnonzero(cells)
    computed = list(dict.fromkeys([*metrics, *_INTERNAL]))
    frame = _metric_frame(
        _functions(computed),
        (present // 2) % 2,
        present % 2,
        present // 4,
        names,
        cells[present].astype(np.float64),
    )
    counts = cells.reshape(groups, 4)
    sizes = counts.sum(axis=1)
    ci = None
    if boot is not None:
        rng = np.random.default_rng(boot["seed"])
        draws = rng.multinomial(int(cells.sum()), cells / cells.sum(), size=boot["samples"])
        draws = draws.reshape(boot["samples"], groups, 4)

        def replicate(metric: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
            return classification_from_counts(metric, draws), classification_from_counts(
                metric, draws.sum(axis=1)
            )

        ci = _bootstrap(names, metrics, replicate, boot)
        ci[_INTERVALS] = _aggregate_intervals(draws, boot)
    return frame, sizes, ci


_INTERVALS = "\x00intervals"  # key of the aggregate intervals inside the per-metric ci dict


def _aggregate_intervals(draws: np.ndarray[Any, Any], boot: dict[str, Any]) -> dict[str, Any]:
    """Percentile intervals of demographic parity and equalized odds over the resamples."""
    import numpy as np

    confidence = float(boot["confidence"])
    quantiles = [(1 - confidence) / 2, (1 + confidence) / 2]
    overall = draws.sum(axis=1)
    rates = {
        m: _aggregates(classification_from_counts(m, draws), classification_from_counts(m, overall))
        for m in _INTERNAL
    }
    with np.errstate(invalid="ignore"):
        eod = np.fmax(rates["true_positive_rate"]["difference"], rates["false_positive_rate"]["difference"])
        eor = np.fmin(rates["true_positive_rate"]["ratio"], rates["false_positive_rate"]["ratio"])
    return {
        "confidence": confidence,
        "demographic_parity_difference": _interval(rates["selection_rate"]["difference"], quantiles),
        "demographic_parity_ratio": _interval(rates["selection_rate"]["ratio"], quantiles),
        "equalized_odds_difference": _interval(eod, quantiles),
        "equalized_odds_ratio": _interval(eor, quantiles),
    }


def regression_stats(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], codes: np.ndarray[Any, Any], groups: int
) -> np.ndarray[Any, Any]:
    """Per-group sufficient statistics ``(n, Σ|e|, Σe², Σy, Σy², Σŷ)``, shape (groups, 6)."""
    import numpy as np

    error = y_true - y_pred
    columns = [None, np.abs(error), error * error, y_true, y_true * y_true, y_pred]
    return np.stack(
        [np.bincount(codes, weights=w, minlength=groups).astype(np.float64) for w in columns], axis=-1
    )


def _regression_feature(
    metrics: list[str],
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    codes: np.ndarray[Any, Any],
    names: list[str],
    boot: dict[str, Any] | None,
) -> tuple[_Frame, np.ndarray[Any, Any], dict[str, dict[str, Any]] | None]:
    import numpy as np

    frame = _metric_frame(_functions(metrics), y_true, y_pred, codes, names, None)
    groups = len(names)
    sizes = np.bincount(codes, minlength=groups)
    ci = None
    if boot is not None:
        rng = np.random.default_rng(boot["seed"])
        rows = len(y_true)
        stats = np.empty((boot["samples"], groups, 6), dtype=np.float64)
        for b in range(boot["samples"]):
            index = rng.integers(0, rows, rows)
            stats[b] = regression_stats(y_true[index], y_pred[index], codes[index], groups)

        def replicate(metric: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
            return regression_from_stats(metric, stats), regression_from_stats(metric, stats.sum(axis=1))

        ci = _bootstrap(names, metrics, replicate, boot)
    return frame, sizes, ci


def _feature_evidence(
    metrics: list[str],
    frame: _Frame,
    sizes: np.ndarray[Any, Any],
    names: list[str],
    ci: dict[str, dict[str, Any]] | None,
    min_size: int,
    classifier: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group_sizes": {name: int(size) for name, size in zip(names, sizes.tolist(), strict=True)},
        "small_groups": [name for name, size in zip(names, sizes.tolist(), strict=True) if size < min_size],
        "metrics": {},
    }
    for metric in metrics:
        entry: dict[str, Any] = {
            "overall": frame.overall[metric],
            "by_group": frame.by_group[metric],
            "difference": frame.difference[metric],
            "ratio": frame.ratio[metric],
            "difference_to_overall": frame.difference_to_overall[metric],
            "ratio_to_overall": frame.ratio_to_overall[metric],
        }
        if ci is not None:
            entry["ci"] = ci[metric]
        out["metrics"][metric] = entry
    if ci is not None and _INTERVALS in ci:
        out["intervals"] = ci[_INTERVALS]
    if classifier:
        tpr_d, fpr_d = frame.difference["true_positive_rate"], frame.difference["false_positive_rate"]
        tpr_r, fpr_r = frame.ratio["true_positive_rate"], frame.ratio["false_positive_rate"]
        out["demographic_parity_difference"] = frame.difference["selection_rate"]
        out["demographic_parity_ratio"] = frame.ratio["selection_rate"]
        out["equalized_odds_difference"] = None if tpr_d is None or fpr_d is None else max(tpr_d, fpr_d)
        out["equalized_odds_ratio"] = None if tpr_r is None or fpr_r is None else min(tpr_r, fpr_r)
    else:
        for key in ("demographic_parity_difference", "demographic_parity_ratio"):
            out[key] = None
        for key in ("equalized_odds_difference", "equalized_odds_ratio"):
            out[key] = None
    return out


@dataclass(frozen=True)
class FairnessSettings:
    """What the spec asks of the fairness section: metrics, small-group size, bootstrap, features."""

    classifier: bool
    metrics: list[str]
    min_size: int
    boot: dict[str, Any] | None
    features: list[tuple[str, list[str]]]  # (label, columns): a sensitive feature or an intersection


def fairness_settings(ctx: ModelContext, spec: ModelSpec) -> FairnessSettings:
    """The fairness settings of ``spec`` for the model of ``ctx`` (a bad metric name: SpecError)."""
    fairness = spec.fairness.raw if spec.fairness else {}
    classifier = is_classifier(ctx)
    features: list[tuple[str, list[str]]] = [
        (name, [name]) for name in fairness.get("sensitive_features", [])
    ]
    features += [("&".join(combo), list(combo)) for combo in fairness.get("intersections", []) if combo]
    return FairnessSettings(
        classifier,
        _metric_names(spec, classifier),
        _min_group_size(spec),
        _bootstrap_settings(spec, ctx),
        features,
    )


def feature_from_cells(
    settings: FairnessSettings, cells: np.ndarray[Any, Any], names: list[str]
) -> dict[str, Any]:
    """One feature's evidence for a classifier from its confusion cells (see classification_from_cells)."""
    frame, sizes, ci = classification_from_cells(settings.metrics, cells, names, settings.boot)
    return _feature_evidence(settings.metrics, frame, sizes, names, ci, settings.min_size, True)


def feature_from_rows(
    settings: FairnessSettings,
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    codes: np.ndarray[Any, Any],
    names: list[str],
) -> dict[str, Any]:
    """One feature's evidence from row-aligned labels, predictions and group codes."""
    compute = _classification_feature if settings.classifier else _regression_feature
    frame, sizes, ci = compute(settings.metrics, y_true, y_pred, codes, names, settings.boot)
    return _feature_evidence(
        settings.metrics, frame, sizes, names, ci, settings.min_size, settings.classifier
    )


def fairness_section(
    ctx: ModelContext, spec: ModelSpec, *, progress: Progress = no_progress
) -> dict[str, Any]:
    """The ``fairness`` evidence section (schemas/evidence.schema.json) for ``ctx``."""
    settings = fairness_settings(ctx, spec)
    features = settings.features
    total = len(features) + 1
    progress("fairness: predict", 0, total)
    y_true, y_pred, _ = predictions(ctx)
    cache: dict[str, tuple[Any, list[str]]] = {}
    out: dict[str, Any] = {}
    for i, (label, columns) in enumerate(features, start=1):
        progress(f"fairness: {label}", i, total)
        codes, names = group_codes(ctx.evaluation, columns, cache)
        out[label] = feature_from_rows(settings, y_true, y_pred, codes, names)
    progress("fairness", total, total)
    from .proxy import proxy_section

    return {"rows": len(y_true), "features": out, "proxies": proxy_section(ctx, spec)}

"""Performance measured by govern: the ``performance`` evidence section.

From the model's predictions on the spec's evaluation data (:func:`.model.predictions`, one
pass), the collector computes the task's standard metrics:

- classification (one-vs-rest on the positive label): ``accuracy``, ``balanced_accuracy``,
  ``precision``, ``recall``, ``f1`` (from the predicted labels), and, when the model gives a
  score, ``roc_auc``, ``pr_auc`` (average precision), ``log_loss``, ``brier_score``, ``ks``
  (the two-sample Kolmogorov-Smirnov statistic of the scores of positives and negatives) and
  ``gini`` (``2·roc_auc − 1``);
- regression: ``rmse``, ``mae``, ``r2``.

Each value agrees with scikit-learn's function of the same name (and scipy's ``ks_2samp``) to
1e-9 (tests/test_evidence_performance.py); a metric that is undefined on the data (precision
with no positive prediction) is ``null``.

Confidence intervals: percentile bootstrap of row resamples (``performance.bootstrap`` in the
spec: ``samples``, default 200; ``seed``, default the collection seed; ``confidence``, default
0.95; ``samples: 0`` turns them off). A resample is drawn as row counts
(``bincount`` of uniform row indices) and every metric is computed with those counts as
weights, over an order of the scores sorted once: O(rows) per resample.

Metric integrity: a metric logged on the run under one of the names in :data:`ALIASES` is
compared with the measured value; ``integrity`` lists each pair with the absolute
``difference`` (computed here, so that policies only compare numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..spec import ModelSpec
from .base import ModelContext, Progress, no_progress
from .model import Predictions, is_classifier, predictions

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ALIASES",
    "CLASSIFICATION_METRICS",
    "HIGHER_IS_BETTER",
    "REGRESSION_METRICS",
    "Ranked",
    "bootstrap_settings",
    "classification_metrics",
    "performance_section",
    "regression_metrics",
]

LABEL_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
SCORE_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier_score", "ks", "gini")
CLASSIFICATION_METRICS = LABEL_METRICS + SCORE_METRICS
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: Whether a higher value of a measured metric is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    **dict.fromkeys(("accuracy", "balanced_accuracy", "precision", "recall", "f1"), True),
    **dict.fromkeys(("roc_auc", "pr_auc", "ks", "gini", "r2"), True),
    **dict.fromkeys(("log_loss", "brier_score", "rmse", "mae"), False),
}
#: Logged metric names read as a measured metric (exact names first).
ALIASES: dict[str, str] = {
    **{name: name for name in CLASSIFICATION_METRICS + REGRESSION_METRICS},
    "auc": "roc_auc",
    "roc_auc_score": "roc_auc",
    "average_precision": "pr_auc",
    "f1_score": "f1",
    "accuracy_score": "accuracy",
    "precision_score": "precision",
    "recall_score": "recall",
    "brier": "brier_score",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "r2_score": "r2",
}
DEFAULT_SAMPLES = 200
DEFAULT_CONFIDENCE = 0.95


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


# --------------------------------------------------------------------------- label metrics


def _from_counts(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    total = tp + fp + fn + tn
    tpr, tnr = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    return {
        "accuracy": _ratio(tp + tn, total),
        "balanced_accuracy": (tpr + tnr) / 2,
        "precision": _ratio(tp, tp + fp),
        "recall": tpr,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


# --------------------------------------------------------------------------- score metrics


def _dot(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """The dot product of two vectors, without BLAS.

    A BLAS ``ddot`` may hand a vector this size to several threads; on a busy machine those
    threads wait for each other and one call took milliseconds instead of microseconds, which the
    bootstrap's hundreds of calls turned into seconds. ``einsum`` computes it in one thread.
    """
    import numpy as np

    return float(np.einsum("i,i->", a, b))


class Ranked:
    """Scores sorted once (descending), with tie blocks, for weighted ranking metrics."""

    def __init__(self, y_true: np.ndarray[Any, Any], y_score: np.ndarray[Any, Any]) -> None:
        import numpy as np

        order = np.argsort(-y_score, kind="mergesort")
        self.order = order
        self.y = y_true[order].astype(np.float64)
        self.score = y_score[order].astype(np.float64)
        starts = np.flatnonzero(np.r_[True, self.score[1:] != self.score[:-1]])
        self.starts = starts  # first index of each block of tied scores
        eps = np.finfo(np.float64).eps
        p = np.clip(y_score, eps, 1 - eps)
        self.loss = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))  # row order
        self.sq = (y_score - y_true) ** 2

    def metrics(self, w: np.ndarray[Any, Any] | None) -> dict[str, float]:
        """Ranking metrics with row weights ``w`` (None: every row once); row order for ``w``."""
        import numpy as np

        ws = np.ones_like(self.y) if w is None else w[self.order].astype(np.float64)
        pos_w = np.add.reduceat(ws * self.y, self.starts)  # per tie block, descending score
        neg_w = np.add.reduceat(ws * (1 - self.y), self.starts)
        tps, fps = np.cumsum(pos_w), np.cumsum(neg_w)
        p_total, n_total = float(tps[-1]), float(fps[-1])
        out: dict[str, float] = {}
        if p_total > 0 and n_total > 0:
            # AUC: each positive beats the negatives below it, ties count half.
            neg_below = n_total - fps
            auc = float(np.sum(pos_w * (neg_below + neg_w / 2))) / (p_total * n_total)
            out["roc_auc"] = auc
            out["gini"] = 2 * auc - 1
            out["ks"] = float(np.max(np.abs(tps / p_total - fps / n_total)))
        else:
            out.update(roc_auc=math.nan, gini=math.nan, ks=math.nan)
        if p_total > 0:
            seen = tps + fps  # zero only for blocks of zero weight, whose recall step is 0
            precision = np.divide(tps, seen, out=np.zeros_like(tps), where=seen > 0)
            recall = tps / p_total
            out["pr_auc"] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
        else:
            out["pr_auc"] = math.nan
        total = float(np.sum(ws))
        weights = np.ones_like(self.loss) if w is None else w
        out["log_loss"] = _dot(weights, self.loss) / total
        out["brier_score"] = _dot(weights, self.sq) / total
        return out


def classification_metrics(
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    ranked: Ranked | None,
    w: np.ndarray[Any, Any] | None = None,
) -> dict[str, float]:
    """Every classification metric (NaN when undefined), rows weighted by ``w``."""
    import numpy as np

    cells = np.bincount(y_true * 2 + y_pred, weights=w, minlength=4).astype(np.float64)
    tn, fp, fn, tp = (float(c) for c in cells)
    out = _from_counts(tp, fp, fn, tn)
    if ranked is not None:
        out.update(ranked.metrics(w))
    return out


def regression_metrics(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], w: np.ndarray[Any, Any] | None = None
) -> dict[str, float]:
    import numpy as np

    weights = np.ones_like(y_true) if w is None else w.astype(np.float64)
    total = float(np.sum(weights))
    error = y_true - y_pred
    mean = _dot(weights, y_true) / total
    ss_res = _dot(weights, error * error)
    ss_tot = _dot(weights, (y_true - mean) ** 2)
    return {
        "rmse": math.sqrt(ss_res / total),
        "mae": _dot(weights, np.abs(error)) / total,
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else math.nan,
    }


# --------------------------------------------------------------------------- the section


def bootstrap_settings(spec: ModelSpec, ctx: ModelContext) -> dict[str, Any]:
    raw = spec.performance.get("bootstrap") or {}
    return {
        "method": "percentile bootstrap",
        "samples": int(raw.get("samples", DEFAULT_SAMPLES)),
        "seed": int(raw.get("seed", ctx.seed)),
        "confidence": float(raw.get("confidence", DEFAULT_CONFIDENCE)),
    }


def _measure(
    ctx: ModelContext, given: Predictions | None = None
) -> tuple[Callable[[np.ndarray[Any, Any] | None], dict[str, float]], int]:
    pred = predictions(ctx) if given is None else given
    if is_classifier(ctx):
        ranked = Ranked(pred.y_true, pred.y_score) if pred.y_score is not None else None
        return (lambda w: classification_metrics(pred.y_true, pred.y_pred, ranked, w)), len(pred.y_true)
    return (lambda w: regression_metrics(pred.y_true, pred.y_pred, w)), len(pred.y_true)


def _integrity(logged: Mapping[str, Any], measured: dict[str, float | None]) -> list[dict[str, Any]]:
    out = []
    for name, value in sorted(logged.items()):
        metric = ALIASES.get(name)
        if metric is None or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        got = measured.get(metric)
        if got is None or not math.isfinite(float(value)):
            continue
        out.append(
            {
                "logged_as": name,
                "metric": metric,
                "logged": float(value),
                "measured": got,
                "difference": abs(float(value) - got),
            }
        )
    return out


def performance_section(
    ctx: ModelContext,
    spec: ModelSpec,
    *,
    logged: Mapping[str, Any] | None = None,
    progress: Progress = no_progress,
    given: Predictions | None = None,
) -> dict[str, Any]:
    """The ``performance`` evidence section (schemas/evidence.schema.json) for ``ctx``.

    ``given``: predictions already made (the streaming path's, over every row), instead of
    predicting on ``ctx.evaluation``.
    """
    import numpy as np

    progress("performance: predict", 0, 2)
    measure, rows = _measure(ctx, given)
    point = {k: _num(v) for k, v in measure(None).items()}
    settings = bootstrap_settings(spec, ctx)
    intervals: dict[str, list[float | None] | None] = dict.fromkeys(point)
    if settings["samples"] > 0:
        progress("performance: bootstrap", 1, 2)
        rng = np.random.default_rng(settings["seed"])
        replicates: dict[str, list[float]] = {k: [] for k in point}
        for _ in range(settings["samples"]):
            w = np.bincount(rng.integers(0, rows, rows), minlength=rows).astype(np.float64)
            for key, value in measure(w).items():
                replicates[key].append(value)
        half = (1 - settings["confidence"]) / 2
        for key, values in replicates.items():
            finite = np.asarray(values)[np.isfinite(values)]
            intervals[key] = (
                [_num(q) for q in np.quantile(finite, [half, 1 - half])]
                if finite.size and point[key] is not None
                else None
            )
    progress("performance", 2, 2)
    return {
        "task": "classification" if is_classifier(ctx) else "regression",
        "rows": rows,
        "positive_label": None if ctx.positive_label is None else str(ctx.positive_label),
        "bootstrap": settings if settings["samples"] > 0 else None,
        "metrics": {
            name: {"value": value, "ci": intervals[name], "higher_is_better": HIGHER_IS_BETTER[name]}
            for name, value in point.items()
        },
        "integrity": _integrity(logged or {}, point),
    }


# --------------------------------------------------------------------------- champion


DEFAULT_ALPHA = 0.05


def _comparisons(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric → {test, margin, alpha} from ``requirements.champion`` (its metric, then ``compare``)."""
    alpha = float(config.get("alpha", DEFAULT_ALPHA))
    out: dict[str, dict[str, Any]] = {}
    metric = config.get("metric")
    if isinstance(metric, str):
        out[metric] = {
            "test": str(config.get("test", "point")),
            "margin": float(config.get("margin", config.get("max_regression") or 0.0)),
            "alpha": alpha,
        }
    for name, raw in (config.get("compare") or {}).items():
        out[str(name)] = {
            "test": str(raw.get("test", "superiority")),
            "margin": float(raw.get("margin", 0.0)),
            "alpha": float(raw.get("alpha", alpha)),
        }
    return out


def champion_comparison(
    ctx: ModelContext,
    spec: ModelSpec,
    champion_uri: str,
    champion: Any,  # Predictions of the champion on ctx.evaluation
    *,
    alias: str,
    version: str | None,
    given: Predictions | None = None,
) -> dict[str, Any]:
    """The challenger (``ctx``) against the champion on the same rows: ``performance.champion``."""
    from .significance import compare

    config = spec.requirements.champion.raw if spec.requirements.champion else {}
    settings = bootstrap_settings(spec, ctx)
    mine = predictions(ctx) if given is None else given
    classifier = is_classifier(ctx)
    sides = (champion, mine)
    ranked = [Ranked(p.y_true, p.y_score) if classifier and p.y_score is not None else None for p in sides]

    def metric_of(name: str) -> Callable[[int, np.ndarray[Any, Any] | None], float]:
        def value(side: int, w: np.ndarray[Any, Any] | None) -> float:
            p = sides[side]
            if classifier:
                values = classification_metrics(p.y_true, p.y_pred, ranked[side], w)
            else:
                values = regression_metrics(p.y_true, p.y_pred, w)
            return values.get(name, math.nan)

        return value

    known = CLASSIFICATION_METRICS if classifier else REGRESSION_METRICS
    out: dict[str, Any] = {}
    unknown: list[str] = []
    for name, how in _comparisons(config).items():
        metric = ALIASES.get(name, name)
        if metric not in known or (metric in SCORE_METRICS and any(r is None for r in ranked)):
            unknown.append(name)
            continue
        result = compare(
            metric,
            mine.y_true,
            (champion.y_pred, champion.y_score),
            (mine.y_pred, mine.y_score),
            metric_of(metric),
            higher_is_better=HIGHER_IS_BETTER[metric],
            mode=how["test"],
            margin=how["margin"],
            samples=settings["samples"]
            or DEFAULT_SAMPLES,  # a test needs resamples even when the CIs are off
            seed=settings["seed"],
            confidence=settings["confidence"],
        )
        result["alpha"] = how["alpha"]
        out[name] = result
    return {
        "model_uri": champion_uri,
        "alias": alias,
        "version": version,
        "rows": len(mine.y_true),
        "data_sha256": next((v for k, v in sorted(ctx.inputs.items()) if k.startswith("evaluation:")), None),
        "comparisons": out,
        "not_measurable": unknown,
    }

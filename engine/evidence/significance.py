"""Paired significance tests of a challenger against a champion on the same rows.

- :func:`delong`: DeLong, DeLong & Clarke-Pearson (1988) test for two correlated ROC AUCs, in
  the O(n log n) form of Sun & Xu (2014, "Fast implementation of DeLong's algorithm for
  comparing the areas under correlated receiver operating characteristic curves", IEEE Signal
  Processing Letters 21(11)).
- :func:`mcnemar`: McNemar's test on the discordant pairs of two classifiers' correctness: the
  exact binomial test when fewer than :data:`EXACT_BELOW` pairs are discordant, else the
  chi-square statistic with continuity correction (statsmodels' ``mcnemar`` conventions).
- :func:`paired_bootstrap`: any metric, the same row resample applied to both models.

:func:`compare` judges one metric under the spec's mode:

- ``superiority``: H0 "the challenger is not better"; ``p_value`` is one-sided.
- ``non_inferiority``: H0 "the challenger is worse by at least ``margin``"; ``p_value`` is
  one-sided (normal approximation for DeLong and for the paired accuracy difference, bootstrap
  share otherwise).
- ``point``: no test; the point estimates alone (``p_value`` null).

Every result states the improvement (challenger minus champion, sign turned so that positive is
better for metrics where lower is better), its interval, the two-sided p-value of the plain
difference test, and the test used. Policies compare these numbers with ``alpha`` and
``max_regression``; no arithmetic is left to them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "EXACT_BELOW",
    "MODES",
    "DeLong",
    "McNemar",
    "compare",
    "delong",
    "mcnemar",
    "paired_bootstrap",
]

MODES = ("superiority", "non_inferiority", "point")
EXACT_BELOW = 25


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _norm_ppf(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


# --------------------------------------------------------------------------- DeLong


@dataclass(frozen=True)
class DeLong:
    auc_a: float
    auc_b: float
    difference: float  # auc_b - auc_a
    se: float  # standard error of the difference
    z: float
    p_value: float  # two-sided


def _aucs_and_components(
    y_true: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """AUCs and the structural components V10 (per positive) and V01 (per negative)."""
    import numpy as np
    from scipy.stats import rankdata

    positive = y_true == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes")
    x, y = scores[:, positive], scores[:, ~positive]
    tx = rankdata(x, axis=1)  # midranks (Sun & Xu's "midrank")
    ty = rankdata(y, axis=1)
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # for each positive: share of negatives it beats (ties half)
    v01 = 1 - (tz[:, m:] - ty) / m  # for each negative: share of positives that beat it
    return aucs, v10, v01


def delong(
    y_true: np.ndarray[Any, Any], score_a: np.ndarray[Any, Any], score_b: np.ndarray[Any, Any]
) -> DeLong:
    """DeLong's test of ``AUC(b) - AUC(a)`` on the same rows (0/1 ``y_true``)."""
    import numpy as np

    aucs, v10, v01 = _aucs_and_components(y_true, np.vstack([score_a, score_b]).astype(np.float64))
    m, n = v10.shape[1], v01.shape[1]
    s = np.cov(v10) / m + np.cov(v01) / n
    variance = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    diff = float(aucs[1] - aucs[0])
    se = math.sqrt(max(variance, 0.0))
    z = diff / se if se else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return DeLong(float(aucs[0]), float(aucs[1]), diff, se, z, min(1.0, 2 * _norm_sf(abs(z))))


# --------------------------------------------------------------------------- McNemar


@dataclass(frozen=True)
class McNemar:
    only_a: int  # rows only model a gets right
    only_b: int  # rows only model b gets right
    statistic: float  # exact: min(only_a, only_b); else the corrected chi-square
    p_value: float  # two-sided
    exact: bool


def mcnemar(correct_a: np.ndarray[Any, Any], correct_b: np.ndarray[Any, Any]) -> McNemar:
    """McNemar's test of two classifiers' correctness on the same rows."""
    import numpy as np
    from scipy.stats import binom, chi2

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_a + only_b
    if discordant == 0:
        return McNemar(only_a, only_b, 0.0, 1.0, True)
    if discordant < EXACT_BELOW:
        low = min(only_a, only_b)
        p = min(1.0, 2 * float(binom.cdf(low, discordant, 0.5)))
        return McNemar(only_a, only_b, float(low), p, True)
    stat = (abs(only_a - only_b) - 1) ** 2 / discordant
    return McNemar(only_a, only_b, float(stat), float(chi2.sf(stat, 1)), False)


def _mcnemar_superiority(test: McNemar) -> float:
    """One-sided p of "b is not better than a"."""
    from scipy.stats import binom

    discordant = test.only_a + test.only_b
    if discordant == 0:
        return 1.0
    if test.exact:
        return float(binom.sf(test.only_b - 1, discordant, 0.5))  # P(X >= only_b)
    z = (test.only_b - test.only_a - 1) / math.sqrt(discordant)  # continuity corrected
    return _norm_sf(z)


# --------------------------------------------------------------------------- bootstrap


def paired_bootstrap(
    rows: int,
    metric: Callable[[np.ndarray[Any, Any] | None], tuple[float, float]],
    *,
    samples: int,
    seed: int,
) -> np.ndarray[Any, Any]:
    """Replicates of ``metric(weights) -> (value a, value b)`` over the same row resamples."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((samples, 2), dtype=np.float64)
    for i in range(samples):
        w = np.bincount(rng.integers(0, rows, rows), minlength=rows).astype(np.float64)
        out[i] = metric(w)
    return out


# --------------------------------------------------------------------------- one metric


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compare(
    metric: str,
    y_true: np.ndarray[Any, Any],
    champion: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None],
    challenger: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None],
    value: Callable[[int, np.ndarray[Any, Any] | None], float],
    *,
    higher_is_better: bool,
    mode: str,
    margin: float,
    samples: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """Compare one metric; ``value(side, weights)`` is the metric of side 0 (champion) or 1.

    ``champion``/``challenger`` are ``(y_pred, y_score)`` of each model, row-aligned.
    """
    import numpy as np

    if mode not in MODES:
        raise ValueError(f"unknown comparison mode {mode!r}")
    sign = 1.0 if higher_is_better else -1.0
    a, b = value(0, None), value(1, None)
    improvement = sign * (b - a)
    z_half = _norm_ppf(1 - (1 - confidence) / 2)
    out: dict[str, Any] = {
        "metric": metric,
        "mode": mode,
        "margin": margin,
        "champion": _finite(a),
        "challenger": _finite(b),
        "improvement": _finite(improvement),
        "regression": _finite(-improvement),
        "confidence": confidence,
    }
    rows = len(y_true)
    if metric == "roc_auc" and champion[1] is not None and challenger[1] is not None:
        out.update(_by_delong(y_true, champion[1], challenger[1], improvement, mode, margin, z_half))
        return out
    if metric == "accuracy":
        out.update(_by_mcnemar(y_true, champion[0], challenger[0], mode, margin, z_half))
        return out
    reps = paired_bootstrap(rows, lambda w: (value(0, w), value(1, w)), samples=samples, seed=seed)
    diffs = sign * (reps[:, 1] - reps[:, 0])
    diffs = diffs[np.isfinite(diffs)]
    out["test"] = "paired bootstrap"
    out["samples"] = samples
    out["seed"] = seed
    if diffs.size == 0:
        out.update(statistic=None, p_value_two_sided=None, ci=None, p_value=None)
        return out
    half = (1 - confidence) / 2
    out["statistic"] = None
    below = (float(np.sum(diffs <= 0)) + 1) / (diffs.size + 1)
    above = (float(np.sum(diffs >= 0)) + 1) / (diffs.size + 1)
    out["p_value_two_sided"] = min(1.0, 2 * min(below, above))
    out["ci"] = [_finite(q) for q in np.quantile(diffs, [half, 1 - half])]
    if mode == "superiority":
        out["p_value"] = below
    elif mode == "non_inferiority":
        out["p_value"] = (float(np.sum(diffs <= -margin)) + 1) / (diffs.size + 1)
    else:
        out["p_value"] = None
    return out


def _by_delong(
    y_true: np.ndarray[Any, Any],
    score_a: np.ndarray[Any, Any],
    score_b: np.ndarray[Any, Any],
    improvement: float,
    mode: str,
    margin: float,
    z_half: float,
) -> dict[str, Any]:
    test = delong(y_true, score_a, score_b)
    se = test.se
    shift = margin if mode == "non_inferiority" else 0.0
    return {
        "test": "DeLong (Sun & Xu fast algorithm)",
        "statistic": _finite(test.z),
        "p_value_two_sided": test.p_value,
        "ci": [_finite(improvement - z_half * se), _finite(improvement + z_half * se)],
        "p_value": None if mode == "point" else _one_sided(improvement + shift, se),
    }


def _by_mcnemar(
    y_true: np.ndarray[Any, Any],
    pred_a: np.ndarray[Any, Any],
    pred_b: np.ndarray[Any, Any],
    mode: str,
    margin: float,
    z_half: float,
) -> dict[str, Any]:
    rows = len(y_true)
    test = mcnemar(pred_a == y_true, pred_b == y_true)
    d = (test.only_b - test.only_a) / rows
    se = math.sqrt(max(test.only_a + test.only_b - rows * d * d, 0.0)) / rows
    if mode == "superiority":
        p: float | None = _mcnemar_superiority(test)
    elif mode == "non_inferiority":
        p = _one_sided(d + margin, se)
    else:
        p = None
    return {
        "test": "McNemar exact binomial" if test.exact else "McNemar chi-square (continuity corrected)",
        "statistic": test.statistic,
        "discordant": {"champion_only": test.only_a, "challenger_only": test.only_b},
        "p_value_two_sided": test.p_value,
        "ci": [_finite(d - z_half * se), _finite(d + z_half * se)],
        "p_value": p,
    }


def _one_sided(shifted: float, se: float) -> float:
    """p of H0 "true value <= 0" given the estimate ``shifted`` with standard error ``se``."""
    if se == 0:
        return 0.0 if shifted > 0 else 1.0
    return _norm_sf(shifted / se)

"""Proxy check: how strongly each model input is associated with each sensitive feature.

A model that never sees ``sex`` can still use it through a column that encodes it (German
Credit's ``personal_status`` mixes sex with marital status). For every model input that is not
itself a sensitive feature, and every sensitive feature of ``spec.fairness.sensitive_features``,
the association on the evaluation rows is measured by the pair's types:

- categorical × categorical: **Cramér's V** (``sqrt(chi² / (n · (min(r, c) − 1)))``, no
  continuity or bias correction; scipy's ``association(..., method="cramer")``);
- numeric × categorical: the **correlation ratio** η (``sqrt(between-group / total sum of
  squares)``), which is in [0, 1] like Cramér's V;
- numeric × numeric: the absolute **Spearman** rank correlation.

A column is numeric when its dtype is (booleans count as categorical) and it has more than
:data:`NUMERIC_MIN_DISTINCT` distinct values; missing values are a category of their own for a
categorical column and dropped pairwise for a numeric one. Every value is in [0, 1]; the
section also gives the normalized mutual information of the categorical pairs (scikit-learn's
``normalized_mutual_info_score``, arithmetic mean) for reference. Policies compare ``value``
with ``params.fairness.proxy_threshold``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..spec import ModelSpec
from .base import ModelContext

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["NUMERIC_MIN_DISTINCT", "association", "correlation_ratio", "cramers_v", "proxy_section"]

NUMERIC_MIN_DISTINCT = 10


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return False
    return int(series.nunique(dropna=True)) > NUMERIC_MIN_DISTINCT


def _codes(series: pd.Series) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    codes, _ = pd.factorize(series.astype("object").where(series.notna(), "<missing>"))
    return np.asarray(codes, dtype=np.int64)


def cramers_v(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Cramér's V of two integer-coded categorical arrays."""
    import numpy as np

    rows, cols = int(a.max()) + 1, int(b.max()) + 1
    table = np.bincount(a * cols + b, minlength=rows * cols).reshape(rows, cols).astype(np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    k = min(table.shape) - 1
    if k <= 0:
        return 0.0
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(np.sum((table - expected) ** 2 / expected))
    return math.sqrt(chi2 / (n * k))


def correlation_ratio(groups: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> float:
    """η of numeric ``values`` over integer-coded ``groups`` (NaN values dropped)."""
    import numpy as np

    ok = np.isfinite(values)
    groups, values = groups[ok], values[ok]
    if values.size == 0:
        return 0.0
    total = float(np.sum((values - values.mean()) ** 2))
    if total == 0:
        return 0.0
    count = np.bincount(groups)
    sums = np.bincount(groups, weights=values)
    present = count > 0
    means = sums[present] / count[present]
    between = float(np.sum(count[present] * (means - values.mean()) ** 2))
    return math.sqrt(min(max(between / total, 0.0), 1.0))


def association(feature: pd.Series, sensitive: pd.Series) -> tuple[str, float]:
    """(method, value in [0, 1]) of two columns, by their types."""
    import numpy as np
    import pandas as pd

    numeric_f, numeric_s = _is_numeric(feature), _is_numeric(sensitive)
    if numeric_f and numeric_s:
        pair = pd.DataFrame({"f": feature, "s": sensitive}).dropna()
        if len(pair) < 3:
            return "spearman", 0.0
        rho = pair["f"].rank().corr(pair["s"].rank())
        return "spearman", abs(float(rho)) if math.isfinite(rho) else 0.0
    if numeric_f:
        return "correlation_ratio", correlation_ratio(
            _codes(sensitive), feature.to_numpy(dtype=np.float64, na_value=np.nan)
        )
    if numeric_s:
        return "correlation_ratio", correlation_ratio(
            _codes(feature), sensitive.to_numpy(dtype=np.float64, na_value=np.nan)
        )
    return "cramers_v", cramers_v(_codes(feature), _codes(sensitive))


def proxy_section(ctx: ModelContext, spec: ModelSpec) -> dict[str, Any]:
    """``fairness.proxies``: one entry per (model input, sensitive feature), strongest first."""
    from sklearn.metrics import normalized_mutual_info_score

    sensitive = list(spec.fairness.sensitive_features) if spec.fairness else []
    frame = ctx.evaluation
    out: list[dict[str, Any]] = []
    for name in sensitive:
        for feature in ctx.features:
            if feature in sensitive or feature not in frame.columns:
                continue
            method, value = association(frame[feature], frame[name])
            entry: dict[str, Any] = {
                "feature": feature,
                "sensitive_feature": name,
                "method": method,
                "value": value,
            }
            if method == "cramers_v":
                entry["normalized_mutual_info"] = float(
                    normalized_mutual_info_score(_codes(frame[name]), _codes(frame[feature]))
                )
            out.append(entry)
    out.sort(key=lambda e: (-e["value"], e["sensitive_feature"], e["feature"]))
    return {"rows": len(frame), "pairs": out}

"""Data evidence: profile of the evaluation (and reference) data, schema, ranges, and drift.

- **profile**: rows, and per column its dtype and share of null values.
- **schema_violations**: the evaluation data against the model signature (a required column
  with nulls; missing columns and wrong types already stop :func:`load_model_context`), the
  reference data against the signature (prefixed ``reference data:``), and features whose kind
  (numeric or categorical) differs between the two.
- **range_violations**: per column declared in ``data.evaluation.ranges``, the number of
  non-null values below ``min`` or above ``max`` (0 when none).
- **drift** between reference and evaluation, per model feature present in both, on the
  non-null values. A feature is *numeric* when its dtype is numeric (not boolean) in both
  datasets, else *categorical*.

  numeric
      ``ks_statistic`` and ``p_value`` of ``scipy.stats.ks_2samp`` (two-sided, method auto);
      ``psi`` over 10 quantile bins of the reference: edges at the reference's 10 %, ..., 90 %
      quantiles (``numpy.quantile``'s linear method), duplicates merged, the first and last
      bins open-ended, bin *i* holding ``edge[i-1] <= x < edge[i]``.
  categorical
      ``chi2_statistic`` and ``p_value`` of ``scipy.stats.chi2_contingency`` on the 2 × k table
      of category counts (reference, evaluation; scipy's default Yates correction when k = 2);
      ``js_distance``, ``scipy.spatial.distance.jensenshannon`` of the two category
      distributions, base 2 (0 = identical, 1 = disjoint); ``psi`` over the categories.

  PSI = Σ (e - r) · ln(e / r) over the bins' shares r (reference) and e (evaluation), an empty
  bin's share replaced by ``PSI_EPSILON`` = 1e-6.

Everything is vectorized per column: each numeric column is sorted once (quantiles and bin
counts are read off the sorted arrays), each categorical one counted once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..spec import ModelSpec
from .base import ModelContext, Progress, no_progress
from .model import signature_violations, spec_location

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "PSI_BINS",
    "PSI_EPSILON",
    "categorical_drift",
    "categorical_drift_counts",
    "data_section",
    "numeric_drift",
    "outside_range",
    "profile",
    "psi",
    "quantile_edges",
]

PSI_BINS = 10
PSI_EPSILON = 1e-6


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def profile(frame: pd.DataFrame, name: str | None) -> dict[str, Any]:
    """Rows, and per column its dtype and null share."""
    rows = len(frame)
    nulls = frame.isna().sum()
    return {
        "name": name,
        "rows": rows,
        "columns": {
            str(column): {
                "dtype": str(frame[column].dtype),
                "null_share": float(nulls[column]) / rows if rows else 0.0,
            }
            for column in frame.columns
        },
    }


def psi(reference: np.ndarray[Any, Any], current: np.ndarray[Any, Any]) -> float:
    """Population stability index of two count (or share) vectors over the same bins."""
    import numpy as np

    r = reference / reference.sum()
    e = current / current.sum()
    r = np.where(r > 0, r, PSI_EPSILON)
    e = np.where(e > 0, e, PSI_EPSILON)
    return float(np.sum((e - r) * np.log(e / r)))


def quantile_edges(sorted_values: np.ndarray[Any, Any], bins: int = PSI_BINS) -> np.ndarray[Any, Any]:
    """The interior quantile edges (``numpy.quantile``, linear) of sorted values, duplicates merged."""
    import numpy as np

    n = len(sorted_values)
    position = np.linspace(0.0, 1.0, bins + 1)[1:-1] * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    fraction = position - low
    a, b = sorted_values[low], sorted_values[high]
    # numpy's _lerp, so that the edges equal numpy.quantile's
    diff = b - a
    edges = np.where(fraction >= 0.5, b - diff * (1 - fraction), a + diff * fraction)
    return np.unique(edges)


def _bin_counts(sorted_values: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    import numpy as np

    cuts = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], cuts, [len(sorted_values)]))).astype(np.float64)


def numeric_drift(reference: np.ndarray[Any, Any], current: np.ndarray[Any, Any]) -> dict[str, Any]:
    """KS statistic and p-value, and PSI over reference quantile bins (non-null float arrays)."""
    import numpy as np
    from scipy.stats import ks_2samp

    out: dict[str, Any] = {"kind": "numeric", "ks_statistic": None, "p_value": None, "psi": None}
    if len(reference) == 0 or len(current) == 0:
        return out
    ref = np.sort(reference)
    cur = np.sort(current)
    result = ks_2samp(ref, cur)
    edges = quantile_edges(ref)
    out["ks_statistic"] = _num(result.statistic)
    out["p_value"] = _num(result.pvalue)
    out["psi"] = _num(psi(_bin_counts(ref, edges), _bin_counts(cur, edges)))
    return out


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """Chi-square statistic and p-value, Jensen-Shannon distance (base 2), PSI over categories."""
    return categorical_drift_counts(reference.value_counts(dropna=True), current.value_counts(dropna=True))


def categorical_drift_counts(ref_counts: pd.Series, cur_counts: pd.Series) -> dict[str, Any]:
    """:func:`categorical_drift` from the category counts (category → non-null count) of each side."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    out: dict[str, Any] = {
        "kind": "categorical",
        "chi2_statistic": None,
        "p_value": None,
        "js_distance": None,
        "psi": None,
    }
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return out
    table = pd.concat([ref_counts, cur_counts], axis=1, sort=False).fillna(0)
    counts = table.to_numpy(dtype=np.float64).T  # 2 × k
    if counts.shape[1] < 2:
        out.update(chi2_statistic=0.0, p_value=1.0, js_distance=0.0, psi=0.0)
        return out
    chi2 = chi2_contingency(counts)
    out["chi2_statistic"] = _num(chi2.statistic)
    out["p_value"] = _num(chi2.pvalue)
    out["js_distance"] = _num(jensenshannon(counts[0] / counts[0].sum(), counts[1] / counts[1].sum(), base=2))
    out["psi"] = _num(psi(counts[0], counts[1]))
    return out


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype))


def _values(series: pd.Series) -> np.ndarray[Any, Any]:
    import numpy as np

    values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    kept: np.ndarray[Any, Any] = values[~np.isnan(values)]
    return kept


def _dataset_name(spec: ModelSpec, key: str) -> str | None:
    dataset = spec.datasets.get(key)
    ds = dataset.raw if dataset is not None else {}
    raw = ds.get("path") or ds.get("uri") or ds.get("mlflow_dataset")
    if not isinstance(raw, str):
        return None
    name = Path(raw.rstrip("/")).name
    for suffix in (".csv", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name


def _ranges(ctx: ModelContext, spec: ModelSpec) -> dict[str, int]:
    ds = spec.datasets.evaluation.raw if spec.datasets.evaluation is not None else {}
    out: dict[str, int] = {}
    for column, bound in (ds.get("ranges") or {}).items():
        where = ("data", "evaluation", "ranges", column)
        if column not in ctx.evaluation.columns:
            raise SpecError(
                f"a range is declared for '{column}', which is not a column of the evaluation data",
                spec_location(spec, where),
            )
        series = ctx.evaluation[column]
        if not _is_numeric(series):
            raise SpecError(
                f"a range is declared for '{column}', whose values are not numbers ({series.dtype})",
                spec_location(spec, where),
            )
        out[str(column)] = outside_range(_values(series), bound)
    return out


def outside_range(values: np.ndarray[Any, Any], bound: dict[str, Any]) -> int:
    """How many of the non-null ``values`` are below ``bound['min']`` or above ``bound['max']``."""
    outside = 0
    if "min" in bound:
        outside += int((values < bound["min"]).sum())
    if "max" in bound:
        outside += int((values > bound["max"]).sum())
    return outside


def data_section(ctx: ModelContext, spec: ModelSpec, *, progress: Progress = no_progress) -> dict[str, Any]:
    """The ``data`` evidence section (schemas/evidence.schema.json) for ``ctx``."""
    evaluation, reference = ctx.evaluation, ctx.reference
    columns = [f for f in ctx.features if f in evaluation.columns]
    total = len(columns) + 1 if reference is not None else 1
    progress("data: profile", 0, total)
    violations = [v.message for v in signature_violations(evaluation, ctx.signature)]
    section: dict[str, Any] = {
        "evaluation": profile(evaluation, _dataset_name(spec, "evaluation")),
        "reference": None,
        "drift": None,
        "schema_violations": violations,
        "range_violations": _ranges(ctx, spec),
    }
    if reference is not None:
        section["reference"] = profile(reference, _dataset_name(spec, "reference"))
        violations += [f"reference data: {v.message}" for v in signature_violations(reference, ctx.signature)]
        drift: dict[str, Any] = {}
        for i, column in enumerate(columns, start=1):
            progress(f"data: drift {column}", i, total)
            if column not in reference.columns:
                if not any(f"'{column}'" in v for v in violations if v.startswith("reference data:")):
                    violations.append(f"reference data: column '{column}' is missing")
                continue
            ref, cur = reference[column], evaluation[column]
            numeric = _is_numeric(ref), _is_numeric(cur)
            if numeric[0] != numeric[1]:
                kinds = ["numeric" if k else "categorical" for k in numeric]
                violations.append(
                    f"column '{column}' is {kinds[1]} in the evaluation data "
                    f"but {kinds[0]} in the reference data"
                )
                continue
            drift[str(column)] = (
                numeric_drift(_values(ref), _values(cur)) if numeric[0] else categorical_drift(ref, cur)
            )
        section["drift"] = drift
    progress("data", total, total)
    return section

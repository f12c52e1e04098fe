"""Explanation evidence: global SHAP importance per feature, overall and per sensitive group.

The explainer follows the model:

- **tree** — ``shap.TreeExplainer`` (path-dependent, the model's raw output: log-odds for a
  gradient-boosted classifier) for a tree model, alone or as the last step of an sklearn
  ``Pipeline``;
- **linear** — ``shap.LinearExplainer`` for a linear model (alone or last in a Pipeline), over
  a background of the reference data (the evaluation data without one);
- **permutation** — model-agnostic ``shap.PermutationExplainer`` (two antithetic permutations
  per row, seeded) on the positive-class score (a classifier with ``predict_proba``), the
  0/1 positive prediction (other classifiers) or the prediction (regressors), for everything
  else, including pyfunc models. Text columns are encoded as integer codes for shap and
  decoded before the model sees them.

When a Pipeline's last step is explained, SHAP values are computed on the transformed columns
and added up, per row, onto the original columns they come from (the one-hot columns
``sex_Female`` and ``sex_Male`` onto ``sex``), recognised by the transformed names
(``get_feature_names_out``): a feature's value is the sum of its columns' values, so
additivity is kept. A transformed column that cannot be traced back to one input column makes
the explainer fall back to the permutation explainer on the whole Pipeline.

Rows: a seeded sample (``DataFrame.sample(n, random_state=seed)``) of at most
``explainability.sample_size`` (default 1,000) evaluation rows; ``seed`` is
``explainability.seed`` or the collection seed; the background has at most
``explainability.background_size`` (default 100) rows sampled the same way. Global importance is
the mean |SHAP| per original feature and its share of the sum over features, sorted
descending. ``explainability.by_group: true`` adds the same per group of each sensitive
feature. The raw values go to ``<artifact_dir>/shap_values.npz`` when an ``artifact_dir`` is
given: ``values`` (rows × features), ``features``, ``rows`` (the sample's row labels),
``base_value``, and for a Pipeline ``transformed_values`` / ``transformed_features``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CollectionError
from ..spec import ModelSpec
from .base import ModelContext, Progress, no_progress
from .fairness import group_codes
from .model import is_classifier

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "ARTIFACT_NAME",
    "DEFAULT_BACKGROUND_SIZE",
    "DEFAULT_SAMPLE_SIZE",
    "explain_sample",
    "explanations_section",
    "map_columns",
]

DEFAULT_SAMPLE_SIZE = 1000
DEFAULT_BACKGROUND_SIZE = 100
ARTIFACT_NAME = "shap_values.npz"
_PERMUTATIONS = 2


#: Additivity: ``max |base + Σ SHAP − model output|`` over the explained rows must be at most
#: ``ADDITIVITY_ATOL + ADDITIVITY_RTOL · max |model output|`` (on the explained output's scale:
#: log-odds for a tree booster, the score for the permutation explainer).
ADDITIVITY_ATOL = 1e-3
ADDITIVITY_RTOL = 1e-6
#: Seconds the permutation fallback may take (``explainability.time_budget``), estimated from a
#: first chunk of rows before the rest is explained.
DEFAULT_TIME_BUDGET = 300.0
_PROBE = 5


@dataclass
class _Shap:
    method: str
    values: np.ndarray[Any, Any]  # rows × original features
    base_value: float | None
    transformed: np.ndarray[Any, Any] | None = None
    transformed_names: list[str] | None = None
    output: np.ndarray[Any, Any] | None = None  # the model's own output that the values explain


def additivity_error(result: _Shap) -> float | None:
    """``max |base + Σ values − output|`` over the rows, or None when it cannot be checked."""
    import numpy as np

    if result.output is None or result.base_value is None or len(result.values) == 0:
        return None
    total = result.base_value + result.values.sum(axis=1)
    return float(np.max(np.abs(total - result.output)))


def additivity_tolerance(result: _Shap) -> float:
    import numpy as np

    scale = float(np.max(np.abs(result.output))) if result.output is not None and result.output.size else 0.0
    return ADDITIVITY_ATOL + ADDITIVITY_RTOL * scale


def _settings(spec: ModelSpec, ctx: ModelContext) -> tuple[int, int, int, bool]:
    explain = spec.explainability.raw if spec.explainability else {}
    return (
        int(explain.get("sample_size", DEFAULT_SAMPLE_SIZE)),
        int(explain.get("seed", ctx.seed)),
        int(explain.get("background_size", DEFAULT_BACKGROUND_SIZE)),
        bool(explain.get("by_group", False)),
    )


def explain_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """The rows explained: a seeded sample of at most ``size`` rows (all rows when fewer)."""
    if size >= len(frame):
        return frame
    return frame.sample(n=size, random_state=seed)


def map_columns(transformed: Sequence[str], features: Sequence[str]) -> list[int] | None:
    """For each transformed column name, the index of the input feature it comes from.

    ``cat__sex_Female`` → ``sex``, ``remainder__age`` → ``age``: the transformer prefix
    (``name__``) is dropped, then the longest feature that is the name or a prefix of it
    followed by ``_`` wins. None when some column cannot be traced.
    """
    out: list[int] = []
    ordered = sorted(range(len(features)), key=lambda i: -len(features[i]))
    for name in transformed:
        candidates = [name] + ([name.split("__", 1)[1]] if "__" in name else [])
        found = None
        for candidate in candidates:
            found = next(
                (i for i in ordered if candidate == features[i] or candidate.startswith(features[i] + "_")),
                None,
            )
            if found is not None:
                break
        if found is None:
            return None
        out.append(found)
    return out


def _dense(matrix: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def _positive_index(model: Any, positive: Any) -> int:
    classes = list(getattr(model, "classes_", []))
    for i, label in enumerate(classes):
        if label == positive or str(label) == str(positive):
            return i
    return len(classes) - 1


def _select_output(values: Any, model: Any, ctx: ModelContext) -> np.ndarray[Any, Any]:
    """The SHAP values of the positive class (rows × columns)."""
    import numpy as np

    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2:
        if (
            is_classifier(ctx)
            and len(getattr(model, "classes_", [])) == 2
            and _positive_index(model, ctx.positive_label) == 0
        ):
            return -array  # a binary model's single output is for classes_[1]
        return array
    if array.ndim == 3:
        return array[:, :, _positive_index(model, ctx.positive_label)]
    raise CollectionError(f"unexpected SHAP output of shape {array.shape}")


def _base(expected: Any, model: Any, ctx: ModelContext) -> float | None:
    import numpy as np

    array = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if array.size == 1:
        value = float(array[0])
        if (
            is_classifier(ctx)
            and len(getattr(model, "classes_", [])) == 2
            and _positive_index(model, ctx.positive_label) == 0
        ):
            value = -value
        return value
    return float(array[_positive_index(model, ctx.positive_label)]) if array.size else None


def _is_linear(model: Any) -> bool:
    module = type(model).__module__
    return (
        hasattr(model, "coef_")
        and hasattr(model, "intercept_")
        and (module.startswith("sklearn.linear_model") or type(model).__name__ in {"LinearSVC", "LinearSVR"})
    )


def _background(ctx: ModelContext, size: int, seed: int) -> pd.DataFrame:
    source = ctx.reference
    if source is None or any(f not in source.columns for f in ctx.features):
        source = ctx.evaluation
    return explain_sample(source[ctx.features], size, seed)


def _native_split(ctx: ModelContext) -> tuple[Any, Any | None]:
    """(the estimator to explain, the preprocessing before it or None)."""
    if ctx.flavor not in {"sklearn", "xgboost", "lightgbm"}:  # xgboost/lightgbm: sklearn-API objects
        return None, None
    model = ctx.native
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[-1], model[:-1]
    return model, None


def _structured(ctx: ModelContext, rows: pd.DataFrame, background_size: int, seed: int) -> _Shap | None:
    """Tree or linear SHAP on the (transformed) columns, summed back onto the features."""
    import numpy as np
    import shap

    model, pre = _native_split(ctx)
    if model is None:
        return None
    kind = None
    try:
        tree = shap.TreeExplainer(model)
        kind = "tree"
    except Exception:
        if not _is_linear(model):
            return None
        kind = "linear"
    features = ctx.features
    x = rows[features]
    if pre is not None:
        try:
            names = [str(n) for n in pre.get_feature_names_out()]
            matrix = _dense(pre.transform(x))
        except Exception:
            return None
        mapping = map_columns(names, features)
        if mapping is None or len(mapping) != matrix.shape[1]:
            return None
    else:
        try:
            matrix = _dense(x)
        except (TypeError, ValueError):
            return None
        names, mapping = list(features), list(range(len(features)))
    if kind == "tree":
        raw = tree.shap_values(matrix, check_additivity=False)  # govern checks it, see ADDITIVITY_*
        expected = tree.expected_value
    else:
        background = _background(ctx, background_size, seed)
        back = _dense(pre.transform(background) if pre is not None else background)
        linear = shap.LinearExplainer(model, shap.maskers.Independent(back, max_samples=len(back)))
        raw = linear.shap_values(matrix)
        expected = linear.expected_value
    values = _select_output(raw, model, ctx)
    output = _raw_output(model, matrix, ctx, tree_output=kind == "tree")
    summed = np.zeros((values.shape[0], len(features)), dtype=np.float64)
    columns = np.asarray(mapping)
    for f in range(len(features)):  # a feature's value: the sum of its columns' (no BLAS call)
        summed[:, f] = values[:, columns == f].sum(axis=1)
    return _Shap(
        kind,
        summed,
        _base(expected, model, ctx),
        values if pre is not None else None,
        names if pre is not None else None,
        output,
    )


def _raw_output(
    model: Any, matrix: np.ndarray[Any, Any], ctx: ModelContext, *, tree_output: bool
) -> np.ndarray[Any, Any] | None:
    """The model's own output on the scale its tree/linear SHAP values explain (None: unknown)."""
    import numpy as np

    try:
        if not is_classifier(ctx):
            return np.asarray(model.predict(matrix), dtype=np.float64).reshape(-1)
        module = type(model).__module__
        if module.startswith("xgboost"):
            raw = model.predict(matrix, output_margin=True)
        elif module.startswith("lightgbm"):
            raw = model.predict(matrix, raw_score=True)
        elif hasattr(model, "decision_function"):
            raw = model.decision_function(matrix)
        elif tree_output and hasattr(model, "predict_proba"):
            raw = model.predict_proba(matrix)  # forests: SHAP explains the probabilities
        else:
            return None
    except Exception:
        return None
    array = np.asarray(raw, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        binary = len(getattr(model, "classes_", [])) == 2
        return -array if binary and _positive_index(model, ctx.positive_label) == 0 else array
    if array.ndim == 2:
        return array[:, _positive_index(model, ctx.positive_label)]
    return None


def _score_function(ctx: ModelContext) -> Callable[[pd.DataFrame], np.ndarray[Any, Any]]:
    import numpy as np

    if is_classifier(ctx) and ctx.predict_proba is not None:
        proba = ctx.predict_proba
        return lambda frame: np.asarray(proba(frame), dtype=np.float64)
    predict = ctx.predict
    if is_classifier(ctx):
        positive = ctx.positive_label

        def positive_prediction(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
            raw = np.asarray(predict(frame))
            return np.asarray(raw.astype(str) == str(positive), dtype=np.float64)

        return positive_prediction
    return lambda frame: np.asarray(predict(frame), dtype=np.float64)


def _agnostic(
    ctx: ModelContext, rows: pd.DataFrame, background_size: int, seed: int, budget: float | None = None
) -> _Shap:
    """Permutation SHAP on the features, with text columns as integer codes.

    With a ``budget`` (seconds), the first rows are timed and :class:`_OverBudget` raised when the
    whole sample would exceed it.
    """
    import numpy as np
    import pandas as pd
    import shap

    features = ctx.features
    background = _background(ctx, background_size, seed)
    both = pd.concat([rows[features], background], axis=0, ignore_index=True)
    decoders: dict[int, np.ndarray[Any, Any]] = {}
    encoded = np.empty((len(both), len(features)), dtype=np.float64)
    for j, column in enumerate(features):
        series = both[column]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            encoded[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            encoded[:, j] = np.where(codes < 0, np.nan, codes)
            decoders[j] = np.asarray(list(uniques), dtype=object)
    dtypes = {column: rows[column].dtype for column in features}
    score = _score_function(ctx)

    def decode(matrix: np.ndarray[Any, Any]) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for j, column in enumerate(features):
            values = matrix[:, j]
            if j in decoders:
                out = np.full(len(values), np.nan, dtype=object)
                ok = ~np.isnan(values)
                out[ok] = decoders[j][values[ok].astype(np.int64)]
                columns[column] = out
            elif dtypes[column].kind in "iu" and not np.isnan(values).any():
                columns[column] = values.astype(dtypes[column])
            else:
                columns[column] = values
        return pd.DataFrame(columns)

    def model(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return score(decode(matrix))

    n = len(rows)
    masker = shap.maskers.Independent(encoded[n:], max_samples=len(background))
    explainer = shap.PermutationExplainer(model, masker, seed=seed)
    evals = _PERMUTATIONS * (2 * len(features) + 1)
    started = time.monotonic()
    first = min(n, _PROBE) if budget is not None else n
    parts = [explainer(encoded[:first], max_evals=evals, silent=True)]
    if first < n:
        assert budget is not None
        elapsed = time.monotonic() - started
        estimate = elapsed * n / first
        if estimate > budget:
            raise _OverBudget(
                f"the permutation explainer would take about {estimate:.0f} s for {n} rows "
                f"({elapsed:.1f} s for the first {first}), over the time budget of {budget:g} s"
            )
        parts.append(explainer(encoded[first:n], max_evals=evals, silent=True))
    values = np.concatenate([np.asarray(p.values, dtype=np.float64) for p in parts], axis=0)
    base = np.atleast_1d(np.asarray(parts[0].base_values, dtype=np.float64))
    output = score(rows[features].reset_index(drop=True))
    return _Shap(
        "permutation",
        values,
        float(base[0]) if base.size else None,
        output=np.asarray(output, dtype=np.float64),
    )


class _OverBudget(Exception):
    """The fallback explainer would not finish within its time budget."""


def _importance(values: np.ndarray[Any, Any], features: Sequence[str]) -> list[dict[str, Any]]:
    import numpy as np

    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(features))
    total = float(mean_abs.sum())
    ranked = sorted(zip(features, mean_abs.tolist(), strict=True), key=lambda item: (-item[1], item[0]))
    return [
        {"feature": name, "mean_abs_shap": float(v), "share": float(v) / total if total > 0 else 0.0}
        for name, v in ranked
    ]


_SEPARATORS = ("_", "=")


def encoded_columns(
    features: Sequence[str], watched: Sequence[str], frame: pd.DataFrame, signature: dict[str, Any] | None
) -> dict[str, str]:
    """Model inputs that one-hot encode a watched (prohibited or sensitive) feature: column → feature.

    A column encodes ``w`` when its name is ``w`` followed by ``_`` or ``=`` and a value
    (``customer_segment_student``, ``sex=Female``) and it is an indicator: boolean in the model
    signature, or holding only 0/1 (or booleans) in the evaluation data. Ambiguity rule: when a
    column's name starts with several watched names (``sex_`` and ``sex_at_birth_``), the
    longest one wins.
    """
    import pandas as pd

    types = {}
    for item in (signature or {}).get("inputs") or []:
        if isinstance(item, dict) and item.get("name"):
            types[str(item["name"])] = str(item.get("type", ""))
    out: dict[str, str] = {}
    candidates = sorted({str(w) for w in watched}, key=len, reverse=True)
    for column in features:
        owner = next(
            (
                w
                for w in candidates
                if column != w
                and any(column.startswith(w + sep) and len(column) > len(w) + 1 for sep in _SEPARATORS)
            ),
            None,
        )
        if owner is None:
            continue
        indicator = types.get(column) == "boolean"
        if not indicator and column in frame.columns:
            series = frame[column].dropna()
            indicator = pd.api.types.is_bool_dtype(series.dtype) or (
                pd.api.types.is_numeric_dtype(series.dtype) and set(pd.unique(series)) <= {0, 1}
            )
        if indicator:
            out[column] = owner
    return out


def fold_encoded(
    values: np.ndarray[Any, Any], features: Sequence[str], encoded: dict[str, str]
) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Sum the SHAP values of encoded columns onto the feature they encode (additivity kept)."""
    import numpy as np

    names: list[str] = []
    for feature in features:
        target = encoded.get(feature, feature)
        if target not in names:
            names.append(target)
    out = np.zeros((values.shape[0], len(names)), dtype=np.float64)
    for j, feature in enumerate(features):
        out[:, names.index(encoded.get(feature, feature))] += values[:, j]
    return out, names


def _by_group(
    ctx: ModelContext,
    spec: ModelSpec,
    rows: pd.DataFrame,
    values: np.ndarray[Any, Any],
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for feature in spec.fairness.sensitive_features if spec.fairness else ():
        if feature not in rows.columns:
            continue
        codes, names = group_codes(rows, [feature])
        out[feature] = {
            name: {
                "rows": int((codes == g).sum()),
                "importance": _importance(
                    values[codes == g], columns if columns is not None else ctx.features
                ),
            }
            for g, name in enumerate(names)
        }
    return out


def _row_labels(rows: pd.DataFrame) -> np.ndarray[Any, Any]:
    """The sample's row labels as a plain (non-object) array, loadable without pickle."""
    import numpy as np

    labels = np.asarray(rows.index)
    return labels if labels.dtype.kind in "iufbU" else labels.astype(str)


def _check(result: _Shap) -> dict[str, Any]:
    import numpy as np

    error = additivity_error(result)
    tolerance = additivity_tolerance(result)
    return {
        "explainer": result.method,
        "rows": len(result.values),
        "max_abs_error": error,
        "tolerance": tolerance,
        "passed": error is not None and bool(np.isfinite(error)) and error <= tolerance,
    }


def _verified(
    ctx: ModelContext, rows: pd.DataFrame, background_size: int, seed: int, budget: float
) -> tuple[_Shap, list[dict[str, Any]]] | dict[str, Any]:
    """SHAP values whose additivity holds, with the checks made; or an ``error`` section."""
    import numpy as np

    checks: list[dict[str, Any]] = []

    def failed(reason: str) -> dict[str, Any]:
        return {
            "method": checks[-1]["explainer"] if checks else "none",
            "sample_size": len(rows),
            "seed": seed,
            "global_importance": [],
            "artifact": None,
            "additivity": checks,
            "error": reason,
        }

    try:
        first = _structured(ctx, rows, background_size, seed)
        if first is not None:
            check = _check(first)
            checks.append(check)
            if check["passed"] and np.all(np.isfinite(first.values)):
                return first, checks
            budget_left: float | None = budget
        else:
            budget_left = None  # the model-agnostic explainer is the method, not a fallback
        try:
            second = _agnostic(ctx, rows, background_size, seed, budget_left)
        except _OverBudget as exc:
            return failed(
                f"{checks[-1]['explainer']} SHAP values do not add up to the model output "
                f"(max error {checks[-1]['max_abs_error']}); fallback abandoned: {exc}"
            )
    except CollectionError:
        raise
    except Exception as exc:
        raise CollectionError(f"SHAP could not explain the model: {type(exc).__name__}: {exc}") from exc
    if not np.all(np.isfinite(second.values)):
        raise CollectionError("SHAP returned non-finite values; the model's output cannot be explained")
    check = _check(second)
    checks.append(check)
    if not check["passed"]:
        return failed(
            f"{second.method} SHAP values do not add up to the model output "
            f"(max error {check['max_abs_error']}, tolerance {check['tolerance']:.3g})"
        )
    return second, checks


def explanations_section(
    ctx: ModelContext,
    spec: ModelSpec,
    *,
    progress: Progress = no_progress,
    artifact_dir: Path | None = None,
) -> dict[str, Any]:
    """The ``explanations`` evidence section (schemas/evidence.schema.json) for ``ctx``."""
    import numpy as np

    size, seed, background_size, by_group = _settings(spec, ctx)
    progress("explanations: sample", 0, 3)
    rows = explain_sample(ctx.evaluation, size, seed)
    progress("explanations: shap", 1, 3)
    explain_settings = spec.explainability.raw if spec.explainability else {}
    budget = float(explain_settings.get("time_budget", DEFAULT_TIME_BUDGET))
    verified = _verified(ctx, rows, background_size, seed, budget)
    if isinstance(verified, dict):
        progress("explanations", 3, 3)
        return verified
    result, checks = verified
    progress("explanations: aggregate", 2, 3)
    watched = [
        *(spec.explainability.prohibited_features if spec.explainability else ()),
        *(spec.fairness.sensitive_features if spec.fairness else ()),
    ]
    encoded = encoded_columns(ctx.features, watched, ctx.evaluation, ctx.signature)
    folded, names = fold_encoded(result.values, ctx.features, encoded)
    section: dict[str, Any] = {
        "method": result.method,
        "sample_size": len(rows),
        "seed": seed,
        "global_importance": _importance(folded, names),
        "artifact": None,
        "additivity": checks,
    }
    if encoded:
        section["encoded_features"] = {
            w: sorted(c for c, o in encoded.items() if o == w) for w in set(encoded.values())
        }
    if by_group:
        section["by_group"] = _by_group(ctx, spec, rows, folded, names)
    if artifact_dir is not None:
        artifact_dir.mkdir(parents=True, exist_ok=True)
        path = artifact_dir / ARTIFACT_NAME
        arrays: dict[str, Any] = {
            "values": result.values,
            "features": np.asarray(ctx.features, dtype=str),
            "rows": _row_labels(rows),
            "base_value": np.asarray(np.nan if result.base_value is None else result.base_value),
        }
        if result.transformed is not None and result.transformed_names is not None:
            arrays["transformed_values"] = result.transformed
            arrays["transformed_features"] = np.asarray(result.transformed_names, dtype=str)
        np.savez(path, **arrays)
        section["artifact"] = str(path)
    progress("explanations", 3, 3)
    return section

"""Load the model and its evaluation data once per collection: the :class:`ModelContext`.

:func:`load_model_context` reads the model's MLflow metadata (flavours, signature), loads the
model (the native sklearn flavour when there is one, else ``mlflow.pyfunc``), reads the
evaluation data named by the spec's ``data.evaluation`` (and ``data.reference`` for drift) with
pandas, and checks them against the spec and the signature. :func:`predictions` predicts once
per context and caches the result, so every collector judges the same predictions.

Conventions, documented here once:

- **features** are the model signature's input columns, in order; a model without a
  column-based signature takes every column except the target.
- **task**: a model is a *regressor* when the spec's ``metadata.model_type`` says so
  ("regressor", "regression"), when its sklearn object is a regressor, or, for other flavours,
  when the target is a float column with more than two values. Everything else is a
  *classifier*, judged one-vs-rest on its ``positive_label``; ``ctx.positive_label is None``
  marks a regressor.
- **positive label**: ``data.evaluation.positive_label`` when given; else ``1`` when the labels
  are a subset of {0, 1}, ``True`` when they are booleans. Any other labels (``approved`` /
  ``denied``, ``>50K`` / ``<=50K``) need an explicit positive label: guessing would silently swap
  the true- and false-positive rates. Without one, collection stops with a
  :class:`~govern.engine.errors.SpecError` (exit 2) listing the observed labels.
- **scores**: ``ctx.predict_proba`` returns the positive class's score as a 1-D array.
  A pyfunc classifier whose predictions are floats in [0, 1] (a probability) for 0/1 labels is
  read as a score and thresholded at 0.5.
- **one prediction pass**: for an sklearn classifier with ``predict_proba``, :func:`predictions`
  computes the probabilities once and takes the predicted label as the class of highest
  probability (scikit-learn's own rule for its classifiers). The rule is first verified against
  ``predict`` on a probe of up to 256 rows; a model that disagrees (e.g. an ``SVC`` whose Platt
  probabilities can disagree with its decision function) is predicted and scored separately.
- **sampling**: ``sample`` (or the dataset's ``sample``) keeps a seeded random subset of rows
  (``DataFrame.sample(n, random_state=seed)``, original order kept) of each dataset; the
  sha256 recorded in ``ctx.inputs`` is always the whole file's.

Every failure is an error, never a pass: a spec naming a file or column that does not exist is a
:class:`~govern.engine.errors.SpecError` (exit 2) located at that field; a model that cannot be
loaded or predict, data that do not match the signature, a single-class target, a sensitive
feature with one group, or NaN predictions are a
:class:`~govern.engine.errors.CollectionError` (exit 3).
"""

from __future__ import annotations

import hashlib
import json
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..documents import FieldPath, format_path, load_document
from ..errors import CollectionError, Location, SpecError
from ..spec import ModelSpec
from .base import ModelContext, Progress, no_progress

if TYPE_CHECKING:  # heavy imports stay out of `govern check`
    import numpy as np
    import pandas as pd

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "Predictions",
    "SignatureViolation",
    "context_of",
    "is_classifier",
    "load_model_context",
    "predictions",
    "read_dataset",
    "signature_violations",
    "spec_location",
]

#: Types a scikit-learn model saved by MLflow 3 in the skops format commonly needs trusted:
#: every tree ensemble (``Tree``) and the histogram gradient-boosting predictors. MLflow reads the
#: trust list from the model's MLmodel file when it loads, so it must be given when logging:
#: ``mlflow.sklearn.log_model(model, ..., skops_trusted_types=list(SKOPS_TRUSTED_TYPES))``.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

_REGRESSION_WORDS = ("regress",)
_CHUNK = 1 << 20


class Predictions(NamedTuple):
    """The model's predictions on ``ctx.evaluation``, row-aligned with it.

    For a classifier ``y_true`` and ``y_pred`` are 0/1 ``int64`` (1 = the positive label) and
    ``y_score`` is the positive class's score when the model gives one; for a regressor they are
    ``float64`` and ``y_score`` is ``None``.
    """

    y_true: np.ndarray[Any, Any]
    y_pred: np.ndarray[Any, Any]
    y_score: np.ndarray[Any, Any] | None


@dataclass(frozen=True)
class SignatureViolation:
    """One way a dataset departs from the model signature. ``blocking``: the model cannot run."""

    column: str
    message: str
    blocking: bool


# --------------------------------------------------------------------------- spec helpers


def spec_location(spec: ModelSpec, path: FieldPath) -> Location:
    """The location (file, line, field) of ``path`` in the spec, for a :class:`SpecError`."""
    try:
        doc, _ = load_document(Path(spec.source), SpecError)
    except (SpecError, OSError, ValueError):
        return Location(spec.source, None, format_path(path))
    return doc.location(path)


def _spec_error(spec: ModelSpec, path: FieldPath, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, spec_location(spec, path), hint)


def _dataset_spec(spec: ModelSpec, key: str) -> dict[str, Any] | None:
    dataset = spec.datasets.get(key)
    return dict(dataset.raw) if dataset is not None else None


def _evaluation_target(spec: ModelSpec) -> tuple[dict[str, Any], str]:
    """The evaluation dataset's spec and its target column; a spec error when either is missing."""
    ds = _dataset_spec(spec, "evaluation")
    if ds is None:
        raise _spec_error(spec, ("data",), "the spec names no evaluation data (data.evaluation)")
    target = ds.get("target")
    if not isinstance(target, str):
        raise _spec_error(
            spec,
            ("data", "evaluation"),
            "data.evaluation.target is not set: fairness and performance need the true labels",
        )
    return ds, target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- data


def _local_file(spec: ModelSpec, key: str, ds: dict[str, Any], base_dir: Path) -> tuple[Path, str]:
    """The local file of a dataset spec and the name it is recorded under."""
    if "path" in ds:
        raw = str(ds["path"])
        path = Path(raw) if Path(raw).is_absolute() else base_dir / raw
        if not path.is_file():
            raise _spec_error(spec, ("data", key, "path"), f"no such data file: {path}")
        return path, raw
    if "uri" in ds:
        uri = str(ds["uri"])
        if uri.startswith("file://"):
            path = Path(uri.removeprefix("file://"))
            if not path.is_file():
                raise _spec_error(spec, ("data", key, "uri"), f"no such data file: {path}")
            return path, uri
        try:
            import mlflow.artifacts

            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        except Exception as exc:
            raise CollectionError(f"cannot download the {key} data from {uri}: {exc}") from exc
        return Path(local), uri
    raise CollectionError(
        f"data.{key}: only 'path' and 'uri' datasets can be read; "
        f"'mlflow_dataset' is not supported by the collectors yet"
    )


def _format(spec: ModelSpec, key: str, ds: dict[str, Any], path: Path) -> str:
    declared = ds.get("format")
    if isinstance(declared, str):
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    field = "path" if "path" in ds else "uri"
    raise _spec_error(
        spec,
        ("data", key, field),
        f"cannot tell the format of {path.name}",
        hint="set format: csv or parquet",
    )


def read_dataset(
    spec: ModelSpec, key: str, base_dir: Path, *, sample: int | None, seed: int
) -> tuple[pd.DataFrame, str, str, str]:
    """Read the spec's dataset ``key`` (``evaluation``, ``reference``, ``training``).

    Returns ``(frame, recorded name, sha256 of the whole file, short name)``; ``sample`` (or
    the dataset's own ``sample``) keeps a seeded subset of the rows, in their original order.
    """
    import pandas as pd

    ds = _dataset_spec(spec, key)
    if ds is None:
        raise _spec_error(spec, ("data",), f"the spec names no {key} data (data.{key})")
    path, name = _local_file(spec, key, ds, base_dir)
    fmt = _format(spec, key, ds, path)
    columns = ds.get("columns")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path, columns=columns)
        else:
            frame = pd.read_csv(path, usecols=columns)
    except (ValueError, KeyError) as exc:
        if columns is not None:
            raise _spec_error(
                spec, ("data", key, "columns"), f"cannot read the columns named: {exc}"
            ) from exc
        raise CollectionError(f"cannot read the {key} data {name} as {fmt}: {exc}") from exc
    except Exception as exc:
        raise CollectionError(f"cannot read the {key} data {name} as {fmt}: {exc}") from exc
    digest = _sha256(path)
    limit = sample if sample is not None else ds.get("sample")
    if isinstance(limit, int) and 0 < limit < len(frame):
        frame = frame.sample(n=limit, random_state=seed).sort_index()
    stem = Path(name).name
    for suffix in (".csv", ".parquet", ".pq"):
        stem = stem.removesuffix(suffix)
    return frame, name, digest, stem


# --------------------------------------------------------------------------- signature


def _signature_dict(signature: Any) -> dict[str, Any] | None:
    if signature is None:
        return None
    raw = signature.to_dict()
    out: dict[str, Any] = {}
    for part in ("inputs", "outputs"):
        value = raw.get(part)
        out[part] = json.loads(value) if isinstance(value, str) else value
    return out


def _named_inputs(signature: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The signature's named column inputs, or None for no signature / a tensor signature."""
    if not signature:
        return None
    inputs = signature.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    if not all(isinstance(item, dict) and item.get("name") for item in inputs):
        return None
    return inputs


def _column_kind(series: pd.Series) -> str:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        inferred = pd.api.types.infer_dtype(dtype.categories, skipna=True)
    elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    else:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {"string": "string", "empty": "string", "boolean": "boolean", "integer": "integer"}.get(
        inferred, "mixed" if inferred.startswith("mixed") else inferred
    )


_ACCEPTS: dict[str, frozenset[str]] = {
    "string": frozenset({"string"}),
    "long": frozenset({"integer"}),
    "integer": frozenset({"integer"}),
    "double": frozenset({"integer", "float"}),
    "float": frozenset({"integer", "float"}),
    "boolean": frozenset({"boolean"}),
    "datetime": frozenset({"datetime"}),
}


def signature_violations(
    frame: pd.DataFrame, signature: dict[str, Any] | None, null_counts: dict[str, int] | None = None
) -> list[SignatureViolation]:
    """How ``frame`` departs from the signature's named inputs.

    Blocking: a required column missing, a column whose values have another type than the
    signature's (the model cannot be run on them). Not blocking: a missing optional column,
    nulls in a column the signature marks required. ``null_counts`` (column → nulls) replaces
    the frame's own null counts, for data read in batches.
    """
    inputs = _named_inputs(signature)
    if inputs is None:
        return []
    out: list[SignatureViolation] = []
    for item in inputs:
        name = str(item["name"])
        required = bool(item.get("required", True))
        expected = str(item.get("type", ""))
        if name not in frame.columns:
            out.append(
                SignatureViolation(
                    name,
                    f"column '{name}' ({expected}) of the model signature is missing",
                    blocking=required,
                )
            )
            continue
        series = frame[name]
        accepted = _ACCEPTS.get(expected)
        if accepted is not None and series.notna().any():
            kind = _column_kind(series)
            if kind not in accepted:
                out.append(
                    SignatureViolation(
                        name,
                        f"column '{name}' holds {kind} values ({series.dtype}); "
                        f"the model signature expects {expected}",
                        blocking=True,
                    )
                )
                continue
        if required:
            nulls = int(series.isna().sum()) if null_counts is None else int(null_counts.get(name, 0))
            if nulls:
                out.append(
                    SignatureViolation(
                        name,
                        f"column '{name}' is required by the model signature but has {nulls} null values",
                        blocking=False,
                    )
                )
    return out


# --------------------------------------------------------------------------- model


def _untrusted_types(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "UntrustedTypesFoundException" or "untrusted types" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _load_error(model_uri: str, exc: BaseException) -> CollectionError:
    if _untrusted_types(exc):
        return CollectionError(
            f"cannot load the model {model_uri}: it was saved with skops and references types "
            f"that are not in its trusted list ({exc})",
            hint="re-log it with mlflow.sklearn.log_model(..., skops_trusted_types=[...]) naming the "
            f"types you trust, e.g. {list(SKOPS_TRUSTED_TYPES)} "
            "(govern.engine.evidence.model.SKOPS_TRUSTED_TYPES)",
        )
    return CollectionError(f"cannot load the model {model_uri}: {type(exc).__name__}: {exc}")


@dataclass
class _Loaded:
    flavor: str
    native: Any
    predict: Callable[[pd.DataFrame], np.ndarray[Any, Any]]
    proba: Callable[[pd.DataFrame], np.ndarray[Any, Any]] | None
    classes: list[Any] | None
    regressor: bool | None  # None: the flavour cannot tell
    # labels and class probabilities from one predict_proba pass, when that is faithful
    labelled: Callable[[pd.DataFrame], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] | None = None


def _to_1d(value: Any, rows: int) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise CollectionError(
                f"the model returned {value.shape[1]} prediction columns ({list(value.columns)}); "
                "govern needs one prediction per row"
            )
        value = value.iloc[:, 0]
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.shape[0] != rows:
        raise CollectionError(
            f"the model returned predictions of shape {array.shape} for {rows} rows; "
            "govern needs one prediction per row"
        )
    return array


def _native_booster(model_uri: str, flavors: Sequence[str]) -> Any:
    """An xgboost / lightgbm model logged with its own flavour, loaded as its sklearn-API object
    (so it predicts, scores and is explained by TreeExplainer like an sklearn model); None when
    it was logged as a bare Booster."""
    for flavor in ("xgboost", "lightgbm"):
        if flavor not in flavors:
            continue
        try:
            if flavor == "xgboost":
                import mlflow.xgboost

                model = mlflow.xgboost.load_model(model_uri)
            else:
                import mlflow.lightgbm

                model = mlflow.lightgbm.load_model(model_uri)
        except Exception as exc:
            raise _load_error(model_uri, exc) from exc
        return model if hasattr(model, "predict_proba") or hasattr(model, "get_params") else None
    return None


def _load_model(model_uri: str, flavors: Sequence[str], features: list[str]) -> _Loaded:
    booster = None if "sklearn" in flavors else _native_booster(model_uri, flavors)
    if "sklearn" in flavors or booster is not None:
        if booster is not None:
            native = booster
        else:
            import mlflow.sklearn

            try:
                native = mlflow.sklearn.load_model(model_uri)
            except Exception as exc:
                raise _load_error(model_uri, exc) from exc
        from sklearn.base import is_classifier as sk_is_classifier
        from sklearn.base import is_regressor as sk_is_regressor

        def predict(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
            return _to_1d(native.predict(frame[features]), len(frame))

        proba = None
        classes = None
        if hasattr(native, "predict_proba") and hasattr(native, "classes_"):
            classes = list(native.classes_)

            def proba(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
                import numpy as np

                return np.asarray(native.predict_proba(frame[features]))

        regressor: bool | None = None
        if sk_is_regressor(native):
            regressor = True
        elif sk_is_classifier(native):
            regressor = False
        labelled = None
        if proba is not None and classes is not None:
            labelled = _one_pass(native, features, classes)
        flavor = "sklearn" if booster is None else next(f for f in ("xgboost", "lightgbm") if f in flavors)
        return _Loaded(flavor, native, predict, proba, classes, regressor, labelled)

    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc

    def pyfunc_predict(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return _to_1d(model.predict(frame[features]), len(frame))

    flavor = next((f for f in flavors if f != "python_function"), "python_function")
    return _Loaded(flavor, model, pyfunc_predict, None, None, None)


_PROBE_ROWS = 256


def _one_pass(
    native: Any, features: list[str], classes: list[Any]
) -> Callable[[pd.DataFrame], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Labels and probabilities from one ``predict_proba`` pass (argmax, checked on a probe)."""

    def labelled(frame: pd.DataFrame) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        import numpy as np

        x = frame[features]
        matrix = np.asarray(native.predict_proba(x))
        if matrix.ndim != 2 or matrix.shape != (len(frame), len(classes)):
            raise CollectionError(
                f"predict_proba returned shape {matrix.shape} for {len(frame)} rows and "
                f"{len(classes)} classes"
            )
        labels = np.asarray(native.classes_)[np.argmax(matrix, axis=1)]
        probe = min(_PROBE_ROWS, len(frame))
        if probe and not np.array_equal(_to_1d(native.predict(x.iloc[:probe]), probe), labels[:probe]):
            labels = _to_1d(native.predict(x), len(frame))  # argmax is not this model's rule
        return labels, matrix

    return labelled


# --------------------------------------------------------------------------- task, labels


def _labels_sorted(values: Sequence[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (str(type(v).__name__), str(v)))


def _infer_positive(labels: list[Any]) -> Any:
    if not labels:
        return None
    if all(isinstance(v, bool) for v in labels) or {str(v) for v in labels} <= {"True", "False"}:
        return next((v for v in labels if str(v) == "True"), True)
    try:
        if {float(v) for v in labels} <= {0.0, 1.0}:
            return next((v for v in labels if float(v) == 1.0), 1)
    except (TypeError, ValueError):
        pass
    return None


def _plain(value: Any) -> Any:
    """A label as a plain Python value (numpy scalars unwrapped), for messages."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _match_label(labels: list[Any], wanted: Any) -> Any:
    for label in labels:
        if label == wanted and type(label) is type(wanted):
            return label
    for label in labels:
        if label == wanted or str(label) == str(wanted):
            return label
    return None


def _is_regression(spec: ModelSpec, loaded: _Loaded, target: pd.Series) -> bool:
    import pandas as pd

    model_type = (spec.metadata.model_type or "").lower()
    if any(word in model_type for word in _REGRESSION_WORDS):
        return True
    if "classif" in model_type:
        return False
    if loaded.regressor is not None:
        return loaded.regressor
    return bool(pd.api.types.is_float_dtype(target.dtype) and target.nunique(dropna=True) > 2)


# --------------------------------------------------------------------------- the context


def _column_hint(frame: pd.DataFrame, wanted: str) -> str:
    """A hint that names at most one close column: an error never lists a file's header."""
    import difflib

    names = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(wanted, names, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"the file has {len(names)} columns, none named '{wanted}'"


def _check_columns(spec: ModelSpec, frame: pd.DataFrame, target: str) -> None:
    if target not in frame.columns:
        raise _spec_error(
            spec,
            ("data", "evaluation", "target"),
            f"the target column '{target}' is not in the evaluation data",
            hint=_column_hint(frame, target),
        )
    for i, name in enumerate(spec.fairness.sensitive_features if spec.fairness else ()):
        if name not in frame.columns:
            raise _spec_error(
                spec,
                ("fairness", "sensitive_features", i),
                f"the sensitive feature '{name}' is not a column of the evaluation data",
                hint=_column_hint(frame, name),
            )
        groups = frame[name].nunique(dropna=False)
        if groups < 2:
            only = frame[name].iloc[0] if len(frame) else None
            raise CollectionError(
                f"every evaluation row has the same value of the sensitive feature '{name}' ({only!r}); "
                "fairness between groups cannot be measured"
            )
    for i, combo in enumerate(spec.fairness.intersections if spec.fairness else ()):
        for j, name in enumerate(combo):
            if name not in frame.columns:
                raise _spec_error(
                    spec,
                    ("fairness", "intersections", i, j),
                    f"the intersection feature '{name}' is not a column of the evaluation data",
                )


def _positive_label(spec: ModelSpec, ds: dict[str, Any], y: pd.Series, target: str, loaded: _Loaded) -> Any:
    """The positive label of a classifier's target, or None for a regressor."""
    missing = int(y.isna().sum())
    if missing:
        raise CollectionError(
            f"the target column '{target}' has {missing} missing values in the evaluation data"
        )
    if _is_regression(spec, loaded, y):
        return None
    labels = _labels_sorted(list(y.unique()))
    if len(labels) < 2:
        raise CollectionError(
            f"the target column '{target}' has a single class ({labels[0]!r} in all {len(y)} rows); "
            "classification metrics and fairness need both outcomes"
        )
    if "positive_label" in ds:
        positive = _match_label(labels, ds["positive_label"])
        if positive is None:
            raise _spec_error(
                spec,
                ("data", "evaluation", "positive_label"),
                f"the positive label {ds['positive_label']!r} is not among the target's labels {labels}",
            )
    else:
        positive = _infer_positive(labels)
        if positive is None:
            raise _spec_error(
                spec,
                ("data", "evaluation"),
                f"the target '{target}' has the labels {[_plain(v) for v in labels]}; "
                "say which one is the positive outcome",
                hint="set data.evaluation.positive_label to one of them (only 0/1 and booleans are inferred)",
            )
    return positive


def load_model_context(
    model_uri: str,
    spec: ModelSpec,
    base_dir: Path,
    *,
    sample: int | None = None,
    seed: int = 0,
    progress: Progress = no_progress,
) -> ModelContext:
    """Load the model at ``model_uri`` and the spec's evaluation (and reference) data.

    Nothing is predicted yet: :func:`predictions` does that once, on first use.
    """
    import mlflow.models

    steps = 4
    ds, target = _evaluation_target(spec)

    progress("load model", 0, steps)
    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc
    flavors = list(info.flavors)
    signature = _signature_dict(info.signature)

    progress("read data", 1, steps)
    evaluation, name, digest, _ = read_dataset(spec, "evaluation", base_dir, sample=sample, seed=seed)
    inputs = {f"evaluation:{name}": digest}
    reference = None
    if _dataset_spec(spec, "reference") is not None:
        reference, ref_name, ref_digest, _ = read_dataset(
            spec, "reference", base_dir, sample=sample, seed=seed
        )
        inputs[f"reference:{ref_name}"] = ref_digest
    _check_columns(spec, evaluation, target)

    named = _named_inputs(signature)
    features = (
        [str(item["name"]) for item in named] if named else [c for c in evaluation.columns if c != target]
    )
    blocking = [v.message for v in signature_violations(evaluation, signature) if v.blocking]
    if blocking:
        raise CollectionError("the evaluation data do not match the model signature: " + "; ".join(blocking))

    progress("load model", 2, steps)
    loaded = _load_model(model_uri, flavors, features)

    progress("labels", 3, steps)
    positive = _positive_label(spec, ds, evaluation[target], target, loaded)
    proba = _positive_proba(loaded, positive)
    both = _positive_labelled(loaded, positive)
    progress("labels", steps, steps)
    return ModelContext(
        model_uri=model_uri,
        flavor=loaded.flavor,
        native=loaded.native,
        predict=loaded.predict,
        predict_proba=proba,
        predict_with_scores=both,
        features=features,
        target=target,
        evaluation=evaluation,
        reference=reference,
        positive_label=positive,
        signature=signature,
        seed=seed,
        sample=sample,
        inputs=inputs,
    )


def _positive_proba(loaded: _Loaded, positive: Any) -> Callable[[pd.DataFrame], np.ndarray[Any, Any]] | None:
    proba, classes = loaded.proba, loaded.classes
    if proba is None or classes is None or positive is None:
        return None
    matched = _match_label(classes, positive)
    if matched is None:
        return None
    index = classes.index(matched)

    def positive_score(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return proba(frame)[:, index]

    return positive_score


def _positive_labelled(
    loaded: _Loaded, positive: Any
) -> Callable[[pd.DataFrame], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] | None:
    labelled, classes = loaded.labelled, loaded.classes
    if labelled is None or classes is None or positive is None:
        return None
    matched = _match_label(classes, positive)
    if matched is None:
        return None
    index = classes.index(matched)

    def with_scores(frame: pd.DataFrame) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        labels, matrix = labelled(frame)
        return labels, matrix[:, index]

    return with_scores


# --------------------------------------------------------------------------- predictions


def is_classifier(ctx: ModelContext) -> bool:
    """True when the context judges a classifier (it then has a positive label)."""
    return ctx.positive_label is not None


_CACHE: dict[int, tuple[Any, Predictions]] = {}


def _no_nan(values: np.ndarray[Any, Any], what: str) -> None:
    import pandas as pd

    bad = int(pd.isna(values).sum())
    if bad:
        raise CollectionError(
            f"the model returned {bad} NaN {what} out of {len(values)}; it cannot be judged"
        )


def _binary(values: np.ndarray[Any, Any], positive: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    if isinstance(positive, str) or values.dtype.kind in "OUS" or values.dtype.kind == "T":
        if values.dtype.kind == "O" and isinstance(positive, str):
            direct = np.asarray(values == positive, dtype=bool)  # no string copy of the column
            if direct.any():
                return direct.astype(np.int64)
        return np.asarray(values.astype(str) == str(positive), dtype=np.int64)
    return np.asarray(values == positive, dtype=np.int64)


def _distinct(values: np.ndarray[Any, Any]) -> set[str]:
    """The distinct values as strings (hash-based: one pass)."""
    import pandas as pd

    return {str(v) for v in pd.unique(pd.Series(values, copy=False))}


def predictions(ctx: ModelContext) -> Predictions:
    """Predict on ``ctx.evaluation`` once; later calls return the cached result."""
    import numpy as np

    cached = _CACHE.get(id(ctx))
    if cached is not None and cached[0] is ctx.evaluation:
        return cached[1]
    frame = ctx.evaluation
    score: np.ndarray[Any, Any] | None = None
    try:
        if ctx.predict_with_scores is not None:
            raw, score = ctx.predict_with_scores(frame)
            score = np.asarray(score, dtype=np.float64)
        else:
            raw = ctx.predict(frame)
    except CollectionError:
        raise
    except Exception as exc:
        raise CollectionError(
            f"the model failed to predict on the evaluation data: {type(exc).__name__}: {exc}"
        ) from exc
    raw = _to_1d(raw, len(frame))
    _no_nan(raw, "predictions")
    y = frame[ctx.target].to_numpy()
    if score is not None:
        _no_nan(score, "scores")
    elif ctx.predict_proba is not None:
        try:
            score = np.asarray(ctx.predict_proba(frame), dtype=np.float64)
        except Exception as exc:
            raise CollectionError(f"the model failed to score the evaluation data: {exc}") from exc
        _no_nan(score, "scores")
    if is_classifier(ctx):
        y_true = _binary(y, ctx.positive_label)
        if raw.dtype.kind == "f" and _probability_like(raw) and _distinct(y) <= {"0", "1", "0.0", "1.0"}:
            score = raw.astype(np.float64)
            y_pred = np.asarray(score >= 0.5, dtype=np.int64)
        else:
            if not (raw.dtype.kind in "iub" and y.dtype.kind in "iub"):
                labels, predicted = _distinct(y), _distinct(raw)
                if not predicted & labels:
                    raise CollectionError(
                        f"the model predicts labels {sorted(predicted)[:10]} that share none with the "
                        f"target's {sorted(labels)[:10]}"
                    )
            y_pred = _binary(raw, ctx.positive_label)
        result = Predictions(y_true, y_pred, score)
    else:
        try:
            y_true_f = np.asarray(y, dtype=np.float64)
            y_pred_f = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"a regressor's target and predictions must be numbers: {exc}") from exc
        result = Predictions(y_true_f, y_pred_f, None)
    _CACHE[id(ctx)] = (ctx.evaluation, result)
    weakref.finalize(ctx, _CACHE.pop, id(ctx), None)
    return result


def _probability_like(values: np.ndarray[Any, Any]) -> bool:
    import numpy as np

    if values.size == 0:
        return False
    low, high = float(np.min(values)), float(np.max(values))
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0.0 or high > 1.0:
        return False
    return not bool(np.all((values == 0.0) | (values == 1.0)))


# --------------------------------------------------------------------------- another model, same rows

_OTHER: dict[tuple[str, str, int | None, int], Predictions] = {}


def _data_digest(ctx: ModelContext) -> str:
    return next((v for k, v in sorted(ctx.inputs.items()) if k.startswith("evaluation:")), "")


def predictions_of(model_uri: str, ctx: ModelContext) -> Predictions:
    """Another model's predictions (e.g. the champion's) on ``ctx.evaluation``, row-aligned.

    The model is judged by the context's rules (positive label, one pass); results are cached per
    process by model URI and evaluation data digest (with sample and seed), so a gate that
    compares again does not predict again.
    """
    key = (model_uri, _data_digest(ctx), ctx.sample, ctx.seed)
    cached = _OTHER.get(key)
    if cached is not None:
        return cached
    result = predictions(context_of(model_uri, ctx))
    _OTHER[key] = result
    return result


def context_of(model_uri: str, ctx: ModelContext) -> ModelContext:
    """``ctx`` with another model (judged by the context's rules) on the same data."""
    import dataclasses

    import mlflow.models

    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc
    signature = _signature_dict(info.signature)
    named = _named_inputs(signature)
    features = [str(item["name"]) for item in named] if named else list(ctx.features)
    blocking = [v.message for v in signature_violations(ctx.evaluation, signature) if v.blocking]
    if blocking:
        raise CollectionError(
            f"the evaluation data do not match the signature of {model_uri}: " + "; ".join(blocking)
        )
    loaded = _load_model(model_uri, list(info.flavors), features)
    return dataclasses.replace(
        ctx,
        model_uri=model_uri,
        flavor=loaded.flavor,
        native=loaded.native,
        predict=loaded.predict,
        predict_proba=_positive_proba(loaded, ctx.positive_label),
        predict_with_scores=_positive_labelled(loaded, ctx.positive_label),
        features=features,
        signature=signature,
    )

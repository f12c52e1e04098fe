"""Evidence computed in a Spark cluster, for evaluation data that live there (needs ``pyspark``).

:func:`spark_evidence` takes the evaluation (and reference) data as Spark DataFrames and
returns a govern evidence document (``apiVersion: govern/v1``, ``kind: Evidence``) that
``govern check --evidence`` reads. The cluster does the work that grows with the rows:

- **scoring**: each partition is scored once by the model. ``scorer="govern"`` (default) runs
  govern's own prediction rules (:func:`.model.predictions`: labels and the positive class's
  score from one ``predict_proba``) in ``mapInPandas``; ``scorer="spark_udf"`` scores with
  ``mlflow.pyfunc.spark_udf`` (any MLflow flavour; labels only, so the score metrics and AUC
  are absent);
- **fairness**: one ``groupBy(sensitive columns, y_true, y_pred).count()`` per sensitive feature
  and intersection: the confusion cells, from which :func:`.fairness.classification_from_cells`
  computes every figure as the in-memory and streaming paths do (classifiers only);
- **data**: per column its null count (one aggregation); per model feature its value counts
  (``groupBy(column).count()``), from which drift is computed exactly as
  engine/evidence/streaming.py does; range violations by ``count`` of a filter;
- **performance**: labels, predictions and scores (10 bytes a row) are collected to the driver
  as Arrow for exact metrics (ROC AUC included): plan on 1 GB of driver memory per 100M rows;
- **explanations and proxies** run on a seeded sample of ``sample_rows`` rows collected to the
  driver (``DataFrame.sample`` then ``limit``; Spark's sample is not pandas' sample, so these
  two agree with the in-memory path only within sampling error unless every row is taken).

Profile dtypes are those of ``DataFrame.toPandas`` on the Spark schema (e.g. ``object`` for
strings), not those of ``pd.read_parquet``. On the same rows, fairness figures (bootstrap
intervals included) equal the in-memory path's exactly, performance and drift to 1e-12
relative (summation order) (tests/test_evidence_spark.py, Spark local mode).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

try:
    import pyspark.sql.functions as F
    from pyspark.sql import DataFrame, SparkSession
except ImportError as exc:  # pragma: no cover - exercised only without pyspark
    raise ImportError("govern.engine.evidence.spark needs pyspark: pip install 'govern-ml[spark]'") from exc

from .. import __version__
from ..errors import CollectionError
from ..spec import ModelSpec, Stage
from .base import ModelContext
from .document import SECTIONS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["DEFAULT_SAMPLE_ROWS", "spark_evidence", "spark_model_sections"]

DEFAULT_SAMPLE_ROWS = 200_000
_COLLECTORS = ["spark", "performance", "fairness", "explain", "quality"]


def _driver_context(
    spark: SparkSession, model_uri: str, spec: ModelSpec, evaluation: DataFrame, seed: int
) -> ModelContext:
    """The model loaded on the driver, its positive label from the target's distinct values."""
    import mlflow.models
    import pandas as pd

    from .model import (
        _evaluation_target,
        _load_error,
        _load_model,
        _named_inputs,
        _positive_label,
        _positive_labelled,
        _positive_proba,
        _signature_dict,
        _spec_error,
    )

    ds, target = _evaluation_target(spec)
    if target not in evaluation.columns:
        raise _spec_error(
            spec,
            ("data", "evaluation", "target"),
            f"the target column '{target}' is not in the evaluation data",
        )
    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc
    signature = _signature_dict(info.signature)
    named = _named_inputs(signature)
    features = [str(i["name"]) for i in named] if named else [c for c in evaluation.columns if c != target]
    missing = [f for f in features if f not in evaluation.columns]
    if missing:
        raise CollectionError(f"the evaluation data lack the model's input columns {missing}")
    loaded = _load_model(model_uri, list(info.flavors), features)
    nulls = evaluation.filter(F.col(target).isNull()).count()
    if nulls:
        raise CollectionError(
            f"the target column '{target}' has {nulls} missing values in the evaluation data"
        )
    labels = _pandas(evaluation.select(target).distinct())[target]
    positive = _positive_label(spec, ds, pd.Series(labels.tolist()), target, loaded)
    return ModelContext(
        model_uri=model_uri,
        flavor=loaded.flavor,
        native=loaded.native,
        predict=loaded.predict,
        predict_proba=_positive_proba(loaded, positive),
        predict_with_scores=_positive_labelled(loaded, positive),
        features=features,
        target=target,
        evaluation=pd.DataFrame(),
        positive_label=positive,
        signature=signature,
        seed=seed,
    )


def _scored(
    spark: SparkSession, ctx: ModelContext, evaluation: DataFrame, keep: list[str], scorer: str
) -> DataFrame:
    """The evaluation rows with ``y_true``, ``y_pred`` (0/1) and ``y_score`` (null without scores)."""
    import mlflow

    from .model import is_classifier

    if not is_classifier(ctx):
        raise CollectionError("the Spark path judges classifiers; collect a regressor in memory or streaming")
    positive = ctx.positive_label
    if scorer == "spark_udf":
        import mlflow.pyfunc

        udf = mlflow.pyfunc.spark_udf(spark, ctx.model_uri, result_type="string")
        raw = udf(F.struct(*[F.col(f) for f in ctx.features]))
        return evaluation.select(
            *keep,
            (F.col(ctx.target).cast("string") == F.lit(str(positive))).cast("long").alias("y_true"),
            (raw == F.lit(str(positive))).cast("long").alias("y_pred"),
            F.lit(None).cast("double").alias("y_score"),
        )
    tracking = mlflow.get_tracking_uri()
    model_uri, features, target = ctx.model_uri, list(ctx.features), ctx.target
    columns = list(dict.fromkeys([*keep, *features, target]))
    schema = (
        evaluation.select(*keep).schema.add("y_true", "long").add("y_pred", "long").add("y_score", "double")
    )

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import dataclasses

        import mlflow as worker_mlflow

        from govern.engine.evidence import model as govern_model

        worker_mlflow.set_tracking_uri(tracking)
        worker_ctx = _worker_context(model_uri, ctx, features)
        for frame in batches:
            if frame.empty:
                continue
            pred = govern_model.predictions(dataclasses.replace(worker_ctx, evaluation=frame))
            out = frame[keep].copy()
            out["y_true"], out["y_pred"] = pred.y_true, pred.y_pred
            out["y_score"] = pred.y_score if pred.y_score is not None else float("nan")
            yield out

    return evaluation.select(*columns).mapInPandas(score, schema)


_WORKER: dict[str, ModelContext] = {}


def _pandas(frame: DataFrame) -> pd.DataFrame:
    """``frame.toPandas()`` (typed as pandas: pyspark types it as a protocol)."""
    out: Any = frame.toPandas()
    return out


def _worker_context(model_uri: str, ctx: ModelContext, features: list[str]) -> ModelContext:
    """The driver's context with the model loaded once per worker process."""
    import dataclasses

    import mlflow.models

    from .model import _load_model, _positive_labelled, _positive_proba

    cached = _WORKER.get(model_uri)
    if cached is None:
        info = mlflow.models.get_model_info(model_uri)
        loaded = _load_model(model_uri, list(info.flavors), features)
        cached = dataclasses.replace(
            ctx,
            native=loaded.native,
            predict=loaded.predict,
            predict_proba=_positive_proba(loaded, ctx.positive_label),
            predict_with_scores=_positive_labelled(loaded, ctx.positive_label),
        )
        _WORKER[model_uri] = cached
    return cached


def _value_counts(frame: DataFrame, column: str) -> pd.Series:
    counts = _pandas(frame.filter(F.col(column).isNotNull()).groupBy(column).count())
    return counts.set_index(column)["count"].astype("int64")


def _profile(frame: DataFrame, name: str | None) -> tuple[dict[str, Any], dict[str, int]]:
    rows = frame.count()
    nulls_row = frame.select(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in frame.columns]).first()
    nulls = {c: int(nulls_row[c] or 0) if nulls_row is not None else 0 for c in frame.columns}
    dtypes = _pandas(frame.limit(0)).dtypes
    profile = {
        "name": name,
        "rows": rows,
        "columns": {
            c: {"dtype": str(dtypes[c]), "null_share": nulls[c] / rows if rows else 0.0}
            for c in frame.columns
        },
    }
    return profile, nulls


def _numeric(frame: DataFrame, column: str) -> bool:
    from pyspark.sql.types import BooleanType, NumericType

    kind = frame.schema[column].dataType
    return isinstance(kind, NumericType) and not isinstance(kind, BooleanType)


def _sorted_values(frame: DataFrame, column: str) -> np.ndarray[Any, Any]:
    import numpy as np

    counts = _value_counts(frame, column)
    order = np.argsort(counts.index.to_numpy(dtype=np.float64), kind="stable")
    values = counts.index.to_numpy(dtype=np.float64)[order]
    repeated: np.ndarray[Any, Any] = np.repeat(values, counts.to_numpy()[order])
    return repeated


def _data_section(
    spec: ModelSpec, ctx: ModelContext, evaluation: DataFrame, reference: DataFrame | None
) -> dict[str, Any]:
    from .model import _dataset_spec, signature_violations
    from .quality import _dataset_name, categorical_drift_counts, numeric_drift

    ds = _dataset_spec(spec, "evaluation") or {}
    profile, nulls = _profile(evaluation, _dataset_name(spec, "evaluation"))
    empty = _pandas(evaluation.limit(0))
    violations = [v.message for v in signature_violations(empty, ctx.signature, null_counts=nulls)]
    ranges: dict[str, int] = {}
    for column, bound in (ds.get("ranges") or {}).items():
        condition = F.lit(False)
        if "min" in bound:
            condition = condition | (F.col(column) < F.lit(bound["min"]))
        if "max" in bound:
            condition = condition | (F.col(column) > F.lit(bound["max"]))
        ranges[str(column)] = evaluation.filter(F.col(column).isNotNull() & condition).count()
    section: dict[str, Any] = {
        "evaluation": profile,
        "reference": None,
        "drift": None,
        "schema_violations": violations,
        "range_violations": ranges,
    }
    if reference is None:
        return section
    section["reference"], ref_nulls = _profile(reference, _dataset_name(spec, "reference"))
    ref_empty = _pandas(reference.limit(0))
    violations += [
        f"reference data: {v.message}"
        for v in signature_violations(ref_empty, ctx.signature, null_counts=ref_nulls)
    ]
    drift: dict[str, Any] = {}
    for column in [f for f in ctx.features if f in evaluation.columns]:
        if column not in reference.columns:
            violations.append(f"reference data: column '{column}' is missing")
            continue
        kinds = _numeric(reference, column), _numeric(evaluation, column)
        if kinds[0] != kinds[1]:
            names = ["numeric" if k else "categorical" for k in kinds]
            violations.append(
                f"column '{column}' is {names[1]} in the evaluation data but {names[0]} in the reference data"
            )
            continue
        drift[column] = (
            numeric_drift(_sorted_values(reference, column), _sorted_values(evaluation, column))
            if kinds[0]
            else categorical_drift_counts(_value_counts(reference, column), _value_counts(evaluation, column))
        )
    section["drift"] = drift
    return section


def _fairness_section(
    spec: ModelSpec, ctx: ModelContext, scored: DataFrame, sample: pd.DataFrame
) -> dict[str, Any]:
    import numpy as np

    from .fairness import fairness_settings, feature_from_cells, group_codes
    from .proxy import proxy_section

    settings = fairness_settings(ctx, spec)
    features: dict[str, Any] = {}
    rows = 0
    for label, columns in settings.features:
        counts = _pandas(scored.groupBy(*columns, "y_true", "y_pred").count())
        codes, names = group_codes(counts, columns)
        if len(columns) == 1 and len(names) < 2:
            raise CollectionError(
                f"every evaluation row has the same value of the sensitive feature '{label}'; "
                "fairness between groups cannot be measured"
            )
        index = codes * 4 + counts["y_true"].to_numpy() * 2 + counts["y_pred"].to_numpy()
        cells = np.bincount(index, weights=counts["count"].to_numpy(), minlength=len(names) * 4)
        features[label] = feature_from_cells(settings, cells.astype(np.int64), names)
        rows = int(counts["count"].sum())
    import dataclasses

    return {
        "rows": rows,
        "features": features,
        "proxies": proxy_section(dataclasses.replace(ctx, evaluation=sample), spec),
    }


def spark_model_sections(
    spark: SparkSession,
    model_uri: str,
    spec: ModelSpec,
    evaluation: DataFrame,
    reference: DataFrame | None = None,
    *,
    seed: int = 0,
    scorer: str = "govern",
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The performance, fairness, explanations and data sections, and reasons for missing ones."""
    import dataclasses

    import numpy as np

    from .explain import explanations_section
    from .model import Predictions
    from .performance import performance_section

    if scorer not in ("govern", "spark_udf"):
        raise CollectionError(f"unknown scorer {scorer!r}: 'govern' or 'spark_udf'")
    ctx = _driver_context(spark, model_uri, spec, evaluation, seed)
    sensitive = sorted(
        {c for _, cols in _fair_features(spec) for c in cols} if spec.fairness is not None else set()
    )
    missing_columns = [c for c in sensitive if c not in evaluation.columns]
    if missing_columns:
        raise CollectionError(
            f"the sensitive features {missing_columns} are not columns of the evaluation data"
        )
    scored = _scored(spark, ctx, evaluation, sensitive, scorer).cache()
    try:
        arrays = _pandas(scored.select("y_true", "y_pred", "y_score"))
        total = evaluation.count()
        fraction = 1.0 if sample_rows >= total else min(1.0, 1.2 * sample_rows / max(total, 1))
        sample = _pandas(evaluation.sample(fraction=fraction, seed=seed).limit(sample_rows))
        y_score = arrays["y_score"].to_numpy(dtype=np.float64)
        pred = Predictions(
            arrays["y_true"].to_numpy(dtype=np.int64),
            arrays["y_pred"].to_numpy(dtype=np.int64),
            None if np.isnan(y_score).any() else y_score,
        )
        sections: dict[str, Any] = {"performance": performance_section(ctx, spec, logged={}, given=pred)}
        missing: dict[str, str] = {}
        sample_ctx = dataclasses.replace(ctx, evaluation=sample)
        if spec.fairness is not None:
            sections["fairness"] = _fairness_section(spec, sample_ctx, scored, sample)
        else:
            sections["fairness"], missing["fairness"] = None, "the spec declares no sensitive features"
        if spec.explainability is not None:
            sections["explanations"] = explanations_section(sample_ctx, spec)
        else:
            sections["explanations"] = None
            missing["explanations"] = "the spec asks for no explanations (explainability)"
        sections["data"] = _data_section(spec, ctx, evaluation, reference)
    finally:
        scored.unpersist()
    return sections, missing


def _fair_features(spec: ModelSpec) -> list[tuple[str, list[str]]]:
    fairness = spec.fairness.raw if spec.fairness else {}
    out = [(name, [name]) for name in fairness.get("sensitive_features", [])]
    out += [("&".join(combo), list(combo)) for combo in fairness.get("intersections", []) if combo]
    return out


def spark_evidence(
    spark: SparkSession,
    model_uri: str,
    spec: ModelSpec,
    stage: Stage,
    evaluation: DataFrame,
    reference: DataFrame | None = None,
    *,
    seed: int = 0,
    scorer: str = "govern",
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A govern evidence document for ``govern check --evidence``, validated against the schema.

    The sections the Spark path does not compute (the MLflow model and run metadata, live
    metrics) are null with a reason in ``missing``; ``inputs`` (name → sha256) names the data
    read, for provenance.
    """
    from .document import evidence_from_value

    started = dt.datetime.now(dt.UTC)
    sections, missing = spark_model_sections(
        spark, model_uri, spec, evaluation, reference, seed=seed, scorer=scorer, sample_rows=sample_rows
    )
    document: dict[str, Any] = {
        "apiVersion": "govern/v1",
        "kind": "Evidence",
        "stage": stage.value,
        "spec": spec.data,
    }
    for section in SECTIONS:
        document[section] = sections.get(section)
        if document[section] is None:
            missing.setdefault(section, "not collected by the Spark path")
    document["missing"] = {k: v for k, v in missing.items() if k in SECTIONS and document[k] is None}
    named = {f"spec:{spec.source}": spec.sha256, **dict(inputs or {})}
    document["provenance"] = {
        "collected_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "engine_version": __version__,
        "collectors": _COLLECTORS,
        "inputs": [{"name": k, "sha256": v} for k, v in sorted(named.items())],
    }
    evidence_from_value(document, source=f"<evidence for {model_uri}>")  # raises on a schema error
    return document

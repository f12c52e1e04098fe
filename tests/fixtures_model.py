"""Shared model fixtures: a real sklearn Pipeline on UCI Adult, logged to a temporary MLflow store.

Use them from a test module with ``pytest_plugins = ["tests.fixtures_model"]`` (helpers such as
``spec_with`` are imported as usual; PYTEST_DONT_REWRITE: nothing here asserts). The
expensive work (training, logging to MLflow, loading the context) happens once per session:
it is cached at module level, so every module that imports the fixtures shares it.

The model: OneHotEncoder for the categorical columns (numeric ones passed through) and a
GradientBoostingClassifier (50 trees, depth 3, random_state 0), trained on a seeded sample of
8,000 rows of examples/adult-income/data/adult_train.csv (UCI Adult, Becker & Kohavi 1996,
CC BY 4.0), without ``fnlwgt`` (a census sampling weight, not a feature). It is logged with a
signature to a sqlite tracking store and registered as ``adult-income`` version 1.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from govern.engine.evidence.base import ModelContext
from govern.engine.spec import ModelSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"
SPEC = EXAMPLE / "spec.yaml"
DATA = EXAMPLE / "data"
TRAIN = DATA / "adult_train.csv"
TEST = DATA / "adult_test.csv"
TARGET = "income"
DROPPED = ("fnlwgt",)
TRAIN_ROWS = 8000
MODEL_NAME = "adult-income"

os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


@dataclass(frozen=True)
class AdultModel:
    tmp: Path
    tracking_uri: str
    model_uri: str
    run_id: str
    pipeline: Any  # the fitted sklearn Pipeline (the same object that was logged)
    features: list[str]


def _pipeline(categorical: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough"
    )
    return Pipeline(
        [("pre", pre), ("clf", GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0))]
    )


@functools.cache
def build_adult_model() -> AdultModel:
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    from govern.engine.evidence.model import SKOPS_TRUSTED_TYPES

    tmp = Path(tempfile.mkdtemp(prefix="govern-mlflow-"))
    atexit.register(shutil.rmtree, tmp, True)
    frame = pd.read_csv(TRAIN).drop(columns=list(DROPPED))
    train = frame.sample(n=TRAIN_ROWS, random_state=0)
    x, y = train.drop(columns=[TARGET]), train[TARGET]
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    pipeline = _pipeline(categorical).fit(x, y)

    tracking_uri = f"sqlite:///{tmp}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        experiment = mlflow.create_experiment("govern-tests", artifact_location=(tmp / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params({"n_estimators": 50, "max_depth": 3, "learning_rate": 0.1})
            mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=infer_signature(x, pipeline.predict(x)),
                pip_requirements=["scikit-learn"],
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
                registered_model_name=MODEL_NAME,
            )
    finally:
        mlflow.set_tracking_uri(previous)
    return AdultModel(
        tmp, tracking_uri, f"models:/{MODEL_NAME}/1", run.info.run_id, pipeline, list(x.columns)
    )


@functools.cache
def example_spec() -> ModelSpec:
    return load_spec(SPEC)


def spec_with(tmp: Path, changes: dict[str, Any], *, drop: tuple[tuple[str, ...], ...] = ()) -> ModelSpec:
    """The example spec with ``changes`` merged in (mappings merge, anything else replaces) and the
    key paths in ``drop`` removed, written to ``tmp/spec.yaml`` so errors can name its lines.
    Its data paths stay relative to the example folder: pass ``base_dir=EXAMPLE``."""
    value = yaml.safe_load(SPEC.read_text())

    def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
        for key, item in over.items():
            if isinstance(item, dict) and isinstance(base.get(key), dict):
                merge(base[key], item)
            else:
                base[key] = copy.deepcopy(item)

    merge(value, changes)
    for path in drop:
        node = value
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    target = tmp / "spec.yaml"
    target.write_text(yaml.safe_dump(value, sort_keys=False))
    return load_spec(target)


@functools.cache
def adult_context() -> ModelContext:
    import mlflow

    from govern.engine.evidence.model import load_model_context

    model = build_adult_model()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(model.tracking_uri)
    try:
        return load_model_context(model.model_uri, example_spec(), EXAMPLE, sample=None, seed=0)
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def adult_model() -> AdultModel:
    return build_adult_model()


@pytest.fixture
def mlflow_store(adult_model: AdultModel) -> Iterator[AdultModel]:
    """Point MLflow at the test store for one test, and back afterwards."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(adult_model.tracking_uri)
    try:
        yield adult_model
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def adult_spec() -> ModelSpec:
    return example_spec()


@pytest.fixture(scope="session")
def adult_ctx() -> ModelContext:
    return adult_context()

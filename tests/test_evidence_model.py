"""Loading the model and its data (engine/evidence/model.py): the happy path and every bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from govern.engine.errors import CollectionError, SpecError
from govern.engine.evidence.base import ModelContext
from govern.engine.evidence.model import (
    SKOPS_TRUSTED_TYPES,
    _infer_positive,
    load_model_context,
    predictions,
    signature_violations,
)
from govern.engine.spec import ModelSpec

from .fixtures_model import EXAMPLE, TEST, AdultModel, spec_with

pytest_plugins = ["tests.fixtures_model"]

pytestmark = pytest.mark.filterwarnings("ignore")


def _csv(tmp: Path, frame: pd.DataFrame, name: str = "eval.csv") -> Path:
    path = tmp / name
    frame.to_csv(path, index=False)
    return path


def _spec_for(tmp: Path, csv: Path, **changes: Any) -> ModelSpec:
    return spec_with(
        tmp, {"data": {"evaluation": {"path": str(csv)}}, **changes}, drop=(("data", "reference"),)
    )


@pytest.fixture(scope="module")
def test_rows() -> pd.DataFrame:
    return pd.read_csv(TEST).head(2000)


# --------------------------------------------------------------------------- happy path


def test_context_from_the_registered_model(adult_ctx: ModelContext, adult_model: AdultModel) -> None:
    ctx = adult_ctx
    assert ctx.flavor == "sklearn"
    assert type(ctx.native).__name__ == "Pipeline"
    assert ctx.features == adult_model.features  # from the signature, in order, without fnlwgt
    assert "fnlwgt" not in ctx.features
    assert ctx.target == "income"
    assert ctx.positive_label == ">50K"  # named by the spec (data.evaluation.positive_label)
    assert len(ctx.evaluation) == 16281
    assert ctx.reference is not None
    assert len(ctx.reference) == 32561
    assert ctx.signature is not None
    assert [i["name"] for i in ctx.signature["inputs"]] == ctx.features
    data = EXAMPLE / "data"
    assert ctx.inputs == {
        "evaluation:data/adult_test.csv": hashlib.sha256((data / "adult_test.csv").read_bytes()).hexdigest(),
        "reference:data/adult_train.csv": hashlib.sha256((data / "adult_train.csv").read_bytes()).hexdigest(),
    }


def test_predictions_are_made_once_and_match_the_model(
    adult_ctx: ModelContext, adult_model: AdultModel
) -> None:
    first = predictions(adult_ctx)
    assert predictions(adult_ctx) is first
    x = adult_ctx.evaluation[adult_ctx.features]
    expected = (adult_model.pipeline.predict(x) == ">50K").astype(np.int64)
    assert np.array_equal(first.y_pred, expected)
    assert np.array_equal(
        first.y_true, (adult_ctx.evaluation["income"] == ">50K").to_numpy().astype(np.int64)
    )
    assert first.y_score is not None
    positive = list(adult_model.pipeline.classes_).index(">50K")
    assert np.allclose(first.y_score, adult_model.pipeline.predict_proba(x)[:, positive], rtol=0, atol=1e-12)
    accuracy = float((first.y_pred == first.y_true).mean())
    assert 0.84 < accuracy < 0.88


def test_sample_and_seed_are_honoured(mlflow_store: AdultModel, adult_spec: ModelSpec) -> None:
    a = load_model_context(mlflow_store.model_uri, adult_spec, EXAMPLE, sample=500, seed=1)
    b = load_model_context(mlflow_store.model_uri, adult_spec, EXAMPLE, sample=500, seed=1)
    c = load_model_context(mlflow_store.model_uri, adult_spec, EXAMPLE, sample=500, seed=2)
    assert len(a.evaluation) == 500
    assert a.reference is not None
    assert len(a.reference) == 500
    assert list(a.evaluation.index) == list(b.evaluation.index)
    assert list(a.evaluation.index) != list(c.evaluation.index)
    assert a.sample == 500
    assert a.seed == 1


@pytest.mark.parametrize(
    ("labels", "positive"),
    [
        ([0, 1], 1),
        ([False, True], True),
        ([0.0, 1.0], 1.0),
    ],
)
def test_positive_label_inference(labels: list[Any], positive: Any) -> None:
    assert _infer_positive(labels) == positive


@pytest.mark.parametrize("labels", [["a", "b", "c"], ["<=50K", ">50K"], ["approved", "denied"], [1, 2]])
def test_other_labels_are_never_guessed(labels: list[Any]) -> None:
    assert _infer_positive(labels) is None


def test_string_labels_without_a_positive_label_stop_with_exit_2(
    mlflow_store: AdultModel, tmp_path: Path, test_rows: pd.DataFrame
) -> None:
    spec = _spec_for(tmp_path, _csv(tmp_path, test_rows))
    raw = yaml.safe_load(Path(spec.source).read_text())
    del raw["data"]["evaluation"]["positive_label"]
    Path(spec.source).write_text(yaml.safe_dump(raw))
    from govern.engine.spec import load_spec

    with pytest.raises(SpecError, match=r"the labels \['<=50K', '>50K'\]") as info:
        load_model_context(mlflow_store.model_uri, load_spec(Path(spec.source)), EXAMPLE)
    assert info.value.exit_code == 2
    assert info.value.location is not None
    assert info.value.location.field == "data.evaluation"
    assert "positive_label" in (info.value.hint or "")


def test_one_pass_labels_match_predict_and_fall_back_when_argmax_is_not_the_rule() -> None:
    from sklearn.svm import SVC

    from govern.engine.evidence.model import _one_pass

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = np.where(x["a"] + 0.8 * rng.normal(size=400) > 0, "yes", "no")
    svc = SVC(probability=True, random_state=0).fit(x, y)
    labels, matrix = _one_pass(svc, ["a", "b"], list(svc.classes_))(x)
    assert np.array_equal(labels, svc.predict(x))  # the probe saw the disagreement, predict was used
    assert np.allclose(matrix, svc.predict_proba(x))


# --------------------------------------------------------------------------- bad input


def test_missing_sensitive_feature_is_a_spec_error_at_its_field(
    mlflow_store: AdultModel,
    tmp_path: Path,
) -> None:
    spec = spec_with(tmp_path, {"fairness": {"sensitive_features": ["sex", "gender"]}})
    with pytest.raises(SpecError, match="sensitive feature 'gender' is not a column") as info:
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)
    assert info.value.location is not None
    assert info.value.location.field == "fairness.sensitive_features[1]"
    assert info.value.location.file == str(tmp_path / "spec.yaml")
    assert info.value.location.line is not None
    assert info.value.exit_code == 2


def test_missing_target_column_is_a_spec_error(mlflow_store: AdultModel, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"data": {"evaluation": {"target": "salary"}}})
    with pytest.raises(SpecError, match="target column 'salary' is not in the evaluation data") as info:
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)
    assert info.value.location is not None
    assert info.value.location.field == "data.evaluation.target"


def test_missing_data_file_is_a_spec_error(mlflow_store: AdultModel, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"data": {"evaluation": {"path": "data/nope.csv"}}})
    with pytest.raises(SpecError, match="no such data file") as info:
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)
    assert info.value.location is not None
    assert info.value.location.field == "data.evaluation.path"


def test_unknown_positive_label_is_a_spec_error(
    mlflow_store: AdultModel,
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    spec = _spec_for(tmp_path, _csv(tmp_path, test_rows), data={"evaluation": {"positive_label": "rich"}})
    with pytest.raises(SpecError, match="positive label 'rich' is not among") as info:
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)
    assert info.value.location is not None
    assert info.value.location.field == "data.evaluation.positive_label"


def test_single_class_target_is_a_collection_error(
    mlflow_store: AdultModel,
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    rows = test_rows[test_rows["income"] == "<=50K"]
    spec = _spec_for(tmp_path, _csv(tmp_path, rows))
    with pytest.raises(CollectionError, match="single class") as info:
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)
    assert info.value.exit_code == 3


def test_every_row_in_one_group_is_a_collection_error(
    mlflow_store: AdultModel,
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    rows = test_rows[test_rows["sex"] == "Male"]
    spec = _spec_for(tmp_path, _csv(tmp_path, rows))
    with pytest.raises(CollectionError, match="same value of the sensitive feature 'sex'"):
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)


def test_data_with_a_wrong_type_does_not_match_the_signature(
    mlflow_store: AdultModel,
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    rows = test_rows.copy()
    rows["age"] = "unknown"
    spec = _spec_for(tmp_path, _csv(tmp_path, rows))
    with pytest.raises(CollectionError, match=r"do not match the model signature: column 'age' holds string"):
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)


def test_data_without_a_required_column_does_not_match_the_signature(
    mlflow_store: AdultModel,
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    spec = _spec_for(tmp_path, _csv(tmp_path, test_rows.drop(columns=["education"])))
    with pytest.raises(
        CollectionError, match=r"column 'education' \(string\) of the model signature is missing"
    ):
        load_model_context(mlflow_store.model_uri, spec, EXAMPLE)


def test_nulls_in_a_required_column_are_reported_not_fatal(adult_ctx: ModelContext) -> None:
    frame = adult_ctx.evaluation.head(100).copy()
    frame.loc[frame.index[:3], "age"] = np.nan
    frame["age"] = frame["age"].astype("Int64")
    found = signature_violations(frame, adult_ctx.signature)
    assert [(v.column, v.blocking) for v in found] == [("age", False)]
    assert "3 null values" in found[0].message


def _local_copy(model: AdultModel, tmp: Path) -> Path:
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model.model_uri, dst_path=str(tmp)))


def test_corrupt_model_artifact_is_a_collection_error(
    mlflow_store: AdultModel,
    tmp_path: Path,
    adult_spec: ModelSpec,
) -> None:
    local = _local_copy(mlflow_store, tmp_path)
    (local / "model.skops").write_bytes(b"this is not a model")
    with pytest.raises(CollectionError, match="cannot load the model"):
        load_model_context(str(local), adult_spec, EXAMPLE)


def test_missing_model_is_a_collection_error(adult_spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match="cannot load the model"):
        load_model_context(str(tmp_path / "no-model"), adult_spec, EXAMPLE)


def test_untrusted_skops_types_say_how_to_trust_them(
    mlflow_store: AdultModel,
    tmp_path: Path,
    adult_spec: ModelSpec,
) -> None:
    local = _local_copy(mlflow_store, tmp_path)
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["skops_trusted_types"] == list(SKOPS_TRUSTED_TYPES)
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = []
    (local / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(CollectionError, match="not in its trusted list") as info:
        load_model_context(str(local), adult_spec, EXAMPLE)
    assert info.value.hint is not None
    assert "skops_trusted_types" in info.value.hint
    assert "sklearn.tree._tree.Tree" in info.value.hint


class NanModel:
    """A pyfunc model that returns NaN for every row."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return np.full(len(model_input), np.nan)


def test_nan_predictions_are_a_collection_error(
    tmp_path: Path,
    test_rows: pd.DataFrame,
) -> None:
    import mlflow.pyfunc

    from govern.engine.evidence.fairness import fairness_section

    class Model(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return NanModel().predict(context, model_input, params)

    path = tmp_path / "nan-model"
    mlflow.pyfunc.save_model(str(path), python_model=Model(), pip_requirements=["pandas"])
    spec = _spec_for(tmp_path, _csv(tmp_path, test_rows))
    ctx = load_model_context(str(path), spec, EXAMPLE)
    assert ctx.flavor == "python_function"
    with pytest.raises(CollectionError, match="2000 NaN predictions"):
        predictions(ctx)
    with pytest.raises(CollectionError, match="NaN predictions"):
        fairness_section(ctx, spec)

"""Explanation evidence (engine/evidence/explain.py) against shap computed directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap

from govern.engine.evidence.base import ModelContext
from govern.engine.evidence.explain import explain_sample, explanations_section, map_columns
from govern.engine.spec import ModelSpec

from .fixtures_model import TRAIN, AdultModel, spec_with

pytest_plugins = ["tests.fixtures_model"]
pytestmark = pytest.mark.filterwarnings("ignore")
TOL = 1e-9


def _onehot_mapping(pre: Any, features: list[str]) -> list[int]:
    """Transformed column → input feature, read from the fitted encoder (not from names)."""
    out: list[int] = []
    for name, transformer, columns in pre.transformers_:
        if name == "remainder":
            out += [int(c) if isinstance(c, int | np.integer) else features.index(c) for c in columns]
        elif transformer != "drop":
            for column, categories in zip(columns, transformer.categories_, strict=True):
                out += [features.index(column)] * len(categories)
    return out


def _importance(values: np.ndarray[Any, Any], features: list[str]) -> dict[str, float]:
    mean_abs = np.abs(values).mean(axis=0)
    return dict(zip(features, mean_abs.tolist(), strict=True))


@pytest.fixture(scope="module")
def section(adult_ctx: ModelContext, adult_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Any:
    artifacts = tmp_path_factory.mktemp("artifacts")
    return explanations_section(adult_ctx, adult_spec, artifact_dir=artifacts)


def test_tree_shap_on_the_pipeline_matches_shap(
    section: dict[str, Any], adult_ctx: ModelContext, adult_model: AdultModel
) -> None:
    pipeline, features = adult_model.pipeline, adult_ctx.features
    rows = explain_sample(adult_ctx.evaluation, 1000, 0)
    transformed = pipeline[:-1].transform(rows[features])
    transformed = np.asarray(transformed.toarray() if hasattr(transformed, "toarray") else transformed, float)
    raw = shap.TreeExplainer(pipeline[-1]).shap_values(transformed)
    mapping = _onehot_mapping(pipeline[0], features)
    summed = np.zeros((len(rows), len(features)))
    np.add.at(summed.T, mapping, raw.T)
    expected = _importance(summed, features)
    total = sum(expected.values())

    assert section["method"] == "tree"
    assert section["sample_size"] == 1000
    assert section["seed"] == 0
    got = section["global_importance"]
    assert [item["feature"] for item in got] == sorted(expected, key=lambda f: -expected[f])
    for item in got:
        assert abs(item["mean_abs_shap"] - expected[item["feature"]]) <= TOL
        assert abs(item["share"] - expected[item["feature"]] / total) <= TOL
    assert abs(sum(item["share"] for item in got) - 1.0) <= TOL


def test_artifact_holds_the_raw_values(
    section: dict[str, Any], adult_ctx: ModelContext, adult_model: AdultModel
) -> None:
    path = Path(section["artifact"])
    assert path.name == "shap_values.npz"
    with np.load(path) as saved:
        values, base = saved["values"], float(saved["base_value"])
        assert list(saved["features"]) == adult_ctx.features
        rows = explain_sample(adult_ctx.evaluation, 1000, 0)
        assert list(saved["rows"]) == list(rows.index)
        assert saved["transformed_values"].shape[0] == 1000
        assert saved["transformed_values"].shape[1] == len(saved["transformed_features"])
    assert values.shape == (1000, len(adult_ctx.features))
    # additivity: base value + the row's SHAP values = the model's log-odds for >50K
    margin = adult_model.pipeline.decision_function(rows[adult_ctx.features])
    assert np.allclose(values.sum(axis=1) + base, margin, atol=1e-6)
    importance = _importance(values, adult_ctx.features)
    for item in section["global_importance"]:
        assert abs(item["mean_abs_shap"] - importance[item["feature"]]) <= TOL


def test_sample_seed_and_per_group_importance(adult_ctx: ModelContext, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"explainability": {"sample_size": 300, "seed": 5, "by_group": True}})
    first = explanations_section(adult_ctx, spec, artifact_dir=tmp_path / "a")
    again = explanations_section(adult_ctx, spec, artifact_dir=tmp_path / "b")
    assert first["sample_size"] == 300
    assert first["seed"] == 5
    assert first["global_importance"] == again["global_importance"]
    rows = explain_sample(adult_ctx.evaluation, 300, 5)
    with np.load(first["artifact"]) as saved:
        assert list(saved["rows"]) == list(rows.index)
        values = saved["values"]
    for feature in ("sex", "race"):
        groups = first["by_group"][feature]
        assert set(groups) == set(rows[feature].unique())
        for group, entry in groups.items():
            mask = (rows[feature] == group).to_numpy()
            assert entry["rows"] == int(mask.sum())
            expected = _importance(values[mask], adult_ctx.features)
            for item in entry["importance"]:
                assert abs(item["mean_abs_shap"] - expected[item["feature"]]) <= TOL


def test_linear_model_in_a_pipeline_matches_shap(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = pd.read_csv(TRAIN).dropna().head(3000)
    features = ["age", "education-num", "hours-per-week", "sex", "relationship"]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "education-num", "hours-per-week"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "relationship"]),
        ]
    )
    pipeline = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(
        data[features], data["income"]
    )
    evaluation, reference = data.iloc[:1500], data.iloc[1500:]
    ctx = ModelContext(
        model_uri="memory",
        flavor="sklearn",
        native=pipeline,
        predict=lambda df: pipeline.predict(df[features]),
        predict_proba=None,
        features=features,
        target="income",
        evaluation=evaluation,
        reference=reference,
        positive_label=">50K",
        seed=3,
    )
    spec = spec_with(tmp_path, {"explainability": {"sample_size": 400, "background_size": 50}})
    section = explanations_section(ctx, spec)
    assert section["method"] == "linear"

    rows = explain_sample(evaluation, 400, 3)
    background = explain_sample(reference[features], 50, 3)
    explainer = shap.LinearExplainer(
        pipeline[-1], shap.maskers.Independent(pipeline[:-1].transform(background), max_samples=50)
    )
    raw = explainer.shap_values(pipeline[:-1].transform(rows[features]))
    mapping = [0, 1, 2] + [3] * 2 + [4] * len(pipeline[0].named_transformers_["cat"].categories_[1])
    summed = np.zeros((len(rows), len(features)))
    np.add.at(summed.T, mapping, raw.T)
    expected = _importance(summed, features)
    for item in section["global_importance"]:
        assert abs(item["mean_abs_shap"] - expected[item["feature"]]) <= TOL


def _pyfunc_ctx(frame: pd.DataFrame, score: Any, seed: int = 0) -> ModelContext:
    return ModelContext(
        model_uri="memory",
        flavor="python_function",
        native=None,
        predict=lambda df: np.where(score(df) >= 0.5, 1, 0),
        predict_proba=score,
        features=[c for c in frame.columns if c != "y"],
        target="y",
        evaluation=frame,
        positive_label=1,
        seed=seed,
    )


def test_model_agnostic_numeric_matches_shap_permutation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.normal(size=200), "noise": rng.normal(size=200)}
    )
    frame["y"] = (frame["a"] + 0.3 * frame["b"] > 0).astype(int)

    def score(df: pd.DataFrame) -> Any:
        return 1 / (1 + np.exp(-(2 * df["a"].to_numpy() + 0.5 * df["b"].to_numpy())))

    ctx = _pyfunc_ctx(frame, score, seed=4)
    spec = spec_with(tmp_path, {"explainability": {"sample_size": 40, "background_size": 20}})
    section = explanations_section(ctx, spec, artifact_dir=tmp_path)
    assert section["method"] == "permutation"

    features = ["a", "b", "noise"]
    rows = explain_sample(frame, 40, 4)
    background = explain_sample(frame[features], 20, 4).to_numpy()
    explainer = shap.PermutationExplainer(
        lambda x: score(pd.DataFrame(x, columns=features)),
        shap.maskers.Independent(background, max_samples=20),
        seed=4,
    )
    theirs = explainer(rows[features].to_numpy(), max_evals=2 * (2 * 3 + 1), silent=True)
    with np.load(section["artifact"]) as saved:
        assert np.allclose(saved["values"], theirs.values, atol=TOL, rtol=0)
        # additivity holds exactly for every permutation
        assert np.allclose(saved["values"].sum(axis=1) + float(saved["base_value"]), score(rows), atol=1e-9)
    ranked = [item["feature"] for item in section["global_importance"]]
    assert ranked == ["a", "b", "noise"]
    assert section["global_importance"][2]["mean_abs_shap"] <= 1e-12


def test_model_agnostic_with_text_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "colour": rng.choice(["red", "green", "blue"], n)})
    frame["y"] = ((frame["colour"] == "red") | (frame["x"] > 1)).astype(int)
    seen: list[pd.DataFrame] = []

    def score(df: pd.DataFrame) -> Any:
        seen.append(df)
        return np.where(df["colour"].astype(str) == "red", 0.9, 0.1) + 0.01 * df["x"].to_numpy()

    ctx = _pyfunc_ctx(frame, score)
    spec = spec_with(tmp_path, {"explainability": {"sample_size": 30, "background_size": 10}})
    section = explanations_section(ctx, spec, artifact_dir=tmp_path)
    assert {str(v) for df in seen for v in df["colour"].unique()} <= {"red", "green", "blue"}
    assert [item["feature"] for item in section["global_importance"]] == ["colour", "x"]
    rows = explain_sample(frame, 30, 0)
    with np.load(section["artifact"]) as saved:
        assert np.allclose(saved["values"].sum(axis=1) + float(saved["base_value"]), score(rows), atol=1e-9)


def test_map_columns() -> None:
    features = ["education", "education-num", "sex", "a__b"]
    names = [
        "cat__education_Bachelors",
        "remainder__education-num",
        "cat__sex_Female",
        "cat__sex_Male",
        "a__b",
    ]
    assert map_columns(names, features) == [0, 1, 2, 2, 3]
    assert map_columns(["pca0"], features) is None

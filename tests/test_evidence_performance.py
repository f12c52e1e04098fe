"""Measured performance (engine/evidence/performance.py) and paired significance tests
(engine/evidence/significance.py), checked against scikit-learn, scipy, statsmodels and
published worked examples."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from scipy.stats import ks_2samp

from govern.engine.evidence.base import ModelContext
from govern.engine.evidence.model import predictions, predictions_of
from govern.engine.evidence.performance import (
    Ranked,
    champion_comparison,
    classification_metrics,
    performance_section,
    regression_metrics,
)
from govern.engine.evidence.significance import delong, mcnemar
from govern.engine.spec import ModelSpec

from .fixtures_model import AdultModel, spec_with

pytest_plugins = ["tests.fixtures_model"]

pytestmark = pytest.mark.filterwarnings("ignore")

TOL = 1e-9


def _test_experiment() -> str:
    """The test store's experiment, whose artifacts live in its temporary folder (the default
    experiment would write them to ./mlruns)."""
    import mlflow

    experiment = mlflow.get_experiment_by_name("govern-tests")
    assert experiment is not None
    return str(experiment.experiment_id)


def _sklearn(y: Any, p: Any, s: Any, w: Any = None) -> dict[str, float]:
    out = {
        "accuracy": skm.accuracy_score(y, p, sample_weight=w),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p, sample_weight=w),
        "precision": skm.precision_score(y, p, sample_weight=w),
        "recall": skm.recall_score(y, p, sample_weight=w),
        "f1": skm.f1_score(y, p, sample_weight=w),
        "roc_auc": skm.roc_auc_score(y, s, sample_weight=w),
        "pr_auc": skm.average_precision_score(y, s, sample_weight=w),
        "log_loss": skm.log_loss(y, s, sample_weight=w),
        "brier_score": skm.brier_score_loss(y, s, sample_weight=w),
    }
    out["gini"] = 2 * out["roc_auc"] - 1
    if w is None:
        out["ks"] = float(ks_2samp(s[y == 1], s[y == 0]).statistic)
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_classification_metrics_match_sklearn_with_ties(weighted: bool) -> None:
    rng = np.random.default_rng(1)
    n = 5000
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = np.round(np.clip(rng.random(n) * 0.6 + y * 0.3, 0, 1), 2)  # many tied scores
    s[:3] = [0.0, 1.0, 1.0]  # log loss clipping at both ends
    p = (s >= 0.5).astype(np.int64)
    w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float) if weighted else None
    got = classification_metrics(y, p, Ranked(y, s), w)
    for name, expected in _sklearn(y, p, s, w).items():
        assert abs(got[name] - expected) < TOL, name


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=3000)
    p = y + rng.normal(size=3000) * 0.5
    w = rng.integers(0, 4, 3000).astype(float)
    for weights in (None, w):
        got = regression_metrics(y, p, weights)
        assert abs(got["rmse"] - skm.root_mean_squared_error(y, p, sample_weight=weights)) < TOL
        assert abs(got["mae"] - skm.mean_absolute_error(y, p, sample_weight=weights)) < TOL
        assert abs(got["r2"] - skm.r2_score(y, p, sample_weight=weights)) < TOL


def test_performance_section_on_the_adult_model(adult_ctx: ModelContext, adult_spec: ModelSpec) -> None:
    pred = predictions(adult_ctx)
    assert pred.y_score is not None
    section = performance_section(adult_ctx, adult_spec, logged={"accuracy": 0.95, "auc": 0.99, "other": 1.0})
    assert section["task"] == "classification"
    assert section["rows"] == 16281
    assert section["positive_label"] == ">50K"
    expected = _sklearn(pred.y_true, pred.y_pred, pred.y_score)
    for name, value in expected.items():
        entry = section["metrics"][name]
        assert abs(entry["value"] - value) < TOL, name
        low, high = entry["ci"]
        assert low <= value <= high, name
        assert high - low < 0.05, name
    assert 0.84 < section["metrics"]["accuracy"]["value"] < 0.88
    # the logged figures are compared with the measured ones
    integrity = {item["metric"]: item for item in section["integrity"]}
    assert set(integrity) == {"accuracy", "roc_auc"}
    assert integrity["roc_auc"]["logged_as"] == "auc"
    assert integrity["accuracy"]["difference"] == pytest.approx(0.95 - expected["accuracy"], abs=1e-12)
    assert section["bootstrap"] == {
        "method": "percentile bootstrap",
        "samples": 200,
        "seed": 0,
        "confidence": 0.95,
    }


# --------------------------------------------------------------------------- significance


def _rows(table: list[list[int]]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Correctness vectors of two models from a 2x2 table (row: a right/wrong, column: b)."""
    a: list[bool] = []
    b: list[bool] = []
    for (i, j), count in np.ndenumerate(np.array(table)):
        a += [i == 0] * int(count)
        b += [j == 0] * int(count)
    return np.array(a), np.array(b)


def test_mcnemar_agresti_worked_example() -> None:
    # Agresti, Categorical Data Analysis (2nd ed., 2002), Section 10.1: presidential approval
    # ratings in two surveys of 1600 people, off-diagonal 150 and 86. Agresti reports
    # z = (86 - 150) / sqrt(86 + 150) = -4.17 (z^2 = 17.36, P < 0.001). With continuity
    # correction the statistic is (|86 - 150| - 1)^2 / 236 = 16.818.
    a, b = _rows([[794, 150], [86, 570]])
    result = mcnemar(a, b)
    assert (result.only_a, result.only_b) == (150, 86)
    assert not result.exact
    assert result.statistic == pytest.approx(63**2 / 236, abs=1e-12)
    assert pytest.approx(17.36, abs=0.005) == (64**2 / 236)
    assert result.p_value < 0.001


@pytest.mark.parametrize(
    "table",
    [[[794, 150], [86, 570]], [[10, 3], [9, 20]], [[20, 12], [2, 30]], [[5, 0], [0, 5]], [[50, 14], [11, 3]]],
)
def test_mcnemar_matches_statsmodels(table: list[list[int]]) -> None:
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    a, b = _rows(table)
    result = mcnemar(a, b)
    reference = contingency.mcnemar(np.array(table), exact=result.exact, correction=True)
    assert result.exact == (table[0][1] + table[1][0] < 25)
    assert result.p_value == pytest.approx(float(reference.pvalue), abs=1e-12)
    assert result.statistic == pytest.approx(float(reference.statistic), abs=1e-12)


def _delong_by_definition(y: Any, s1: Any, s2: Any) -> tuple[list[float], float]:
    """DeLong, DeLong & Clarke-Pearson (1988): structural components V10/V01 from the
    Mann-Whitney kernel psi (1 if x > y, 1/2 if equal), O(m n); S = S10/m + S01/n."""
    pos, neg = y == 1, y == 0
    v10, v01 = [], []
    for s in (s1, s2):
        kernel = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    cov = np.cov(np.vstack(v10)) / pos.sum() + np.cov(np.vstack(v01)) / neg.sum()
    return [float(v.mean()) for v in v10], float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])


def test_fast_delong_equals_the_1988_definition_and_sklearn() -> None:
    # Sun & Xu (2014) prove their midrank algorithm equals DeLong's estimator; checked here on
    # data with many ties, against the O(mn) definition and sklearn's AUC.
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.4).astype(int)
    s1 = np.round(rng.random(n) + y * 0.5, 1)
    s2 = np.round(rng.random(n) + y * 0.8, 1)
    aucs, variance = _delong_by_definition(y, s1, s2)
    result = delong(y, s1, s2)
    assert result.auc_a == pytest.approx(aucs[0], abs=1e-12)
    assert result.auc_b == pytest.approx(skm.roc_auc_score(y, s2), abs=1e-12)
    assert result.se**2 == pytest.approx(variance, rel=1e-10)
    z = (aucs[1] - aucs[0]) / math.sqrt(variance)
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    assert result.p_value < 0.001  # s2 separates the classes far better


def test_delong_of_identical_scores_is_no_difference() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.8, 0.3, 0.6, 0.2, 0.4])
    result = delong(y, s, s)
    assert result.difference == 0
    assert result.p_value == 1.0


# --------------------------------------------------------------------------- champion on the same rows


@pytest.fixture(scope="module")
def weaker_model_uri(adult_model: AdultModel) -> str:
    """A logistic regression on two numeric columns, logged (not registered) in the test store."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .fixtures_model import TARGET, TRAIN

    frame = pd.read_csv(TRAIN).sample(n=4000, random_state=1)
    x = frame[["age", "hours-per-week"]]
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x, frame[TARGET])
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(adult_model.tracking_uri)
    try:
        with mlflow.start_run(experiment_id=_test_experiment()) as run:
            mlflow.sklearn.log_model(
                model,
                name="weak",
                signature=infer_signature(x, model.predict(x)),
                pip_requirements=["scikit-learn"],
            )
    finally:
        mlflow.set_tracking_uri(previous)
    return f"runs:/{run.info.run_id}/weak"


def test_challenger_against_a_weaker_champion_on_the_same_rows(
    mlflow_store: AdultModel, adult_ctx: ModelContext, weaker_model_uri: str, tmp_path: Any
) -> None:
    spec = spec_with(
        tmp_path,
        {
            "requirements": {
                "champion": {
                    "alias": "champion",
                    "metric": "accuracy",
                    "test": "superiority",
                    "compare": {
                        "roc_auc": {"test": "superiority"},
                        "log_loss": {"test": "non_inferiority", "margin": 0.01},
                    },
                }
            },
            "performance": {"bootstrap": {"samples": 50}},
        },
    )
    champion = predictions_of(weaker_model_uri, adult_ctx)
    assert predictions_of(weaker_model_uri, adult_ctx) is champion  # cached by model and data digest
    mine = predictions(adult_ctx)
    section = champion_comparison(adult_ctx, spec, weaker_model_uri, champion, alias="champion", version="7")
    assert section["rows"] == len(mine.y_true) == len(champion.y_true)
    comparisons = section["comparisons"]
    accuracy = comparisons["accuracy"]
    assert accuracy["test"].startswith("McNemar")
    assert accuracy["champion"] == pytest.approx(
        skm.accuracy_score(champion.y_true, champion.y_pred), abs=TOL
    )
    assert accuracy["challenger"] == pytest.approx(skm.accuracy_score(mine.y_true, mine.y_pred), abs=TOL)
    assert accuracy["improvement"] > 0.05
    assert accuracy["p_value"] < 1e-6
    low, high = accuracy["ci"]
    assert low < accuracy["improvement"] < high
    auc = comparisons["roc_auc"]
    assert auc["test"].startswith("DeLong")
    assert auc["champion"] == pytest.approx(skm.roc_auc_score(champion.y_true, champion.y_score), abs=TOL)
    assert auc["p_value"] < 1e-6
    loss = comparisons["log_loss"]
    assert loss["test"] == "paired bootstrap"
    assert loss["improvement"] == pytest.approx(
        skm.log_loss(champion.y_true, champion.y_score) - skm.log_loss(mine.y_true, mine.y_score), abs=TOL
    )
    assert loss["p_value"] == pytest.approx(1 / 51)  # no replicate is worse by the margin
    assert accuracy["regression"] == pytest.approx(-accuracy["improvement"])


def test_xgboost_flavour_is_loaded_natively_and_scored_once(
    mlflow_store: AdultModel, adult_ctx: ModelContext
) -> None:
    xgboost = pytest.importorskip("xgboost")
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    from .fixtures_model import TRAIN

    frame = pd.read_csv(TRAIN).sample(n=3000, random_state=2)
    x = frame[["age", "hours-per-week", "education-num"]]
    y = (frame["income"] == ">50K").astype(int)
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, y)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_store.tracking_uri)  # the test's store, not ./mlruns
    try:
        with mlflow.start_run(experiment_id=_test_experiment()) as run:
            mlflow.xgboost.log_model(model, name="xgb", signature=infer_signature(x, model.predict(x)))
    finally:
        mlflow.set_tracking_uri(previous)
    uri = f"runs:/{run.info.run_id}/xgb"
    # the Adult target is '>50K'/'<=50K' while this model predicts 0/1: labels share nothing
    from govern.engine.errors import CollectionError

    with pytest.raises(CollectionError, match="share none"):
        predictions_of(uri, adult_ctx)
    from govern.engine.evidence.model import _load_model

    loaded = _load_model(uri, ["xgboost", "python_function"], list(x.columns))
    assert loaded.flavor == "xgboost"
    assert loaded.labelled is not None
    labels, matrix = loaded.labelled(x)
    assert np.array_equal(labels, model.predict(x))
    assert np.allclose(matrix, model.predict_proba(x))

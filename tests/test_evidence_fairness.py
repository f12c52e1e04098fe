"""Fairness evidence (engine/evidence/fairness.py) against fairlearn computed directly on the rows."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from govern.engine.errors import SpecError
from govern.engine.evidence.base import ModelContext
from govern.engine.evidence.fairness import (
    classification_from_counts,
    fairness_section,
    regression_from_stats,
    regression_stats,
)
from govern.engine.evidence.model import predictions
from govern.engine.spec import ModelSpec

from .fixtures_model import spec_with

pytest_plugins = ["tests.fixtures_model"]

pytestmark = pytest.mark.filterwarnings("ignore")
TOL = 1e-12

FAIRLEARN = {
    "accuracy": skm.accuracy_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "precision": functools.partial(skm.precision_score, zero_division=0),
}


@pytest.fixture(scope="module")
def section(adult_ctx: ModelContext, adult_spec: ModelSpec) -> dict[str, Any]:
    return fairness_section(adult_ctx, adult_spec)


def _close(a: float | None, b: float) -> None:
    assert a is not None
    assert abs(a - float(b)) <= TOL, (a, b)


def _check_against(entry: dict[str, Any], frame: MetricFrame, metric: str, name: Any = str) -> None:
    got = entry["metrics"][metric]
    _close(got["overall"], frame.overall[metric])
    expected = {name(k): v for k, v in frame.by_group[metric].items()}
    assert set(got["by_group"]) == set(expected)
    for group, value in expected.items():
        _close(got["by_group"][group], value)
    _close(got["difference"], frame.difference()[metric])
    _close(got["ratio"], frame.ratio()[metric])
    _close(got["difference_to_overall"], frame.difference(method="to_overall")[metric])
    _close(got["ratio_to_overall"], frame.ratio(method="to_overall")[metric])


@pytest.mark.parametrize("feature", ["sex", "race"])
def test_matches_fairlearn_on_the_rows(
    section: dict[str, Any],
    adult_ctx: ModelContext,
    feature: str,
) -> None:
    y_true, y_pred, _ = predictions(adult_ctx)
    sf = adult_ctx.evaluation[feature]
    frame = MetricFrame(metrics=FAIRLEARN, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    entry = section["features"][feature]
    for metric in ("accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"):
        _check_against(entry, frame, metric)
    assert "precision" not in entry["metrics"]  # the spec lists four metrics
    _close(
        entry["demographic_parity_difference"],
        demographic_parity_difference(y_true, y_pred, sensitive_features=sf),
    )
    _close(entry["demographic_parity_ratio"], demographic_parity_ratio(y_true, y_pred, sensitive_features=sf))
    _close(
        entry["equalized_odds_difference"], equalized_odds_difference(y_true, y_pred, sensitive_features=sf)
    )
    _close(entry["equalized_odds_ratio"], equalized_odds_ratio(y_true, y_pred, sensitive_features=sf))
    assert entry["group_sizes"] == {str(k): int(v) for k, v in sf.value_counts().items()}
    assert section["rows"] == len(adult_ctx.evaluation)


def test_demographic_parity_on_sex_fails_the_threshold(
    section: dict[str, Any], adult_ctx: ModelContext
) -> None:
    y_true, _, _ = predictions(adult_ctx)
    sex = adult_ctx.evaluation["sex"]
    # the labels themselves: ~30 % of men and ~11 % of women earn >50K in the 1994 census
    label_gap = demographic_parity_difference(y_true, y_true, sensitive_features=sex)
    assert 0.17 < label_gap < 0.20
    model_gap = section["features"]["sex"]["demographic_parity_difference"]
    assert model_gap > 0.10  # the example's threshold
    assert 0.12 < model_gap < 0.20


def test_intersections_small_groups_and_all_metrics(
    tmp_path: Path,
    adult_ctx: ModelContext,
) -> None:
    spec = spec_with(
        tmp_path,
        {"fairness": {"intersections": [["sex", "race"]], "thresholds": {"min_group_size": 200}}},
        drop=(("fairness", "metrics"),),
    )
    section = fairness_section(adult_ctx, spec)
    y_true, y_pred, _ = predictions(adult_ctx)
    both = adult_ctx.evaluation[["sex", "race"]]
    frame = MetricFrame(metrics=FAIRLEARN, y_true=y_true, y_pred=y_pred, sensitive_features=both)
    entry = section["features"]["sex&race"]
    for metric in FAIRLEARN:  # the default metrics: all five, precision included
        _check_against(entry, frame, metric, name=lambda key: "&".join(map(str, key)))
    sizes = both.value_counts()
    assert entry["group_sizes"] == {f"{a}&{b}": int(n) for (a, b), n in sizes.items()}
    small = sorted(f"{a}&{b}" for (a, b), n in sizes.items() if n < 200)
    assert sorted(entry["small_groups"]) == small
    assert small
    assert set(small) <= set(entry["metrics"]["accuracy"]["by_group"])  # ... and never dropped
    race_small = section["features"]["race"]["small_groups"]
    assert sorted(race_small) == ["Amer-Indian-Eskimo", "Other"]


def test_unknown_metric_is_a_spec_error_at_its_field(tmp_path: Path, adult_ctx: ModelContext) -> None:
    spec = spec_with(tmp_path, {"fairness": {"metrics": ["accuracy", "acuracy_score"]}})
    with pytest.raises(SpecError, match="'acuracy_score' is not a fairness metric") as info:
        fairness_section(adult_ctx, spec)
    assert info.value.location is not None
    assert info.value.location.field == "fairness.metrics[1]"
    assert info.value.hint == "did you mean 'accuracy'?"


# --------------------------------------------------------------------------- bootstrap


def test_counts_give_fairlearns_figures_including_empty_denominators() -> None:
    # group 0 has no positives at all (TPR 0/0), group 1 no predicted positives (precision 0/0)
    y_true = np.array([0, 0, 0, 1, 1, 0, 1, 0])
    y_pred = np.array([0, 1, 0, 0, 0, 0, 1, 1])
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    metrics = {**FAIRLEARN, "f1": functools.partial(skm.f1_score, zero_division=0)}
    frame = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    counts = np.zeros((3, 4))
    np.add.at(counts, (groups, y_true * 2 + y_pred), 1)
    for metric in metrics:
        by_group = classification_from_counts(metric, counts)
        assert np.allclose(by_group, frame.by_group[metric].to_numpy(), atol=TOL), metric
        assert abs(classification_from_counts(metric, counts.sum(axis=0)) - frame.overall[metric]) <= TOL


def test_regression_stats_give_sklearns_figures() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.normal(size=400)
    y_pred = y_true + rng.normal(scale=0.5, size=400)
    groups = rng.integers(0, 3, 400)
    stats = regression_stats(y_true, y_pred, groups, 3)
    checks = {
        "mean_absolute_error": skm.mean_absolute_error,
        "mean_squared_error": skm.mean_squared_error,
        "root_mean_squared_error": skm.root_mean_squared_error,
        "r2": skm.r2_score,
    }
    for metric, fn in checks.items():
        for g in range(3):
            mask = groups == g
            assert abs(regression_from_stats(metric, stats[g]) - fn(y_true[mask], y_pred[mask])) <= 1e-9


def test_bootstrap_intervals_are_seeded_and_agree_with_fairlearns(
    tmp_path: Path,
    adult_ctx: ModelContext,
) -> None:
    # 3,000 rows keep fairlearn's own bootstrap (one MetricFrame per resample) quick
    ctx = dataclasses.replace(adult_ctx, evaluation=adult_ctx.evaluation.sample(n=3000, random_state=0))
    spec = spec_with(tmp_path, {"fairness": {"bootstrap": {"samples": 1000, "seed": 7, "confidence": 0.9}}})
    first = fairness_section(ctx, spec)
    assert first == fairness_section(ctx, spec)
    ci = first["features"]["sex"]["metrics"]["selection_rate"]["ci"]
    assert ci["samples"] == 1000
    assert ci["seed"] == 7
    assert ci["confidence"] == 0.9
    point = first["features"]["sex"]["metrics"]["selection_rate"]
    for key in ("overall", "difference", "ratio"):
        low, high = ci[key]
        assert low <= point[key] <= high
    # fairlearn's own bootstrap (row resampling) gives the same intervals up to Monte Carlo error
    # (its 100 resamples move the 5 % and 95 % quantiles by ~10 % of the width from seed to seed)
    y_true, y_pred, _ = predictions(ctx)
    theirs = MetricFrame(
        metrics={"selection_rate": selection_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=ctx.evaluation["sex"],
        n_boot=100,
        ci_quantiles=[0.05, 0.95],
        random_state=0,
    )
    width = ci["difference"][1] - ci["difference"][0]
    fl_low, fl_high = (q["selection_rate"] for q in theirs.difference_ci())
    assert abs(ci["difference"][0] - fl_low) < 0.2 * width
    assert abs(ci["difference"][1] - fl_high) < 0.2 * width
    fl_female = [q.loc["Female", "selection_rate"] for q in theirs.by_group_ci]
    assert np.allclose(ci["by_group"]["Female"], fl_female, atol=0.2 * width)


# --------------------------------------------------------------------------- regressors


def test_regressor_metrics_match_fairlearn_and_leave_parity_null(
    adult_spec: ModelSpec, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "sex": rng.choice(["F", "M"], n), "race": rng.choice(["a", "b", "c"], n)}
    )
    frame["y"] = 2 * frame["x"] + (frame["sex"] == "M") + rng.normal(scale=0.3, size=n)
    ctx = ModelContext(
        model_uri="memory",
        flavor="python_function",
        native=None,
        predict=lambda df: 2.0 * df["x"].to_numpy(),
        predict_proba=None,
        features=["x", "sex", "race"],
        target="y",
        evaluation=frame,
        positive_label=None,
    )
    spec = spec_with(tmp_path, {"fairness": {"bootstrap": {"samples": 50}}}, drop=(("fairness", "metrics"),))
    section = fairness_section(ctx, spec)
    metrics = {"mean_absolute_error": skm.mean_absolute_error, "mean_squared_error": skm.mean_squared_error}
    metrics["r2"] = skm.r2_score
    theirs = MetricFrame(
        metrics=metrics, y_true=frame["y"], y_pred=2.0 * frame["x"], sensitive_features=frame["sex"]
    )
    entry = section["features"]["sex"]
    for metric in metrics:
        _check_against(entry, theirs, metric)
        low, high = entry["metrics"][metric]["ci"]["overall"]
        assert low <= entry["metrics"][metric]["overall"] <= high
    assert entry["demographic_parity_difference"] is None
    assert entry["equalized_odds_difference"] is None


def test_aggregate_intervals_reach_the_evidence(tmp_path: Path, adult_ctx: ModelContext) -> None:
    ctx = dataclasses.replace(adult_ctx, evaluation=adult_ctx.evaluation.sample(n=3000, random_state=0))
    spec = spec_with(tmp_path, {"fairness": {"bootstrap": {"samples": 300, "seed": 3}}})
    sex = fairness_section(ctx, spec)["features"]["sex"]
    intervals = sex["intervals"]
    assert intervals["confidence"] == 0.95
    # the same resamples: demographic parity is the selection rate's gap and ratio
    assert intervals["demographic_parity_difference"] == sex["metrics"]["selection_rate"]["ci"]["difference"]
    assert intervals["demographic_parity_ratio"] == sex["metrics"]["selection_rate"]["ci"]["ratio"]
    low, high = intervals["equalized_odds_difference"]
    assert low <= sex["equalized_odds_difference"] <= high
    tpr_low, _ = sex["metrics"]["true_positive_rate"]["ci"]["difference"]
    assert low >= tpr_low - 1e-12  # the larger of two gaps is never below either

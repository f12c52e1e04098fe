"""Data evidence (engine/evidence/quality.py) against pandas and scipy computed directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp

from govern.engine.errors import SpecError
from govern.engine.evidence.base import ModelContext
from govern.engine.evidence.quality import (
    PSI_EPSILON,
    categorical_drift,
    data_section,
    numeric_drift,
    quantile_edges,
)
from govern.engine.spec import ModelSpec

from .fixtures_model import spec_with

pytest_plugins = ["tests.fixtures_model"]
pytestmark = pytest.mark.filterwarnings("ignore")
TOL = 1e-12


def _psi_direct(ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]) -> float:
    """The documented PSI, written the plain way: np.quantile edges, np.searchsorted bins."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11))[1:-1])
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    e = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    r, e = np.where(r > 0, r, PSI_EPSILON), np.where(e > 0, e, PSI_EPSILON)
    return float(np.sum((e - r) * np.log(e / r)))


@pytest.fixture(scope="module")
def section(adult_ctx: ModelContext, adult_spec: ModelSpec) -> dict[str, Any]:
    return data_section(adult_ctx, adult_spec)


def test_profiles_match_pandas(section: dict[str, Any], adult_ctx: ModelContext) -> None:
    for key, frame, name in (
        ("evaluation", adult_ctx.evaluation, "adult_test"),
        ("reference", adult_ctx.reference, "adult_train"),
    ):
        assert frame is not None
        profile = section[key]
        assert profile["name"] == name
        assert profile["rows"] == len(frame)
        assert list(profile["columns"]) == list(frame.columns)
        for column, entry in profile["columns"].items():
            assert entry["dtype"] == str(frame[column].dtype)
            assert abs(entry["null_share"] - frame[column].isna().mean()) <= TOL
    # the raw UCI test file: 5.9 % of occupation and workclass are missing ('?')
    assert 0.05 < section["evaluation"]["columns"]["occupation"]["null_share"] < 0.07
    assert section["schema_violations"] == []  # those columns are optional in the signature
    assert section["range_violations"] == {}


def test_drift_matches_scipy(section: dict[str, Any], adult_ctx: ModelContext) -> None:
    ref_frame, cur_frame = adult_ctx.reference, adult_ctx.evaluation
    assert ref_frame is not None
    drift = section["drift"]
    assert set(drift) == set(adult_ctx.features)
    for column, entry in drift.items():
        ref, cur = ref_frame[column], cur_frame[column]
        if entry["kind"] == "numeric":
            r, c = ref.dropna().to_numpy(float), cur.dropna().to_numpy(float)
            ks = ks_2samp(r, c)
            assert abs(entry["ks_statistic"] - ks.statistic) <= TOL
            assert abs(entry["p_value"] - ks.pvalue) <= 1e-9
            assert abs(entry["psi"] - _psi_direct(r, c)) <= 1e-9
        else:
            categories = sorted(set(ref.dropna()) | set(cur.dropna()))
            counts = np.array(
                [
                    [int((ref == k).sum()) for k in categories],
                    [int((cur == k).sum()) for k in categories],
                ],
                dtype=float,
            )
            chi2 = chi2_contingency(counts)
            shares = counts / counts.sum(axis=1, keepdims=True)
            assert abs(entry["chi2_statistic"] - chi2.statistic) <= 1e-9
            assert abs(entry["p_value"] - chi2.pvalue) <= 1e-9
            assert abs(entry["js_distance"] - jensenshannon(shares[0], shares[1], base=2)) <= 1e-9
            r, e = np.where(shares > 0, shares, PSI_EPSILON)
            assert abs(entry["psi"] - float(np.sum((e - r) * np.log(e / r)))) <= 1e-9
    assert {k for k, v in drift.items() if v["kind"] == "numeric"} == {
        "age",
        "education-num",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
    }


def test_quantile_edges_are_numpys() -> None:
    rng = np.random.default_rng(0)
    for values in (rng.normal(size=1001), rng.integers(0, 5, 999).astype(float), np.arange(7.0)):
        expected = np.unique(np.quantile(values, np.linspace(0, 1, 11))[1:-1])
        assert np.array_equal(quantile_edges(np.sort(values)), expected)


def test_drift_is_detected_and_bounded() -> None:
    rng = np.random.default_rng(1)
    same = numeric_drift(rng.normal(size=20000), rng.normal(size=20000))
    shifted = numeric_drift(rng.normal(size=20000), rng.normal(0.8, 1, size=20000))
    assert same["psi"] < 0.01
    assert shifted["psi"] > 0.2
    assert shifted["ks_statistic"] > 0.25
    assert shifted["p_value"] < 1e-12
    ref = pd.Series(rng.choice(["a", "b"], 5000, p=[0.5, 0.5]))
    cur = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.2, 0.3, 0.5]))
    moved = categorical_drift(ref, cur)
    assert moved["psi"] > 1.0  # 'c' is new: its empty reference bin counts as 1e-6
    assert 0.4 < moved["js_distance"] <= 1.0
    one = categorical_drift(pd.Series(["a"] * 10), pd.Series(["a"] * 5))
    assert (one["chi2_statistic"], one["p_value"], one["js_distance"], one["psi"]) == (0.0, 1.0, 0.0, 0.0)


def test_ranges_and_schema(adult_ctx: ModelContext, tmp_path: Path) -> None:
    spec = spec_with(
        tmp_path,
        {"data": {"evaluation": {"ranges": {"age": {"min": 18, "max": 80}, "hours-per-week": {"max": 99}}}}},
    )
    section = data_section(adult_ctx, spec)
    age = adult_ctx.evaluation["age"]
    assert section["range_violations"] == {
        "age": int(((age < 18) | (age > 80)).sum()),
        "hours-per-week": int((adult_ctx.evaluation["hours-per-week"] > 99).sum()),
    }
    assert section["range_violations"]["age"] > 0
    bad = spec_with(tmp_path, {"data": {"evaluation": {"ranges": {"salary": {"min": 0}}}}})
    with pytest.raises(SpecError, match="'salary', which is not a column") as info:
        data_section(adult_ctx, bad)
    assert info.value.location is not None
    assert info.value.location.field == "data.evaluation.ranges.salary"
    text = spec_with(tmp_path, {"data": {"evaluation": {"ranges": {"sex": {"min": 0}}}}})
    with pytest.raises(SpecError, match="not numbers"):
        data_section(adult_ctx, text)


def test_reference_departures_are_schema_violations(adult_ctx: ModelContext, adult_spec: ModelSpec) -> None:
    assert adult_ctx.reference is not None
    reference = adult_ctx.reference.drop(columns=["education"]).assign(age=lambda f: f["age"].astype(str))
    ctx = ModelContext(**{**adult_ctx.__dict__, "reference": reference})
    section = data_section(ctx, adult_spec)
    assert section["schema_violations"] == [
        "reference data: column 'age' holds string values (str); the model signature expects long",
        "reference data: column 'education' (string) of the model signature is missing",
        "column 'age' is numeric in the evaluation data but categorical in the reference data",
    ]
    assert "age" not in section["drift"]
    assert "education" not in section["drift"]


def test_no_reference_no_drift(adult_ctx: ModelContext, adult_spec: ModelSpec) -> None:
    ctx = ModelContext(**{**adult_ctx.__dict__, "reference": None})
    section = data_section(ctx, adult_spec)
    assert section["reference"] is None
    assert section["drift"] is None

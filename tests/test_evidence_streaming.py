"""Streaming collection (engine/evidence/streaming.py) against the in-memory path on UCI Adult.

The same Parquet files go through both paths: the streaming path in batches of 4,000 rows
(the evaluation data has 16,281), the in-memory path whole. Counts, group sizes, performance,
fairness (with bootstrap intervals), explanations and proxies must be identical; categorical
drift equal to 1e-12 relative (floating-point summation order of the category counts).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from govern.engine.errors import CollectionError, SpecError
from govern.engine.evidence.base import Collected
from govern.engine.evidence.explain import explanations_section
from govern.engine.evidence.fairness import fairness_section
from govern.engine.evidence.model import load_model_context, predictions_of
from govern.engine.evidence.performance import champion_comparison, performance_section
from govern.engine.evidence.quality import data_section
from govern.engine.evidence.streaming import should_stream, streamed_model_sections
from govern.engine.spec import ModelSpec

from .fixtures_model import DATA, AdultModel, spec_with

pytest_plugins = ["tests.fixtures_model"]
pytestmark = pytest.mark.filterwarnings("ignore")
BATCH = 4000
DRIFT_RTOL = 1e-12


def _write(tmp: Path) -> None:
    test = pd.read_csv(DATA / "adult_test.csv")
    train = pd.read_csv(DATA / "adult_train.csv")
    test.loc[test.index % 97 == 0, "fnlwgt"] = None  # an integer column with nulls
    test.loc[test.index % 89 == 0, "workclass"] = None  # nulls in a column the signature requires
    test.loc[test.index % 101 == 0, "race"] = None  # a missing group of a sensitive feature
    test.to_parquet(tmp / "eval.parquet", index=False, row_group_size=3000)
    train.to_parquet(tmp / "reference.parquet", index=False)  # the in-memory path reads files only
    folder = tmp / "reference"
    folder.mkdir()
    half = len(train) // 2
    train.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
    train.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)


def _spec(tmp: Path, streaming: Any, reference: str = "reference") -> ModelSpec:
    evaluation: dict[str, Any] = {
        "path": "eval.parquet",
        "format": "parquet",
        "target": "income",
        "positive_label": ">50K",
        "ranges": {"age": {"min": 18, "max": 80}},
        "streaming": streaming,
    }
    return spec_with(
        tmp,
        {
            "data": {
                "evaluation": evaluation,
                "reference": {"path": reference, "format": "parquet", "target": "income"},
            },
            "fairness": {
                "sensitive_features": ["sex", "race"],
                "intersections": [["sex", "race"]],
                "bootstrap": {"samples": 50, "seed": 3},
            },
            "explainability": {"sample_size": 300, "background_size": 50, "by_group": True},
            "performance": {"bootstrap": {"samples": 30}},
        },
    )


def _in_memory(model: AdultModel, spec: ModelSpec, tmp: Path) -> dict[str, Any]:
    ctx = load_model_context(model.model_uri, spec, tmp, seed=0)
    performance = performance_section(ctx, spec, logged={})
    performance["champion"] = champion_comparison(
        ctx, spec, model.model_uri, predictions_of(model.model_uri, ctx), alias="champion", version="1"
    )
    return {
        "performance": performance,
        "fairness": fairness_section(ctx, spec),
        "explanations": explanations_section(ctx, spec),
        "data": data_section(ctx, spec),
    }


def _streamed(model: AdultModel, spec: ModelSpec, tmp: Path) -> Collected:
    out = Collected()
    streamed_model_sections(
        model.model_uri,
        spec,
        tmp,
        out,
        seed=0,
        champion_uri=model.model_uri,  # the champion scored on the same batches
        champion={"alias": "champion", "version": "1"},
    )
    return out


def _compare(a: Any, b: Any, path: str, loose: bool = False) -> list[str]:
    """Differences between two evidence values; floats exact unless ``loose`` (drift of categories)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))} differ"]
        categorical = a.get("kind") == "categorical"
        return [d for k in a for d in _compare(a[k], b[k], f"{path}.{k}", loose or categorical)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} and {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _compare(x, y, f"{path}[{i}]", loose)
        ]
    if isinstance(a, float) and isinstance(b, float) and loose:
        return [] if math.isclose(a, b, rel_tol=DRIFT_RTOL, abs_tol=1e-15) else [f"{path}: {a!r} != {b!r}"]
    if type(a) is not type(b) or a != b:
        return [f"{path}: {a!r} != {b!r}"]
    return []


def test_streaming_equals_in_memory_on_adult(tmp_path: Path, mlflow_store: AdultModel) -> None:
    _write(tmp_path)
    memory = _in_memory(mlflow_store, _spec(tmp_path, False, "reference.parquet"), tmp_path)
    spec = _spec(tmp_path, {"threshold_bytes": 0, "batch_rows": BATCH})
    assert should_stream(spec, tmp_path)
    streamed = _streamed(mlflow_store, spec, tmp_path)
    for section, expected in memory.items():
        assert _compare(streamed.sections[section], expected, section) == [], section
    # the figures are real: the run measured something, and the evidence names both inputs
    assert streamed.sections["performance"]["rows"] == 16281
    assert streamed.sections["performance"]["champion"]["comparisons"]["accuracy"]
    assert streamed.sections["fairness"]["features"]["sex&race"]["group_sizes"]["Female&White"] > 1000
    assert streamed.sections["fairness"]["features"]["race"]["group_sizes"]["(missing)"] == 162
    assert streamed.sections["data"]["evaluation"]["columns"]["fnlwgt"]["dtype"] == "float64"
    assert streamed.sections["data"]["evaluation"]["columns"]["workclass"]["null_share"] > 0.01
    # and the comparison sees a difference when there is one
    changed = dict(memory["fairness"], rows=memory["fairness"]["rows"] + 1)
    assert _compare(streamed.sections["fairness"], changed, "fairness") != []
    assert streamed.sections["data"]["range_violations"]["age"] > 0
    assert {k.split(":")[0] for k in streamed.inputs} == {"evaluation", "reference"}


def test_threshold_and_mode(tmp_path: Path) -> None:
    _write(tmp_path)
    size = (tmp_path / "eval.parquet").stat().st_size
    assert not should_stream(_spec(tmp_path, {"threshold_bytes": size}), tmp_path)
    assert should_stream(_spec(tmp_path, {"threshold_bytes": size - 1}), tmp_path)
    assert should_stream(_spec(tmp_path, True), tmp_path)
    assert not should_stream(_spec(tmp_path, False), tmp_path)
    assert should_stream(_spec(tmp_path, False), tmp_path) is False
    assert should_stream(_spec(tmp_path, {}), tmp_path, threshold_bytes=0)
    assert not should_stream(_spec(tmp_path, {}), tmp_path)  # 16,281 rows, a few hundred KiB
    assert should_stream(_spec(tmp_path, {"threshold_rows": 16280}), tmp_path)
    assert not should_stream(_spec(tmp_path, {"threshold_rows": 16281}), tmp_path)


def test_streaming_csv_is_a_spec_error(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, {"data": {"evaluation": {"streaming": True}}})
    with pytest.raises(SpecError, match="Parquet only") as info:
        should_stream(spec, DATA.parent)
    assert info.value.location is not None
    assert info.value.location.line is not None


def test_a_batch_the_model_cannot_score_is_an_error(
    tmp_path: Path, mlflow_store: AdultModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govern.engine.evidence import streaming

    _write(tmp_path)
    spec = _spec(tmp_path, {"threshold_bytes": 0, "batch_rows": BATCH})
    real = streaming.predictions
    calls = []

    def third_fails(ctx: Any) -> Any:
        calls.append(len(ctx.evaluation))
        if len(calls) == 3:
            raise CollectionError("the model failed to predict on the evaluation data: injected")
        return real(ctx)

    monkeypatch.setattr(streaming, "predictions", third_fails)
    with pytest.raises(CollectionError, match="injected"):
        _streamed(mlflow_store, spec, tmp_path)


def test_one_group_is_an_error(tmp_path: Path, mlflow_store: AdultModel) -> None:
    frame = pd.read_csv(DATA / "adult_test.csv")
    frame["sex"] = "Female"
    frame.to_parquet(tmp_path / "eval.parquet", index=False)
    (tmp_path / "reference").mkdir()
    frame.to_parquet(tmp_path / "reference" / "part-0.parquet", index=False)
    spec = _spec(tmp_path, True)
    with pytest.raises(CollectionError, match="same value of the sensitive feature 'sex'"):
        _streamed(mlflow_store, spec, tmp_path)
    assert np.unique(frame["sex"]).size == 1


def _collect(spec: ModelSpec, model: AdultModel, out: Path) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "govern.cli.main",
            "collect",
            str(spec.source),
            "--version",
            "1",
            "--tracking-uri",
            model.tracking_uri,
            "-o",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    value: dict[str, Any] = json.loads(out.read_text())
    return value


def test_govern_collect_streams_and_matches(tmp_path: Path, mlflow_store: AdultModel) -> None:
    _write(tmp_path)
    memory_dir, stream_dir = tmp_path / "memory", tmp_path / "stream"
    for folder in (memory_dir, stream_dir):
        folder.mkdir()
        for name in ("eval.parquet", "reference.parquet"):
            (folder / name).write_bytes((tmp_path / name).read_bytes())
    memory = _collect(_spec(memory_dir, False, "reference.parquet"), mlflow_store, tmp_path / "m.json")
    streamed = _collect(
        _spec(stream_dir, {"threshold_rows": 1000, "batch_rows": BATCH}, "reference.parquet"),
        mlflow_store,
        tmp_path / "s.json",
    )
    for section in ("performance", "fairness", "explanations", "data"):
        assert streamed[section] is not None, streamed["missing"]
        assert _compare(streamed[section], memory[section], section) == [], section
    assert streamed["performance"]["rows"] == 16281
    assert "stream" in streamed["provenance"]["collectors"]
    assert "stream" not in memory["provenance"]["collectors"]
    assert [i["sha256"] for i in streamed["provenance"]["inputs"] if i["name"].startswith("evaluation:")] == [
        i["sha256"] for i in memory["provenance"]["inputs"] if i["name"].startswith("evaluation:")
    ]

"""The Spark path (engine/evidence/spark.py) in Spark local mode against the in-memory path on Adult.

Skipped when pyspark is not installed (``pip install 'govern-ml[spark]'``; it needs a JDK 17+).
The same Parquet files go through both paths: performance and fairness (with bootstrap
intervals) must be equal, counts exactly; drift to 1e-12 relative; and the evidence document
the Spark path writes must be accepted by ``govern check --evidence`` (a decision, not an
input error).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from govern.engine.evidence.fairness import fairness_section
from govern.engine.evidence.model import load_model_context
from govern.engine.evidence.performance import performance_section
from govern.engine.evidence.quality import data_section
from govern.engine.spec import ModelSpec, Stage

from .fixtures_model import DATA, AdultModel, spec_with

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'govern-ml[spark]')")

pytest_plugins = ["tests.fixtures_model"]
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]
RTOL = 1e-12


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("govern-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def _spec(tmp: Path) -> ModelSpec:
    test = pd.read_csv(DATA / "adult_test.csv")
    test.to_parquet(tmp / "eval.parquet", index=False)
    pd.read_csv(DATA / "adult_train.csv").to_parquet(tmp / "reference.parquet", index=False)
    return spec_with(
        tmp,
        {
            "data": {
                "evaluation": {
                    "path": "eval.parquet",
                    "format": "parquet",
                    "target": "income",
                    "positive_label": ">50K",
                    "ranges": {"age": {"min": 18, "max": 80}},
                },
                "reference": {"path": "reference.parquet", "format": "parquet", "target": "income"},
            },
            "fairness": {
                "sensitive_features": ["sex", "race"],
                "intersections": [["sex", "race"]],
                "bootstrap": {"samples": 50, "seed": 3},
            },
            "performance": {"bootstrap": {"samples": 0}},
        },
    )


def _close(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-15) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


def test_spark_evidence_equals_in_memory(tmp_path: Path, mlflow_store: AdultModel, spark: Any) -> None:
    from govern.engine.evidence.spark import spark_evidence

    spec = _spec(tmp_path)
    ctx = load_model_context(mlflow_store.model_uri, spec, tmp_path, seed=0)
    memory = {
        "performance": performance_section(ctx, spec, logged={}),
        "fairness": fairness_section(ctx, spec),
        "data": data_section(ctx, spec),
    }
    evaluation = spark.read.parquet(str(tmp_path / "eval.parquet"))
    reference = spark.read.parquet(str(tmp_path / "reference.parquet"))
    document = spark_evidence(spark, mlflow_store.model_uri, spec, Stage.DEPLOY, evaluation, reference)

    assert _close(document["performance"], memory["performance"], "performance") == []
    # fairness: every figure from the same confusion cells; proxies on Spark's sample (all rows here)
    spark_fairness = {k: v for k, v in document["fairness"].items() if k != "proxies"}
    memory_fairness = {k: v for k, v in memory["fairness"].items() if k != "proxies"}
    assert _close(spark_fairness, memory_fairness, "fairness") == []
    assert document["fairness"]["features"]["sex&race"]["group_sizes"]["Female&White"] > 1000
    data, expected = document["data"], memory["data"]
    assert _close(data["drift"], expected["drift"], "drift") == []
    assert data["range_violations"] == expected["range_violations"]
    assert data["range_violations"]["age"] > 0
    assert data["schema_violations"] == expected["schema_violations"]
    for side in ("evaluation", "reference"):
        assert data[side]["rows"] == expected[side]["rows"]
        shares = {c: v["null_share"] for c, v in data[side]["columns"].items()}
        assert shares == {c: v["null_share"] for c, v in expected[side]["columns"].items()}
    assert document["missing"]["run"] == "not collected by the Spark path"

    # govern check --evidence takes the document: a decision (0 or 1), never an input error
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "govern.cli.main",
            "check",
            str(spec.source),
            "--evidence",
            str(path),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "decision" in json.loads(done.stdout) or "allowed" in done.stdout


def test_spark_udf_scorer_gives_the_label_metrics(
    tmp_path: Path, mlflow_store: AdultModel, spark: Any
) -> None:
    from govern.engine.evidence.spark import spark_model_sections

    spec = _spec(tmp_path)
    ctx = load_model_context(mlflow_store.model_uri, spec, tmp_path, seed=0)
    memory = performance_section(ctx, spec, logged={})["metrics"]
    evaluation = spark.read.parquet(str(tmp_path / "eval.parquet"))
    sections, _ = spark_model_sections(spark, mlflow_store.model_uri, spec, evaluation, scorer="spark_udf")
    metrics = sections["performance"]["metrics"]
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"):
        assert metrics[name]["value"] == memory[name]["value"], name
    assert "roc_auc" not in metrics or metrics["roc_auc"]["value"] is None
    assert (
        sections["fairness"]["features"]["sex"]["group_sizes"]
        == ctx.evaluation["sex"].value_counts().to_dict()
    )

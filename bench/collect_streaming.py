"""Collection that scales: the streaming path on 10M rows, the in-memory path and the bare calls on 1M.

Run:  python bench/collect_streaming.py [--quick] [--rows N] [--memory-rows M] [--batch-rows B]

Setup (in a temporary folder, removed at the end; nothing is written in the checkout): the
Adult model of the test fixtures (OneHotEncoder + GradientBoostingClassifier, 50 trees, depth 3,
trained on a seeded 8,000 rows of examples/adult-income/data/adult_train.csv, UCI Adult, CC BY
4.0) logged to a sqlite MLflow store; an evaluation Parquet of N rows (default 10,000,000;
--quick 1,000,000) drawn with replacement from adult_test.csv with a seed, written in row groups
of 1,000,000; the reference data adult_train.csv as Parquet; a spec with fairness on sex and
race, explanations on 1,000 rows, drift, and bootstrap intervals off (their cost grows with the
resample count, not with the way the data are read).

Setup and cases each run in their own subprocess (peak RSS is that process's VmHWM, model and
data included; ``ru_maxrss`` where /proc is absent):

  stream    govern's streaming path (engine/evidence/streaming.py) over the N rows.
  memory    govern's in-memory path over the first M rows (default 1,000,000): pd.read_parquet,
            one prediction pass, the performance, fairness, explanations and data sections.
  bare      the library calls that give those figures on the same M rows: pd.read_parquet,
            predict_proba once, the sklearn metrics, fairlearn's MetricFrame per sensitive
            feature (with demographic parity and equalized odds), scipy's ks_2samp / chi2 /
            Jensen-Shannon per feature against the reference, shap.TreeExplainer on 1,000 rows.

Prints a table and, last, one line ``RESULT {json}``. Targets, reported and not enforced:
streaming peak RSS < 4 GiB; memory / bare <= 1.2 in time and in peak RSS.
"""

# ruff: noqa: E501  (wide report lines)

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "adult-income" / "data"
TARGET = "income"
POSITIVE = ">50K"
SENSITIVE = ("sex", "race")
PEAK_LIMIT_MIB = 4096
RATIO_TARGET = 1.2
GROUP_ROWS = 1_000_000


def _peak_mib() -> float:
    """This process's peak RSS: VmHWM (reset by exec, unlike ru_maxrss on Linux), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- setup


def _setup(tmp: Path, rows: int, seed: int) -> None:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from govern.engine.evidence.model import SKOPS_TRUSTED_TYPES

    train = pd.read_csv(DATA / "adult_train.csv").drop(columns=["fnlwgt"])
    sample = train.sample(n=8000, random_state=0)
    x, y = sample.drop(columns=[TARGET]), sample[TARGET]
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough"
    )
    pipeline = Pipeline(
        [("pre", pre), ("clf", GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0))]
    )
    pipeline.fit(x, y)
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(x, pipeline.predict(x)),
            pip_requirements=["scikit-learn"],
            skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
        )
    (tmp / "model_uri").write_text(info.model_uri)

    test = pd.read_csv(DATA / "adult_test.csv")
    table = pa.Table.from_pandas(test, preserve_index=False)
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(tmp / "evaluation.parquet", table.schema) as writer:
        written = 0
        while written < rows:
            size = min(GROUP_ROWS, rows - written)
            writer.write_table(table.take(rng.integers(0, len(test), size)), row_group_size=GROUP_ROWS)
            written += size
    pd.read_csv(DATA / "adult_train.csv").to_parquet(tmp / "reference.parquet", index=False)
    spec = yaml.safe_load((ROOT / "examples" / "adult-income" / "spec.yaml").read_text())
    spec["data"] = {
        "evaluation": {
            "path": "evaluation.parquet",
            "format": "parquet",
            "target": TARGET,
            "positive_label": POSITIVE,
        },
        "reference": {"path": "reference.parquet", "format": "parquet", "target": TARGET},
    }
    spec["fairness"] = {
        "sensitive_features": list(SENSITIVE),
        "metrics": ["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"],
    }
    spec["explainability"] = {"sample_size": 1000}
    spec["performance"] = {"bootstrap": {"samples": 0}}
    (tmp / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


# --------------------------------------------------------------------------- cases (in a child process)


def _spec(tmp: Path, streaming: Any, rows: int | None) -> Any:
    import yaml

    from govern.engine.spec import load_spec

    value = yaml.safe_load((tmp / "spec.yaml").read_text())
    value["data"]["evaluation"]["streaming"] = streaming
    if rows is not None:
        value["data"]["evaluation"]["path"] = f"evaluation-{rows}.parquet"
    path = tmp / f"spec-{'stream' if streaming else 'memory'}-{rows}.yaml"
    path.write_text(yaml.safe_dump(value, sort_keys=False))
    return load_spec(path)


def _head(tmp: Path, rows: int) -> Path:
    """The first ``rows`` rows of the evaluation data as their own file (made once, untimed)."""
    import pyarrow.parquet as pq

    path = tmp / f"evaluation-{rows}.parquet"
    if not path.exists():
        with pq.ParquetFile(tmp / "evaluation.parquet") as source:
            pq.write_table(source.read_row_groups(range(max(1, rows // GROUP_ROWS)))[:rows], path)
    return path


def _case_stream(tmp: Path, rows: int | None, batch_rows: int) -> dict[str, Any]:
    from govern.engine.evidence.base import Collected
    from govern.engine.evidence.streaming import streamed_model_sections

    spec = _spec(tmp, {"threshold_bytes": 0, "batch_rows": batch_rows}, rows)
    out = Collected()
    start = time.perf_counter()
    streamed_model_sections((tmp / "model_uri").read_text(), spec, tmp, out, seed=0)
    seconds = time.perf_counter() - start
    fairness = out.sections["fairness"]["features"]["sex"]
    return {
        "seconds": seconds,
        "rows": out.sections["performance"]["rows"],
        "roc_auc": out.sections["performance"]["metrics"]["roc_auc"]["value"],
        "dp_sex": fairness["demographic_parity_difference"],
    }


def _case_memory(tmp: Path, rows: int) -> dict[str, Any]:
    from govern.engine.evidence.explain import explanations_section
    from govern.engine.evidence.fairness import fairness_section
    from govern.engine.evidence.model import load_model_context
    from govern.engine.evidence.performance import performance_section
    from govern.engine.evidence.quality import data_section

    spec = _spec(tmp, False, rows)
    start = time.perf_counter()
    ctx = load_model_context((tmp / "model_uri").read_text(), spec, tmp, seed=0)
    performance = performance_section(ctx, spec, logged={})
    fairness = fairness_section(ctx, spec)
    explanations_section(ctx, spec)
    data_section(ctx, spec)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": performance["rows"],
        "roc_auc": performance["metrics"]["roc_auc"]["value"],
        "dp_sex": fairness["features"]["sex"]["demographic_parity_difference"],
    }


def _case_bare(tmp: Path, rows: int) -> dict[str, Any]:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import shap
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
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp

    start = time.perf_counter()
    pipeline = mlflow.sklearn.load_model((tmp / "model_uri").read_text())
    frame = pd.read_parquet(tmp / f"evaluation-{rows}.parquet")
    reference = pd.read_parquet(tmp / "reference.parquet")
    features = [c for c in frame.columns if c not in (TARGET, "fnlwgt")]
    proba = pipeline.predict_proba(frame[features])
    classes = list(pipeline.classes_)
    score = proba[:, classes.index(POSITIVE)]
    y_pred = (np.asarray(classes)[proba.argmax(axis=1)] == POSITIVE).astype(np.int64)
    y_true = (frame[TARGET].to_numpy() == POSITIVE).astype(np.int64)
    metrics = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred),
        "roc_auc": skm.roc_auc_score(y_true, score),
        "pr_auc": skm.average_precision_score(y_true, score),
        "log_loss": skm.log_loss(y_true, score),
        "brier_score": skm.brier_score_loss(y_true, score),
        "ks": ks_2samp(score[y_true == 1], score[y_true == 0]).statistic,
    }
    dp = 0.0
    for feature in SENSITIVE:
        mf = MetricFrame(
            metrics={
                "accuracy": skm.accuracy_score,
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=frame[feature],
        )
        mf.difference(), mf.ratio(), mf.difference(method="to_overall"), mf.ratio(method="to_overall")
        value = demographic_parity_difference(y_true, y_pred, sensitive_features=frame[feature])
        demographic_parity_ratio(y_true, y_pred, sensitive_features=frame[feature])
        equalized_odds_difference(y_true, y_pred, sensitive_features=frame[feature])
        equalized_odds_ratio(y_true, y_pred, sensitive_features=frame[feature])
        dp = value if feature == "sex" else dp
    for feature in features:
        ref, cur = reference[feature], frame[feature]
        if pd.api.types.is_numeric_dtype(cur):
            ks_2samp(ref.dropna().to_numpy(float), cur.dropna().to_numpy(float))
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy().T
            chi2_contingency(table)
            jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2)
    rows_explained = frame[features].sample(n=1000, random_state=0)
    transformed = pipeline[:-1].transform(rows_explained)
    transformed = np.asarray(
        transformed.toarray() if hasattr(transformed, "toarray") else transformed, dtype=np.float64
    )
    values = shap.TreeExplainer(pipeline[-1]).shap_values(transformed)
    np.abs(values).mean(axis=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(frame), "roc_auc": metrics["roc_auc"], "dp_sex": dp}


def _child(args: argparse.Namespace) -> None:
    import mlflow

    warnings.simplefilter("ignore")
    tmp = Path(args.tmp)
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    if args.child == "setup":
        _setup(tmp, int(args.rows_in_case), args.seed)
        _head(tmp, int(args.memory_rows))
        print(json.dumps({"peak_rss_mib": _peak_mib()}))
        return
    if args.child == "stream":
        result = _case_stream(tmp, args.rows_in_case, args.batch_rows)
    elif args.child == "memory":
        result = _case_memory(tmp, args.rows_in_case)
    else:
        result = _case_bare(tmp, args.rows_in_case)
    result["peak_rss_mib"] = _peak_mib()
    print(json.dumps(result))


def _run(tmp: Path, case: str, rows: int | None, batch_rows: int, *extra: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        case,
        "--tmp",
        str(tmp),
        "--batch-rows",
        str(batch_rows),
        *extra,
    ]
    if rows is not None:
        command += ["--rows-in-case", str(rows)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the {case} case failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M streamed rows, 200k in memory")
    parser.add_argument("--rows", type=int, default=None, help="rows streamed (default 10,000,000)")
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=None,
        help="rows for the in-memory and bare cases (default 1,000,000)",
    )
    parser.add_argument("--batch-rows", type=int, default=1 << 18)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=("setup", "stream", "memory", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--rows-in-case", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    memory_rows = args.memory_rows or (200_000 if args.quick else 1_000_000)
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    tmp = Path(tempfile.mkdtemp(prefix="govern-bench-stream-"))
    try:
        start = time.perf_counter()
        _run(tmp, "setup", rows, args.batch_rows, "--memory-rows", str(memory_rows), "--seed", str(args.seed))
        setup_seconds = time.perf_counter() - start
        size_mib = (tmp / "evaluation.parquet").stat().st_size / 2**20
        print(f"setup: {rows:,} rows of Parquet ({size_mib:.0f} MiB) and the model in {setup_seconds:.1f} s")
        stream = _run(tmp, "stream", None, args.batch_rows)
        stream_small = _run(tmp, "stream", memory_rows, args.batch_rows)
        memory = _run(tmp, "memory", memory_rows, args.batch_rows)
        bare = _run(tmp, "bare", memory_rows, args.batch_rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{'case':<28}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MiB':>14}{'roc_auc':>10}{'dp(sex)':>9}"
    )
    for label, result in (
        ("stream", stream),
        ("stream (memory rows)", stream_small),
        ("memory (in-memory path)", memory),
        ("bare library calls", bare),
    ):
        print(
            f"{label:<28}{result['rows']:>12,}{result['seconds']:>10.1f}{result['rows'] / result['seconds']:>12,.0f}"
            f"{result['peak_rss_mib']:>14.0f}{result['roc_auc']:>10.4f}{result['dp_sex']:>9.4f}"
        )
    time_ratio = memory["seconds"] / bare["seconds"]
    rss_ratio = memory["peak_rss_mib"] / bare["peak_rss_mib"]
    print(
        f"streaming {rows:,} rows: {stream['seconds']:.1f} s, peak RSS {stream['peak_rss_mib']:.0f} MiB "
        f"(target < {PEAK_LIMIT_MIB} MiB: {'met' if stream['peak_rss_mib'] < PEAK_LIMIT_MIB else 'NOT met'})"
    )
    print(
        f"in memory / bare at {memory_rows:,} rows: time {time_ratio:.2f}x, peak RSS {rss_ratio:.2f}x "
        f"(target <= {RATIO_TARGET}x: {'met' if max(time_ratio, rss_ratio) <= RATIO_TARGET else 'NOT met'})"
    )
    result = {
        "rows": rows,
        "memory_rows": memory_rows,
        "batch_rows": args.batch_rows,
        "stream": stream,
        "stream_memory_rows": stream_small,
        "memory": memory,
        "bare": bare,
        "memory_over_bare_time": time_ratio,
        "memory_over_bare_rss": rss_ratio,
        "stream_peak_under_limit": stream["peak_rss_mib"] < PEAK_LIMIT_MIB,
        "setup_seconds": setup_seconds,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

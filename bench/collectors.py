"""The model-evidence collectors against the bare library calls that give the same figures.

Run:  python bench/collectors.py [--quick] [--rows N] [--rounds R] [--seed S]

Three cases, each timed for govern and for the bare library call on the same data, in the
same run:

  fairness  fairness_section over N rows (default 1,000,000; --quick 100,000) and two
            sensitive features (sex: 2 groups, race: 5), synthetic and seeded, with the
            example spec's four metrics.
            bare: what a fairlearn user writes for the same figures, per feature: MetricFrame
            with the four metrics on the rows, .difference()/.ratio() between groups and to
            overall, demographic_parity_difference/_ratio, equalized_odds_difference/_ratio.
            cells: the same fairlearn calls on the rows counted into (group, y_true, y_pred)
            cells with the counts as sample_weight, which is how govern calls fairlearn: this
            ratio is govern's own overhead.
  shap      explanations_section on the example model (the test fixture's Pipeline:
            OneHotEncoder + GradientBoostingClassifier, 50 trees, depth 3, trained on 8,000
            rows of adult_train.csv) over 1,000 rows of adult_test.csv, with the .npz artifact.
            bare: transform the same 1,000 rows with the Pipeline's preprocessing,
            shap.TreeExplainer(final step).shap_values, mean |SHAP| per column.
  drift     data_section over N rows x 20 features (10 numeric, 10 categorical) of reference
            and of evaluation data, synthetic and seeded (profiles, schema, drift with PSI).
            bare: scipy.stats.ks_2samp per numeric feature; value_counts, chi2_contingency and
            jensenshannon per categorical feature (no PSI, no profiles).

  predict   govern's one prediction pass (predictions(): labels and positive-class scores
            from one predict_proba, checked against predict on a probe) on N rows drawn with
            replacement from adult_test.csv, with the shap case's Pipeline.
            bare: pipeline.predict_proba on the same rows (the feature columns selected in the
            call, as govern does); twice: predict + predict_proba (what collection did before it
            predicted once).
  performance
            performance_section (11 metrics, 200 bootstrap resamples) on those predictions.
            bare: the 10 sklearn/scipy metric calls, once each, no intervals.

--cases picks some of them (default: all).

Every measurement runs in its own subprocess (the data are generated there, then the call is
timed ``--repeat`` times and the best kept). Memory: before each call the kernel's peak-RSS
mark is reset (Linux ``/proc/self/clear_refs`` 5), so "peak +MiB" is the call's own peak RSS
(VmHWM) above the RSS it started from; the whole process's ``ru_maxrss`` (data included) is in
the RESULT line. Without /proc, ru_maxrss before and after is used (a lower bound). Subprocesses alternate govern / bare, R rounds
(default 2, --quick 1). Prints a table and, last, one line ``RESULT {json}``. The target
(govern / bare <= 1.15) is reported, not enforced.
"""

# ruff: noqa: E501  (wide report lines; linear main() reads best as a script)

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.15
CASES = ("fairness", "shap", "drift", "predict", "performance")
MODES = {
    "fairness": ("govern", "bare", "cells"),
    "shap": ("govern", "bare"),
    "drift": ("govern", "bare"),
    "predict": ("govern", "bare", "twice"),
    "performance": ("govern", "bare"),
}
AGAINST = {
    ("fairness", "bare"): "fairlearn on the rows",
    ("fairness", "cells"): "fairlearn on count cells",
    ("shap", "bare"): "shap.TreeExplainer",
    ("drift", "bare"): "scipy ks/chi2/JS",
    ("predict", "bare"): "predict_proba once",
    ("predict", "twice"): "predict + predict_proba",
    ("performance", "bare"): "sklearn metrics, no CI",
}
METRICS = ("accuracy", "selection_rate", "true_positive_rate", "false_positive_rate")


def _status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: VmHWM), so the next peak is the call's own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _maxrss_mib() -> float:
    # getrusage's high-water mark: Linux reports kibibytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spec(tmp: Path, changes: dict[str, Any]) -> Any:
    import yaml

    from govern.engine.spec import load_spec

    value = yaml.safe_load((ROOT / "examples" / "adult-income" / "spec.yaml").read_text())
    value.update(changes)
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(value, sort_keys=False))
    return load_spec(path)


# --------------------------------------------------------------------------- cases


def _fairness(rows: int, seed: int, tmp: Path) -> dict[str, Callable[[], Any]]:
    import numpy as np
    import pandas as pd
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

    from govern.engine.evidence.base import ModelContext
    from govern.engine.evidence.fairness import fairness_section

    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["Female", "Male"]), rows, p=[0.33, 0.67])
    race = rng.choice(
        np.array(["White", "Black", "Asian", "Amer-Indian", "Other"]), rows, p=[0.85, 0.09, 0.03, 0.02, 0.01]
    )
    base = np.where(sex == "Male", 0.30, 0.11)
    y_true = (rng.random(rows) < base).astype(np.int64)
    y_pred = np.where(rng.random(rows) < 0.85, y_true, 1 - y_true).astype(np.int64)
    frame = pd.DataFrame({"sex": sex, "race": race, "y": y_true})
    spec = _spec(tmp, {"fairness": {"sensitive_features": ["sex", "race"], "metrics": list(METRICS)}})

    def govern() -> Any:
        ctx = ModelContext(
            model_uri="bench",
            flavor="python_function",
            native=None,
            predict=lambda _df: y_pred,
            predict_proba=None,
            features=["sex", "race"],
            target="y",
            evaluation=frame,
            positive_label=1,
        )
        return fairness_section(ctx, spec)

    functions = {
        "accuracy": skm.accuracy_score,
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
    }

    def bare() -> Any:
        out = {}
        for feature in ("sex", "race"):
            sf = frame[feature]
            mf = MetricFrame(metrics=functions, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
            out[feature] = (
                mf.by_group,
                mf.difference(),
                mf.ratio(),
                mf.difference(method="to_overall"),
                mf.ratio(method="to_overall"),
                demographic_parity_difference(y_true, y_pred, sensitive_features=sf),
                demographic_parity_ratio(y_true, y_pred, sensitive_features=sf),
                equalized_odds_difference(y_true, y_pred, sensitive_features=sf),
                equalized_odds_ratio(y_true, y_pred, sensitive_features=sf),
            )
        return out

    def cells() -> Any:
        # the same fairlearn calls on the rows counted into (group, y_true, y_pred) cells,
        # weighted by their counts: what govern does, without govern around it
        out = {}
        for feature in ("sex", "race"):
            codes, names = pd.factorize(frame[feature], sort=True)
            counts = np.bincount(codes * 4 + y_true * 2 + y_pred, minlength=len(names) * 4)
            kept = np.flatnonzero(counts)
            weight = counts[kept].astype(float)
            mf = MetricFrame(
                metrics=functions,
                y_true=(kept // 2) % 2,
                y_pred=kept % 2,
                sensitive_features=names[kept // 4],
                sample_params={k: {"sample_weight": weight} for k in functions},
            )
            diff, ratio = mf.difference(), mf.ratio()
            out[feature] = (
                mf.by_group,
                diff,
                ratio,
                mf.difference(method="to_overall"),
                mf.ratio(method="to_overall"),
                diff["selection_rate"],
                ratio["selection_rate"],
                max(diff["true_positive_rate"], diff["false_positive_rate"]),
                min(ratio["true_positive_rate"], ratio["false_positive_rate"]),
            )
        return out

    return {"govern": govern, "bare": bare, "cells": cells}


def _shap(rows: int, seed: int, tmp: Path) -> dict[str, Callable[[], Any]]:
    import numpy as np
    import pandas as pd
    import shap

    from govern.engine.evidence.base import ModelContext
    from govern.engine.evidence.explain import explain_sample, explanations_section

    sys.path.insert(0, str(ROOT))
    from tests.fixtures_model import DROPPED, TARGET, TEST, TRAIN, TRAIN_ROWS, _pipeline

    train = pd.read_csv(TRAIN).drop(columns=list(DROPPED)).sample(n=TRAIN_ROWS, random_state=0)
    x = train.drop(columns=[TARGET])
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    pipeline = _pipeline(categorical).fit(x, train[TARGET])
    evaluation = pd.read_csv(TEST)
    features = list(x.columns)
    spec = _spec(tmp, {"explainability": {"sample_size": rows, "seed": seed}})
    ctx = ModelContext(
        model_uri="bench",
        flavor="sklearn",
        native=pipeline,
        predict=lambda df: pipeline.predict(df[features]),
        predict_proba=None,
        features=features,
        target=TARGET,
        evaluation=evaluation,
        positive_label=">50K",
        seed=seed,
    )

    def govern() -> Any:
        return explanations_section(ctx, spec, artifact_dir=tmp / "artifacts")

    def bare() -> Any:
        sample = explain_sample(evaluation, rows, seed)
        matrix = pipeline[:-1].transform(sample[features])
        matrix = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)
        values = shap.TreeExplainer(pipeline[-1]).shap_values(matrix)
        return np.abs(values).mean(axis=0)

    return {"govern": govern, "bare": bare}


def _drift(rows: int, seed: int, tmp: Path) -> dict[str, Callable[[], Any]]:
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp

    from govern.engine.evidence.base import ModelContext
    from govern.engine.evidence.quality import data_section

    rng = np.random.default_rng(seed)

    def make(shift: float) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for i in range(10):
            if i % 2:
                columns[f"num{i}"] = rng.normal(shift * i / 10, 1 + i / 10, rows)
            else:
                columns[f"num{i}"] = rng.poisson(3 + i + shift, rows).astype(np.int64)
        for i in range(10):
            k = 3 + 5 * i
            p = rng.dirichlet(np.ones(k) * (1 + shift))
            labels = np.array([f"c{i}_{j}" for j in range(k)])
            columns[f"cat{i}"] = labels[rng.choice(k, rows, p=p)]
        return pd.DataFrame(columns)

    reference, evaluation = make(0.0), make(0.05)
    features = list(reference.columns)
    numeric = [c for c in features if c.startswith("num")]
    categorical = [c for c in features if c.startswith("cat")]
    spec = _spec(tmp, {})
    ctx = ModelContext(
        model_uri="bench",
        flavor="python_function",
        native=None,
        predict=lambda df: np.zeros(len(df)),
        predict_proba=None,
        features=features,
        target="num0",
        evaluation=evaluation,
        reference=reference,
    )

    def govern() -> Any:
        return data_section(ctx, spec)

    def bare() -> Any:
        out = {}
        for c in numeric:
            out[c] = ks_2samp(reference[c].dropna().to_numpy(), evaluation[c].dropna().to_numpy())
        for c in categorical:
            table = pd.concat([reference[c].value_counts(), evaluation[c].value_counts()], axis=1).fillna(0)
            counts = table.to_numpy(dtype=float).T
            out[c] = (
                chi2_contingency(counts),
                jensenshannon(counts[0] / counts[0].sum(), counts[1] / counts[1].sum(), base=2),
            )
        return out

    return {"govern": govern, "bare": bare}


def _adult_rows(rows: int, seed: int) -> tuple[Any, Any, list[str]]:
    """The example model (the test fixture's Pipeline) and ``rows`` Adult test rows drawn with
    replacement (seeded)."""
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from tests.fixtures_model import DROPPED, TARGET, TEST, TRAIN, TRAIN_ROWS, _pipeline

    train = pd.read_csv(TRAIN).drop(columns=list(DROPPED)).sample(n=TRAIN_ROWS, random_state=0)
    x = train.drop(columns=[TARGET])
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    pipeline = _pipeline(categorical).fit(x, train[TARGET])
    evaluation = pd.read_csv(TEST).sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    return pipeline, evaluation, list(x.columns)


def _adult_ctx(pipeline: Any, evaluation: Any, features: list[str], seed: int) -> Any:
    from govern.engine.evidence.base import ModelContext
    from govern.engine.evidence.model import _one_pass

    classes = list(pipeline.classes_)
    labelled = _one_pass(pipeline, features, classes)
    index = classes.index(">50K")

    def with_scores(df: Any) -> Any:
        labels, matrix = labelled(df)
        return labels, matrix[:, index]

    return ModelContext(
        model_uri="bench",
        flavor="sklearn",
        native=pipeline,
        predict=lambda df: pipeline.predict(df[features]),
        predict_proba=lambda df: pipeline.predict_proba(df[features])[:, index],
        predict_with_scores=with_scores,
        features=features,
        target="income",
        evaluation=evaluation,
        positive_label=">50K",
        seed=seed,
    )


def _predict(rows: int, seed: int, tmp: Path) -> dict[str, Callable[[], Any]]:
    """govern's one prediction pass (labels and scores) on N Adult rows, against the bare calls."""
    from govern.engine.evidence.model import predictions

    pipeline, evaluation, features = _adult_rows(rows, seed)

    def govern() -> Any:
        return predictions(_adult_ctx(pipeline, evaluation, features, seed))  # a fresh context: no cache

    def bare() -> Any:
        return pipeline.predict_proba(evaluation[features])

    def twice() -> Any:
        x = evaluation[features]
        return pipeline.predict(x), pipeline.predict_proba(x)

    return {"govern": govern, "bare": bare, "twice": twice}


def _performance(rows: int, seed: int, tmp: Path) -> dict[str, Callable[[], Any]]:
    """The performance section (11 metrics, 200 bootstrap resamples) on predictions made once."""
    import numpy as np
    import sklearn.metrics as skm
    from scipy.stats import ks_2samp

    from govern.engine.evidence.model import predictions
    from govern.engine.evidence.performance import performance_section

    pipeline, evaluation, features = _adult_rows(rows, seed)
    ctx = _adult_ctx(pipeline, evaluation, features, seed)
    pred = predictions(ctx)
    spec = _spec(tmp, {})
    y, p, s = pred.y_true, pred.y_pred, pred.y_score
    assert s is not None

    def govern() -> Any:
        return performance_section(ctx, spec)

    def bare() -> Any:
        return (
            skm.accuracy_score(y, p),
            skm.balanced_accuracy_score(y, p),
            skm.precision_score(y, p),
            skm.recall_score(y, p),
            skm.f1_score(y, p),
            skm.roc_auc_score(y, s),
            skm.average_precision_score(y, s),
            skm.log_loss(y, s),
            skm.brier_score_loss(y, s),
            ks_2samp(s[y == 1], s[y == 0]).statistic,
            np.nan,
        )

    return {"govern": govern, "bare": bare}


SETUP = {
    "fairness": _fairness,
    "shap": _shap,
    "drift": _drift,
    "predict": _predict,
    "performance": _performance,
}


def worker(case: str, mode: str, rows: int, seed: int, repeat: int) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        call = SETUP[case](rows, seed, Path(tmp))[mode]
        times, peaks = [], []
        for _ in range(repeat):
            resettable = _reset_peak()
            before = _status_mib("VmRSS") if resettable else _maxrss_mib()
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
            after = _status_mib("VmHWM") if resettable else _maxrss_mib()
            peaks.append(max(0.0, (after or 0.0) - (before or 0.0)))
    return {
        "case": case,
        "mode": mode,
        "rows": rows,
        "seconds": times,
        "peak_growth_mib": peaks,
        "maxrss_mib": _maxrss_mib(),
    }


# --------------------------------------------------------------------------- driver


def _run(case: str, mode: str, rows: int, seed: int, repeat: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        case,
        mode,
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        "--repeat",
        str(repeat),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"worker {case}/{mode} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one round")
    parser.add_argument("--rows", type=int, default=None, help="rows for fairness and drift")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per subprocess")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {','.join(CASES)}")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case, mode = args.worker
        print(json.dumps(worker(case, mode, args.rows, args.seed, args.repeat or 1)))
        return

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 2)
    repeat = args.repeat or 3
    sizes = {"fairness": rows, "shap": 1000, "drift": rows, "predict": rows, "performance": rows}
    cases = tuple(c for c in args.cases.split(",") if c)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; choose from {list(CASES)}")
    print(
        f"govern collectors vs bare library calls — python {platform.python_version()}, {os.cpu_count()} cpus"
    )
    print(
        f"rows: fairness {rows:,}, drift {rows:,} x 20 features (reference and evaluation each), shap 1,000"
    )
    results: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in cases}
    for r in range(rounds):
        for case in cases:
            order = MODES[case] if r % 2 == 0 else tuple(reversed(MODES[case]))
            for mode in order:
                # fairlearn on the rows takes seconds to minutes: one timed call per subprocess
                reps = 1 if (case == "fairness" and mode == "bare") else repeat
                got = _run(case, mode, sizes[case], args.seed, reps)
                seconds, peak = min(got["seconds"]), max(got["peak_growth_mib"])
                best = results[case].setdefault(mode, {"seconds": seconds, "peak_mib": 0.0, "rss_mib": 0.0})
                best["seconds"] = min(best["seconds"], seconds)
                best["peak_mib"] = max(best["peak_mib"], peak)
                best["rss_mib"] = max(best["rss_mib"], got["maxrss_mib"])
                print(
                    f"  round {r + 1} {case:8} {mode:6} {seconds:9.3f} s  peak +{peak:7.1f} MiB", flush=True
                )

    print()
    print(
        f"{'case':9} {'against':24} {'govern s':>9} {'bare s':>9} {'ratio':>7} {'govern +MiB':>12} {'bare +MiB':>10}  target <= {TARGET_RATIO}"
    )
    summary: dict[str, Any] = {}
    comparisons = [(case, "bare") for case in cases] + [
        (case, other) for case in cases for other in MODES[case][2:]
    ]
    for case, against in comparisons:
        g, b = results[case]["govern"], results[case][against]
        ratio = g["seconds"] / b["seconds"]
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER"
        print(
            f"{case:9} {AGAINST[case, against]:24} {g['seconds']:9.3f} {b['seconds']:9.3f} {ratio:7.3f} {g['peak_mib']:12.1f} {b['peak_mib']:10.1f}  {verdict}"
        )
        summary[case if against == "bare" else f"{case}_{against}"] = {
            "rows": sizes[case],
            "against": AGAINST[case, against],
            "govern_s": round(g["seconds"], 4),
            "bare_s": round(b["seconds"], 4),
            "ratio": round(ratio, 4),
            "govern_peak_mib": round(g["peak_mib"], 1),
            "bare_peak_mib": round(b["peak_mib"], 1),
            "govern_maxrss_mib": round(g["rss_mib"], 1),
            "bare_maxrss_mib": round(b["rss_mib"], 1),
        }
    ok = all(item["ratio"] <= TARGET_RATIO for item in summary.values())
    print(
        "RESULT "
        + json.dumps(
            {"target_ratio": TARGET_RATIO, "within_target": ok, "quick": args.quick, "cases": summary}
        )
    )


if __name__ == "__main__":
    main()

"""The live-rollback demo's model side: train and log versions, and serve live metrics.

``train``: fit a logistic regression on a synthetic credit-like task, log its validation AUC to
MLflow with the model, print the run id.

``serve``: what a serving team runs. It loads a registered version from MLflow, scores a fresh
labelled batch every second, and exposes on /metrics (prometheus_client) the AUC over the last
10,000 labelled predictions (``model_live_auc``), their number (``model_live_labelled``) and the
share of failed requests (``model_live_error_rate``), labelled with the model and the version.
When the file given as ``--degrade-flag`` exists, the incoming population shifts (one feature's
sign flips, as after an upstream schema change), so the live AUC really drops.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

MODEL = "live-demo"


def _data(rng: np.random.Generator, rows: int, shifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(rows, 4))
    logits = 1.6 * x[:, 0] - 1.1 * x[:, 1] + 0.6 * x[:, 2]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype(int)
    if shifted:
        x[:, 0] = -x[:, 0]
    return x, y


def train(seed: int, c: float) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    x, y = _data(rng, 4000)
    xv, yv = _data(rng, 20000)
    model = LogisticRegression(C=c).fit(x, y)
    auc = float(roc_auc_score(yv, model.predict_proba(xv)[:, 1]))
    if mlflow.get_experiment_by_name("live-demo") is None:  # artifacts beside the sqlite store
        root = Path(mlflow.get_tracking_uri().removeprefix("sqlite:///")).resolve().parent / "artifacts"
        mlflow.create_experiment("live-demo", artifact_location=root.as_uri())
    mlflow.set_experiment("live-demo")
    with mlflow.start_run() as run:
        mlflow.log_param("C", c)
        mlflow.log_metric("auc", round(auc, 4))
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    print(run.info.run_id)


def serve(port: int, version: str, degrade_flag: Path) -> None:
    import mlflow
    from prometheus_client import Gauge, start_http_server
    from sklearn.metrics import roc_auc_score

    model = mlflow.sklearn.load_model(f"models:/{MODEL}/{version}")
    labels = {"model": MODEL, "version": version}
    auc_gauge = Gauge("model_live_auc", "AUC over the last labelled predictions", ["model", "version"])
    labelled = Gauge("model_live_labelled", "Labelled predictions in the AUC window", ["model", "version"])
    errors = Gauge("model_live_error_rate", "Share of failed requests", ["model", "version"])
    start_http_server(port, addr="127.0.0.1")
    scores: deque[float] = deque(maxlen=10000)
    truth: deque[int] = deque(maxlen=10000)
    rng = np.random.default_rng(7)
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        x, y = _data(rng, 1000, shifted=degrade_flag.exists())
        scores.extend(model.predict_proba(x)[:, 1].tolist())
        truth.extend(y.tolist())
        auc_gauge.labels(**labels).set(float(roc_auc_score(list(truth), list(scores))))
        labelled.labels(**labels).set(len(truth))
        errors.labels(**labels).set(0.002)
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--C", type=float, default=1.0, dest="c")
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--degrade-flag", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "train":
        train(args.seed, args.c)
    else:
        serve(args.port, args.version, args.degrade_flag)


if __name__ == "__main__":
    sys.exit(main())

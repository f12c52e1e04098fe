"""What a monitoring job does: log a model version's live metrics to MLflow for govern to read.

    python examples/adult-income/monitor.py --version 2 --accuracy 0.71

govern's rollback gate reads the newest run tagged ``govern.monitors=<model>/<version>``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def use_experiment(mlflow: Any, name: str) -> None:
    """Select an experiment; with a local sqlite store, keep its artifacts beside the database
    (MLflow would otherwise write them to ./mlruns in whatever folder this runs from)."""
    uri = mlflow.get_tracking_uri()
    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts" / name
        mlflow.create_experiment(name, artifact_location=root.as_uri())
    mlflow.set_experiment(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="adult-income")
    parser.add_argument("--version", required=True)
    parser.add_argument("--accuracy", type=float, required=True)
    args = parser.parse_args()

    import mlflow

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///.govern/mlflow.db"))
    use_experiment(mlflow, "adult-income-monitoring")
    with mlflow.start_run(tags={"govern.monitors": f"{args.model}/{args.version}"}) as run:
        mlflow.log_metric("accuracy", args.accuracy)
    print(f"logged live accuracy {args.accuracy} for {args.model} v{args.version} (run {run.info.run_id})")


if __name__ == "__main__":
    main()

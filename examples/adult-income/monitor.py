"""What a monitoring job does: log a model version's live metrics to MLflow for govern to read.

    python examples/adult-income/monitor.py --version 2 --accuracy 0.71

govern's rollback gate reads the newest run tagged ``govern.monitors=<model>/<version>``.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="adult-income")
    parser.add_argument("--version", required=True)
    parser.add_argument("--accuracy", type=float, required=True)
    args = parser.parse_args()

    import mlflow

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///.govern/mlflow.db"))
    mlflow.set_experiment("adult-income-monitoring")
    with mlflow.start_run(tags={"govern.monitors": f"{args.model}/{args.version}"}) as run:
        mlflow.log_metric("accuracy", args.accuracy)
    print(f"logged live accuracy {args.accuracy} for {args.model} v{args.version} (run {run.info.run_id})")


if __name__ == "__main__":
    main()

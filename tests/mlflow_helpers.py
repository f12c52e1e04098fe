"""Real MLflow runs for the gate tests: a tiny logged model with chosen metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def use_experiment(name: str) -> None:
    """Select (creating it if needed) an experiment whose artifacts live beside a sqlite store.

    MLflow's default artifact root is ./mlruns in the current folder; tests must not write there.
    """
    import mlflow

    uri = mlflow.get_tracking_uri()
    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts" / name
        mlflow.create_experiment(name, artifact_location=root.as_uri())
    mlflow.set_experiment(name)


GATE_SPEC = FIXTURES / "gate-spec.yaml"


def log_run(
    tracking_uri: str, accuracy: float, *, params: dict[str, Any] | None = None, tag_team: bool = True
) -> str:
    """Log a run with a tiny scikit-learn model and the given accuracy; return its id."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(tracking_uri)
    use_experiment("gate-tests")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        mlflow.log_params(params if params is not None else {"C": 1.0})
        mlflow.log_metric("accuracy", accuracy)
        if tag_team:
            mlflow.set_tag("team", "platform")
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    return str(run.info.run_id)


def log_live(tracking_uri: str, name: str, version: str, accuracy: float) -> str:
    """What monitoring does: log live metrics to a run tagged govern.monitors=<name>/<version>."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    use_experiment("monitoring")
    with mlflow.start_run(tags={"govern.monitors": f"{name}/{version}"}) as run:
        mlflow.log_metric("accuracy", accuracy)
    return str(run.info.run_id)

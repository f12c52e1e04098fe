"""Train an income classifier on UCI Adult and log it to MLflow, as a team's training job would.

    python examples/adult-income/train.py --n-estimators 100 --max-depth 3

Logs params, metrics (accuracy, roc_auc, log_loss on the held-out test file), the training and
evaluation datasets (mlflow.log_input), the git commit, a team tag, and the model with its
signature. Prints the run id. The tracking URI comes from MLFLOW_TRACKING_URI (default: the local
sqlite store govern uses, .govern/mlflow.db).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _shown(path: Path) -> str:
    """A data file as the dataset's source: relative to the repository, not to this machine."""
    return path.relative_to(HERE.parent.parent).as_posix()


CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
               "native-country"]  # fmt: skip
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
TARGET = "income"
# MLflow saves scikit-learn models with skops, which refuses types outside its safe list unless
# they are trusted when the model is logged (MLflow records the list for loading). This is our own
# model, so we trust the tree type and the dtype the imputer stores, and nothing else.
TRUSTED_TYPES = ["sklearn.tree._tree.Tree", "numpy.dtype"]


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


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
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--train-rows", type=int, default=None, help="Train on a seeded sample of this size.")
    parser.add_argument("--experiment", default="adult-income")
    args = parser.parse_args()

    import os

    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if "MLFLOW_TRACKING_URI" not in os.environ:
        Path(".govern").mkdir(exist_ok=True)  # govern's default local store
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///.govern/mlflow.db"))
    use_experiment(mlflow, args.experiment)

    train_path, test_path = HERE / "data" / "adult_train.csv", HERE / "data" / "adult_test.csv"
    train = pd.read_csv(train_path, keep_default_na=False, na_values=[""])
    test = pd.read_csv(test_path, keep_default_na=False, na_values=[""])
    if args.train_rows:
        train = train.sample(n=min(args.train_rows, len(train)), random_state=0)
    features = CATEGORICAL + NUMERIC
    x_train, y_train = train[features], train[TARGET]
    x_test, y_test = test[features], test[TARGET]

    model = Pipeline(
        [
            ("encode", ColumnTransformer(
                [("categorical", Pipeline([
                    # a missing category is a category of its own ("missing"), inside the model
                    ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                    ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]), CATEGORICAL)],
                remainder="passthrough",
            )),
            ("classify", GradientBoostingClassifier(
                n_estimators=args.n_estimators, max_depth=args.max_depth, learning_rate=args.learning_rate,
                random_state=0,
            )),
        ]
    )  # fmt: skip
    with mlflow.start_run() as run:
        model.fit(x_train, y_train)
        positive = list(model.classes_).index(">50K")
        proba = model.predict_proba(x_test)[:, positive]
        predicted = model.predict(x_test)
        mlflow.log_params(
            {
                "n_estimators": args.n_estimators,
                "max_depth": args.max_depth,
                "learning_rate": args.learning_rate,
            }
        )
        mlflow.log_metrics(
            {
                "accuracy": float(accuracy_score(y_test, predicted)),
                "roc_auc": float(roc_auc_score(y_test == ">50K", proba)),
                "log_loss": float(log_loss(y_test == ">50K", proba)),
            }
        )
        mlflow.set_tag("team", "credit-risk-ml")
        commit = git_commit()
        if commit:
            mlflow.set_tag("mlflow.source.git.commit", commit)
        mlflow.log_input(
            mlflow.data.from_pandas(train, source=_shown(train_path), name="adult_train"), context="training"
        )
        mlflow.log_input(
            mlflow.data.from_pandas(test, source=_shown(test_path), name="adult_test"), context="evaluation"
        )
        mlflow.sklearn.log_model(
            model,
            name="model",
            # inferred from the training data, so columns with missing values are marked optional
            signature=infer_signature(x_train, model.predict(x_train.head(100))),
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=TRUSTED_TYPES,
        )
        print(run.info.run_id)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

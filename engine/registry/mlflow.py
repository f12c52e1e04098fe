"""The MLflow registry: runs, model versions and aliases through ``MlflowClient``.

mlflow is imported when a registry is created, never before: ``govern check --evidence`` does
not pay for it. Requests to a tracking server are bounded (a short timeout, few retries) unless
the user set MLflow's own ``MLFLOW_HTTP_REQUEST_*`` variables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ReferenceNotFound, RegistryError
from .base import Registry, RunRecord, VersionRecord

__all__ = ["DEFAULT_TRACKING_URI", "MlflowRegistry", "resolve_tracking_uri"]

DEFAULT_TRACKING_URI = "sqlite:///.govern/mlflow.db"
MONITOR_TAG = "govern.monitors"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
T = TypeVar("T")


def resolve_tracking_uri(spec_uri: str | None, option: str | None) -> str:
    """``--tracking-uri``, the spec's ``model.tracking_uri``, MLFLOW_TRACKING_URI, or local sqlite."""
    return option or spec_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class MlflowRegistry(Registry):
    def __init__(self, tracking_uri: str) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if tracking_uri.startswith("sqlite:///"):
            db = Path(tracking_uri.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
        self._uri = tracking_uri
        try:
            import mlflow
            from mlflow import MlflowClient
        except ImportError:
            raise RegistryError("MLflow is not installed: pip install 'govern-ml[mlflow]'") from None
        self._mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @property
    def uri(self) -> str:
        return self._uri

    def _call(self, what: str, func: Callable[[], T]) -> T:
        """Run one client call, translating MLflow's and the network's errors."""
        from mlflow.exceptions import MlflowException

        try:
            return func()
        except MlflowException as exc:
            code = str(getattr(exc, "error_code", ""))
            text = str(exc.message if hasattr(exc, "message") else exc)
            if any(c in code for c in _NOT_FOUND) or "not found" in text.lower():
                raise ReferenceNotFound(f"{what}: not found in the MLflow registry at {self._uri}") from None
            raise RegistryError(f"{what} failed at {self._uri}: {_first_line(text)}") from None
        except (ReferenceNotFound, RegistryError):
            raise
        except Exception as exc:  # connection errors, sqlite errors, timeouts
            raise RegistryError(
                f"{what} failed at {self._uri}: {type(exc).__name__}: {_first_line(str(exc))}"
            ) from None

    def get_run(self, run_id: str) -> RunRecord:
        run = self._call(f"run {run_id}", lambda: self._client.get_run(run_id))
        datasets = []
        for item in run.inputs.dataset_inputs if run.inputs else []:
            context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), None)
            datasets.append(
                {
                    "name": item.dataset.name,
                    "digest": item.dataset.digest,
                    "source": _source(item.dataset.source),
                    "context": context,
                }
            )
        return RunRecord(
            id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            status=run.info.status,
            params=dict(run.data.params),
            metrics={k: float(v) for k, v in run.data.metrics.items()},
            tags=dict(run.data.tags),
            datasets=tuple(datasets),
            start_time=_iso(run.info.start_time),
        )

    def _version(self, mv: Any) -> VersionRecord:
        return VersionRecord(
            name=mv.name,
            version=str(mv.version),
            aliases=tuple(getattr(mv, "aliases", []) or []),
            tags=dict(mv.tags or {}),
            run_id=mv.run_id or None,
            source=mv.source,
            created_at=_iso(mv.creation_timestamp),
        )

    def get_version(self, name: str, version: str) -> VersionRecord:
        return self._version(
            self._call(
                f"model {name} version {version}", lambda: self._client.get_model_version(name, version)
            )
        )

    def get_alias(self, name: str, alias: str) -> VersionRecord | None:
        try:
            mv = self._call(
                f"alias {name}@{alias}", lambda: self._client.get_model_version_by_alias(name, alias)
            )
        except ReferenceNotFound:
            return None
        return self._version(mv)

    def list_versions(self, name: str) -> list[VersionRecord]:
        found = self._call(
            f"versions of {name}", lambda: self._client.search_model_versions(f"name='{_quote(name)}'")
        )
        versions = [self._version(mv) for mv in found]
        return sorted(versions, key=lambda v: int(v.version), reverse=True)

    def model_info(self, model_uri: str) -> tuple[tuple[str, ...], Mapping[str, Any] | None]:
        info = self._call(f"model {model_uri}", lambda: self._mlflow.models.get_model_info(model_uri))
        signature = info.signature.to_dict() if info.signature is not None else None
        parsed = {k: json.loads(v) if isinstance(v, str) else v for k, v in (signature or {}).items()}
        return tuple(sorted(info.flavors)), parsed or None

    def create_version(
        self, name: str, run_id: str, artifact_path: str, tags: Mapping[str, str]
    ) -> VersionRecord:
        def register() -> Any:
            import logging

            quiet = logging.getLogger("mlflow")
            level = quiet.level
            quiet.setLevel(logging.ERROR)  # MLflow narrates registration on stderr; govern reports it
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    return self._mlflow.register_model(
                        f"runs:/{run_id}/{artifact_path}", name, tags=dict(tags)
                    )
            finally:
                quiet.setLevel(level)

        return self._version(self._call(f"registering run {run_id} as {name}", register))

    def delete_version(self, name: str, version: str) -> None:
        self._call(
            f"deleting {name} version {version}", lambda: self._client.delete_model_version(name, version)
        )

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._call(
                f"tagging {name} version {version}",
                lambda key=key, value=value: self._client.set_model_version_tag(name, version, key, value),  # type: ignore[misc]
            )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            f"moving {name}@{alias} to version {version}",
            lambda: self._client.set_registered_model_alias(name, alias, version),
        )

    def log_decision(self, run_id: str, decision_id: str, text: str) -> str:
        path = f"govern/decisions/{decision_id}.json"
        self._call(f"logging decision {decision_id}", lambda: self._client.log_text(run_id, text, path))
        return path

    def read_text(self, run_id: str, artifact_path: str) -> str:
        def load() -> str:
            import mlflow.artifacts

            text: str = mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact_path}")
            return text

        return self._call(f"reading artifact {artifact_path} of run {run_id}", load)

    def log_text(self, run_id: str, artifact_path: str, text: str) -> str:
        self._call(
            f"storing {artifact_path} in run {run_id}",
            lambda: self._client.log_text(run_id, text, artifact_path),
        )
        return f"runs:/{run_id}/{artifact_path}"

    def live_metrics(self, name: str, version: str) -> tuple[dict[str, float], str] | None:
        def search() -> Any:
            experiments = [e.experiment_id for e in self._client.search_experiments()]
            if not experiments:
                return []
            return self._client.search_runs(
                experiments,
                filter_string=f"tags.`{MONITOR_TAG}` = '{_quote(name)}/{_quote(version)}'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )

        runs = self._call(f"live metrics of {name} version {version}", search)
        if not runs:
            return None
        run = runs[0]
        return {k: float(v) for k, v in run.data.metrics.items()}, f"mlflow run {run.info.run_id}"


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "unknown error"


def _source(raw: Any) -> str | None:
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return str(raw)
    if isinstance(parsed, dict):
        for key in ("uri", "path", "url"):
            if key in parsed:
                return str(parsed[key])
    return str(raw)

"""The MLflow collector: the model version, its run, the champion and live metrics.

Fills the ``model``, ``run``, ``champion`` and ``live`` sections from a
:class:`~govern.engine.registry.Registry`. What it cannot find is null with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import CollectionError, ConfigError, EvidenceError, ReferenceNotFound, RegistryError
from ..registry import Registry, RunRecord, VersionRecord
from ..spec import ModelSpec, Stage
from .base import Collected, Collector

__all__ = ["MlflowCollector", "Target", "resolve_target"]


@dataclass(frozen=True)
class Target:
    """What is being judged: a registered version, or a run not registered yet."""

    run_id: str
    artifact_path: str
    name: str | None = None
    version: str | None = None

    @property
    def model_uri(self) -> str:
        if self.name and self.version:
            return f"models:/{self.name}/{self.version}"
        return f"runs:/{self.run_id}/{self.artifact_path}"

    def describe(self) -> str:
        if self.name and self.version:
            return f"{self.name} version {self.version}"
        return f"run {self.run_id}"


def resolve_target(
    spec: ModelSpec,
    registry: Registry,
    *,
    version: str | None = None,
    alias: str | None = None,
    run_id: str | None = None,
) -> Target:
    """The spec's model reference (or the one given) as a concrete run or version."""
    registered = spec.model.registered
    artifact_path = spec.model.run.artifact_path if spec.model.run else "model"
    name = registered.name if registered else None
    if run_id:
        registry.get_run(run_id)  # a missing run is a bad reference (exit 2)
        return Target(run_id=run_id, artifact_path=artifact_path, name=name)
    if version is None and alias is None and registered is not None:
        version = registered.version
        alias = registered.alias
    if name and (version or alias):
        record = _version_or_alias(registry, name, version, alias)
        if not record.run_id:
            raise CollectionError(f"{name} version {record.version} has no source run; govern needs the run")
        return Target(
            run_id=record.run_id,
            artifact_path=artifact_path,
            name=name,
            version=record.version,
        )
    if spec.model.run is not None:
        return Target(run_id=spec.model.run.run_id, artifact_path=artifact_path, name=name)
    raise ConfigError(
        "the spec names no version, alias or run to judge",
        hint="set model.registered.version or .alias, or model.run.run_id, or pass --version/--alias",
    )


def _version_or_alias(registry: Registry, name: str, version: str | None, alias: str | None) -> VersionRecord:
    if version:
        return registry.get_version(name, str(version))
    assert alias is not None
    holder = registry.get_alias(name, alias)
    if holder is None:
        raise ReferenceNotFound(f"no version of {name} holds the alias '{alias}' in {registry.uri}")
    return holder


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _run_section(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "status": run.status,
        "params": dict(run.params),
        "metrics": dict(run.metrics),
        "tags": dict(run.tags),
        "datasets": [dict(d) for d in run.datasets],
        "git_commit": run.git_commit,
        "start_time": run.start_time,
    }


def load_live_file(path: Path) -> dict[str, Any]:
    """A JSON file of live metrics: ``{"metrics": {"accuracy": 0.81}, "window": "7d"}``."""
    from ..documents import load_document

    doc, _ = load_document(path, EvidenceError, json_fast_path=True)
    value = doc.value
    metrics = value.get("metrics") if isinstance(value, dict) else None
    if not isinstance(metrics, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()
    ):
        raise EvidenceError(
            "a live metrics file needs a 'metrics' mapping of names to numbers", doc.location(("metrics",))
        )
    return {"metrics": metrics, "source": str(path), "window": value.get("window")}


class MlflowCollector(Collector):
    name: ClassVar[str] = "mlflow"
    sections: ClassVar[tuple[str, ...]] = ("model", "run", "champion", "live")

    def __init__(self, registry: Registry, target: Target, live_file: Path | None = None) -> None:
        self.registry = registry
        self.target = target
        self.live_file = live_file

    def collect(self, spec: ModelSpec, stage: Stage) -> Collected:
        out = Collected()
        run = self.registry.get_run(self.target.run_id)
        out.sections["run"] = _run_section(run)
        out.inputs[f"mlflow:runs/{run.id}"] = _digest(out.sections["run"])
        out.sections["model"] = self._model(out)
        self._champion(spec, stage, out)
        self._live(spec, stage, out)
        return out

    def _model(self, out: Collected) -> dict[str, Any]:
        target = self.target
        try:
            flavors, signature = self.registry.model_info(target.model_uri)
        except ReferenceNotFound:
            flavors, signature = (), None
            out.missing["model.signature"] = f"no logged model at {target.model_uri}"
        flavor = next((f for f in flavors if f != "python_function"), flavors[0] if flavors else None)
        section: dict[str, Any] = {
            "name": target.name,
            "version": target.version,
            "aliases": [],
            "tags": {},
            "run_id": target.run_id,
            "source": target.model_uri,
            "flavor": flavor,
            "flavors": list(flavors),
            "signature": dict(signature) if signature else None,
            "created_at": None,
        }
        if target.name and target.version:
            record = self.registry.get_version(target.name, target.version)
            section.update(aliases=list(record.aliases), tags=dict(record.tags), created_at=record.created_at)
            out.inputs[f"mlflow:models/{target.name}/{target.version}"] = _digest(section)
        return section

    def _champion(self, spec: ModelSpec, stage: Stage, out: Collected) -> None:
        champion = spec.requirements.champion
        name = self.target.name or spec.registered_name
        if champion is None:
            out.sections["champion"] = None
            out.missing["champion"] = "the spec asks for no champion comparison"
            return
        if stage is not Stage.DEPLOY:
            out.sections["champion"] = None
            out.missing["champion"] = f"the champion comparison is made at deploy, not at {stage.value}"
            return
        alias = champion.alias
        holder = self.registry.get_alias(name, alias) if name else None
        if holder is None:
            out.sections["champion"] = None
            out.missing["champion"] = (
                f"no version of {name} holds '{alias}' yet: this is the first deployment"
            )
            return
        if holder.version == self.target.version:
            out.sections["champion"] = None
            out.missing["champion"] = f"version {holder.version} already holds '{alias}'"
            return
        if not holder.run_id:
            raise CollectionError(
                f"the champion {name} version {holder.version} has no source run to compare with"
            )
        run = self.registry.get_run(holder.run_id)
        out.sections["champion"] = {
            "alias": alias,
            "name": name,
            "version": holder.version,
            "run_id": holder.run_id,
            "metrics": dict(run.metrics),
        }
        out.inputs[f"mlflow:runs/{run.id}"] = _digest(_run_section(run))

    def _live(self, spec: ModelSpec, stage: Stage, out: Collected) -> None:
        if stage is not Stage.ROLLBACK:
            out.sections["live"] = None
            out.missing["live"] = f"live metrics are read at rollback, not at {stage.value}"
            return
        if self.live_file is not None:
            out.sections["live"] = load_live_file(self.live_file)
            out.inputs[str(self.live_file)] = hashlib.sha256(self.live_file.read_bytes()).hexdigest()
            return
        target = self.target
        found = None
        if target.name and target.version:
            try:
                found = self.registry.live_metrics(target.name, target.version)
            except RegistryError as exc:
                raise CollectionError(f"live metrics could not be read: {exc.message}") from None
        if found is None:
            out.sections["live"] = None
            out.missing["live"] = (
                f"no live metrics for {target.describe()}: log them to an MLflow run tagged "
                f"govern.monitors={target.name}/{target.version}, or pass --live FILE"
            )
            return
        metrics, source = found
        out.sections["live"] = {"metrics": metrics, "source": source, "window": None}

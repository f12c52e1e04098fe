"""The registry interface: what gates and the MLflow collector need from a model registry.

Values crossing this boundary are frozen dataclasses. Implementations translate their
library's errors: a run, version or alias that does not exist is
:class:`~govern.engine.errors.ReferenceNotFound` (exit 2); anything else (unreachable server,
failed write) is :class:`~govern.engine.errors.RegistryError` (exit 3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Registry", "RunRecord", "VersionRecord"]


@dataclass(frozen=True)
class RunRecord:
    id: str
    experiment_id: str | None
    status: str | None
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    datasets: tuple[Mapping[str, Any], ...] = ()
    start_time: str | None = None

    @property
    def git_commit(self) -> str | None:
        return self.tags.get("mlflow.source.git.commit") or None


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: str
    aliases: tuple[str, ...]
    tags: Mapping[str, str]
    run_id: str | None
    source: str | None
    created_at: str | None = None
    flavors: tuple[str, ...] = ()
    signature: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Registry(ABC):
    """A model registry and tracking store."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where the registry is (a tracking URI), for messages and evidence."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord: ...

    @abstractmethod
    def get_version(self, name: str, version: str) -> VersionRecord: ...

    @abstractmethod
    def get_alias(self, name: str, alias: str) -> VersionRecord | None:
        """The version an alias points to, or None when the alias is not set (or no such model)."""

    @abstractmethod
    def list_versions(self, name: str) -> list[VersionRecord]:
        """Every version of a registered model, newest first."""

    @abstractmethod
    def model_info(self, model_uri: str) -> tuple[tuple[str, ...], Mapping[str, Any] | None]:
        """(flavours, signature) of a logged model."""

    @abstractmethod
    def create_version(
        self, name: str, run_id: str, artifact_path: str, tags: Mapping[str, str]
    ) -> VersionRecord: ...

    @abstractmethod
    def delete_version(self, name: str, version: str) -> None: ...

    @abstractmethod
    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None: ...

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    @abstractmethod
    def log_decision(self, run_id: str, decision_id: str, text: str) -> str:
        """Store the decision JSON as an artifact of ``run_id``; return its artifact path."""

    def log_text(self, run_id: str, artifact_path: str, text: str) -> str:
        """Store ``text`` as the artifact ``artifact_path`` of ``run_id``; return its URI.

        Registries that cannot store artifacts refuse, so a gate never acts without its records.
        """
        from ..errors import RegistryError

        raise RegistryError(f"this registry ({self.uri}) cannot store artifacts for run {run_id}")

    @abstractmethod
    def read_text(self, run_id: str, artifact_path: str) -> str:
        """The text of an artifact of ``run_id`` (a stored decision record or evidence)."""

    @abstractmethod
    def live_metrics(self, name: str, version: str) -> tuple[dict[str, float], str] | None:
        """The latest metrics monitoring logged for a version, with their source; None if none."""

"""The one error tree of govern.

Every error the engine raises on purpose is a :class:`GovernError`. The CLI maps the two
branches to exit codes; nothing else decides an exit code::

    GovernError
    ├── InputError                  exit 2: the user's input is wrong; fix it and re-run
    │   ├── SpecError               a model spec (file, line, field path)
    │   ├── EvidenceError           an evidence document (file, line, field path)
    │   ├── PolicyLoadError         a Rego file: syntax, unsafe variable, unknown function,
    │   │                           bad # METADATA annotation (file, line)
    │   ├── ConfigError             options, parameters, unknown format or backend
    │   └── ReferenceNotFound       a run, model version or alias that does not exist
    └── EvaluationError             exit 3: govern could not reach a decision; never a pass
        ├── BackendError            the policy engine failed while evaluating
        ├── CollectionError         evidence could not be collected
        ├── RegistryError           the model registry failed (unreachable, a write failed)
        └── AuditError              the audit log could not be written or read

A location (file, line, field path) is carried as data so that every front end can print it
its own way; ``str(error)`` gives the one-paragraph form the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuditError",
    "BackendError",
    "CollectionError",
    "ConfigError",
    "EvaluationError",
    "EvidenceError",
    "GovernError",
    "InputError",
    "Location",
    "PolicyLoadError",
    "ReferenceNotFound",
    "RegistryError",
    "SpecError",
]


@dataclass(frozen=True)
class Location:
    """Where in the user's input a problem is: any part may be unknown."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {self.field}"
        return where


class GovernError(Exception):
    """Base of every error govern raises on purpose."""

    exit_code: int = 3

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputError(GovernError):
    """The user's input is wrong (exit 2)."""

    exit_code = 2


class SpecError(InputError):
    """A model spec failed to parse or validate."""


class EvidenceError(InputError):
    """An evidence document failed to parse or validate."""


class PolicyLoadError(InputError):
    """A policy file failed to parse or compile, or its annotation is malformed."""


class ConfigError(InputError):
    """A command-line option, parameter or setting is invalid."""


class EvaluationError(GovernError):
    """govern could not reach a decision (exit 3). Never a pass."""

    exit_code = 3


class BackendError(EvaluationError):
    """The policy engine failed while evaluating."""


class CollectionError(EvaluationError):
    """Evidence could not be collected."""


class ReferenceNotFound(InputError):
    """A run, model version or alias named by the user does not exist (exit 2)."""


class RegistryError(EvaluationError):
    """The model registry could not be read or written."""


class AuditError(EvaluationError):
    """The audit log could not be written or read."""

"""A fake backend for unit tests: a Python function stands in for Rego.

``FakeBackend(handler)`` calls ``handler(input_doc, package)`` for each package and returns
what it returns (``{rule name: value}``); a handler that raises ``BackendError`` simulates an
engine failure. Like httpx's ``MockTransport``: short tests that say exactly what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..errors import BackendError
from ..policyset import PolicySet
from .base import UNDEFINED, Backend, PackageValues

__all__ = ["FakeBackend", "Handler"]

Handler = Callable[[Mapping[str, Any], str], dict[str, Any]]


class FakeBackend(Backend):
    name: ClassVar[str] = "fake"

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.loaded: PolicySet | None = None
        self.data: Mapping[str, Any] | None = None
        self.calls = 0

    def version(self) -> str:
        return "fake 1"

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        self.loaded = policy_set
        self.data = data

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        if self.loaded is None:
            raise BackendError("the fake backend was used before load")
        self.calls += 1
        return {package: self.handler(input_doc, package) for package in packages}

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        package, _, rule = path.removeprefix("data.").rpartition(".")
        values = self.handler(input_doc or {}, package)
        return values.get(rule, UNDEFINED)

"""The policy backend interface: load a policy set with its data once, then evaluate inputs.

A backend knows Rego and nothing of models: it returns raw rule values per package, and
``govern.engine.check`` turns them into a decision. Implementations live one per module
(``embedded`` for regorus, ``fake`` for unit tests) and wrap their library's errors into
:class:`~govern.engine.errors.PolicyLoadError` (at load) or
:class:`~govern.engine.errors.BackendError` (at evaluation).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from ..policyset import PolicySet
from ..rego_ast import split_engine_error

__all__ = ["UNDEFINED", "Backend", "PackageValues", "Undefined", "package_values", "split_engine_error"]


class Undefined:
    """The value of a Rego rule that is undefined for an input."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = Undefined()

#: package name → {rule name → value}; a rule absent from the mapping is undefined.
PackageValues = dict[str, dict[str, Any]]


class Backend(ABC):
    """One Rego engine. ``load`` once per policy set and data; ``evaluate`` many times."""

    name: ClassVar[str]

    @abstractmethod
    def version(self) -> str:
        """The backend and engine version, as recorded in decisions."""

    @abstractmethod
    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        """Compile ``policy_set`` with ``data`` as ``data``. Raises PolicyLoadError with file and line."""

    @abstractmethod
    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        """Every rule value of ``packages`` for ``input_doc``. Raises BackendError on any failure."""

    def evaluate_json(
        self,
        input_json: str,
        stage: str | None,
        packages: tuple[str, ...],
        input_doc: Mapping[str, Any] | None = None,
    ) -> PackageValues:
        """:meth:`evaluate` on an input already serialized: ``input_json`` is the document's JSON
        text (a key given twice counts once, with its last value), ``stage`` its stage.

        The caller serializes each input once; a backend whose engine reads JSON takes the text
        as it is. This default evaluates ``input_doc`` (the same document), or the parsed text.
        """
        import json

        return self.evaluate(input_doc if input_doc is not None else json.loads(input_json), packages)

    @abstractmethod
    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        """One rule's value (``UNDEFINED`` when undefined). Raises BackendError on any failure."""

    def evaluate_rules(self, paths: Sequence[str]) -> dict[str, Any]:
        """Several rules without input (test rules) at once: path → value, ``UNDEFINED``, or the
        BackendError evaluating that rule raised. A path left out is for ``evaluate_rule``; this
        default answers none (a backend where one request per rule is costly overrides it)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def package_values(tree: Any, members: list[str], wanted: set[str]) -> PackageValues:
    """Cut the value of ``data.<root>`` into the rule values of each wanted package under it."""
    out: PackageValues = {}
    for package in members:
        if package not in wanted:
            continue
        node: Any = tree
        for part in package.split(".")[1:]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        out[package] = node if isinstance(node, dict) else {}
    return out

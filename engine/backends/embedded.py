"""The embedded backend: regorus (PyPI ``gordon-to-regorus``), in process, no server.

At load the v1 modules are compiled with ``regorus.Program.compile_from_modules``, which
rejects unsafe variables and unknown functions before any input is seen; v0 modules (which
that compiler does not accept) are probed once with an empty input for the same errors.
Evaluation uses the regorus interpreter, which raises on runtime errors (a conflicting
complete rule, a failing builtin) where the compiled VM would return nothing: govern fails
closed, so it evaluates with the engine that reports errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any, ClassVar

from ..errors import BackendError, PolicyLoadError
from ..policyset import PolicyModule, PolicySet
from ..spec import RegoVersion
from .base import UNDEFINED, Backend, PackageValues, package_values, split_engine_error

__all__ = ["EmbeddedBackend", "import_regorus"]

_UNSUPPORTED = "not supported by the compiler"
_STATIC_MARKERS = ("unsafe", "could not find function", "unknown function", "undefined function")


def import_regorus() -> Any:
    """Import regorus without Rust backtraces appended to every error message."""
    os.environ.setdefault("RUST_LIB_BACKTRACE", "0")
    os.environ["RUST_LIB_BACKTRACE"] = "0"
    import regorus

    return regorus


_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_V0_HINT = (
    "this looks like Rego v0: declare `rego_version: v0` for its path under policies.paths in the "
    "spec, or pass --v0-compatible"
)


def _load_error(exc: BaseException, module: PolicyModule | None = None) -> PolicyLoadError:
    message, location = split_engine_error(str(exc))
    if location is None and module is not None:
        from ..errors import Location

        location = Location(module.path)
    v1 = module is None or module.rego_version is RegoVersion.V1
    hint = _V0_HINT if v1 and any(marker in message for marker in _V0_MARKERS) else None
    return PolicyLoadError(message, location, hint)


@cache
def _regorus_version() -> str:
    try:
        return f"regorus {metadata.version('gordon-to-regorus')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - installed some other way
        return "regorus (unknown version)"


class EmbeddedBackend(Backend):
    """regorus in process. The policy set is parsed and checked once per ``load``."""

    name: ClassVar[str] = "embedded"

    def __init__(self) -> None:
        self._regorus = import_regorus()
        self._engine: Any = None
        self._roots: dict[str, list[str]] = {}

    def version(self) -> str:
        return _regorus_version()

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        data_json = json.dumps(data)
        compiled = self._compile_check(policy_set, data_json)
        engine = self._regorus.Engine()
        for module in policy_set.modules:
            engine.set_rego_v0(module.rego_version is RegoVersion.V0)
            try:
                engine.add_policy(module.path, module.text)
            except Exception as exc:  # regorus raises RuntimeError/ValueError with a diagnostic
                raise _load_error(exc, module) from None
        engine.set_rego_v0(False)
        try:
            engine.add_data_json(data_json)
        except Exception as exc:
            raise PolicyLoadError(
                f"the policy data was rejected: {split_engine_error(str(exc))[0]}"
            ) from None
        self._probe(engine, policy_set, probe_v1=not compiled)
        self._engine = engine
        roots: dict[str, list[str]] = {}
        for package in policy_set.packages:
            roots.setdefault(package.split(".")[0], []).append(package)
        self._roots = roots

    def _compile_check(self, policy_set: PolicySet, data_json: str) -> bool:
        """Compile the v1 policy modules; False when the compiler cannot take them (then probe)."""
        v1 = [m for m in policy_set.modules if m.rego_version is RegoVersion.V1 and not m.is_test]
        entry_points = sorted({rule.path for m in v1 for rule in m.rules})
        if not v1 or not entry_points:
            return True
        try:
            self._regorus.Program.compile_from_modules(
                data_json, [(m.path, m.text) for m in v1], entry_points
            )
        except Exception as exc:
            if _UNSUPPORTED in str(exc):
                return False  # e.g. `with` outside tests: valid Rego the compiler does not cover yet
            raise _load_error(exc) from None
        return True

    def _probe(self, engine: Any, policy_set: PolicySet, *, probe_v1: bool) -> None:
        """Evaluate the rules the compiler did not check once, to surface static errors at load."""
        probe = [
            m for m in policy_set.modules if not m.is_test and (m.rego_version is RegoVersion.V0 or probe_v1)
        ]
        if not probe:
            return
        engine.set_input_json("{}")
        for module in probe:
            for path in (r.path for r in module.rules):
                try:
                    engine.eval_rule_as_json(path)
                except Exception as exc:
                    if any(marker in str(exc) for marker in _STATIC_MARKERS):
                        raise _load_error(exc, module) from None

    def _require(self) -> Any:
        if self._engine is None:
            raise BackendError("the embedded backend was used before a policy set was loaded")
        return self._engine

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        engine = self._require()
        try:
            engine.set_input_json(json.dumps(input_doc))
        except Exception as exc:
            raise BackendError(
                f"the input was rejected by the engine: {split_engine_error(str(exc))[0]}"
            ) from None
        wanted = set(packages)
        out: PackageValues = {}
        for root, members in self._roots.items():
            if not wanted.intersection(members):
                continue
            try:
                raw = engine.eval_query_as_json(f"data.{root}")
            except Exception as exc:
                message, location = split_engine_error(str(exc))
                where = f" at {location}" if location else ""
                raise BackendError(f"evaluation failed{where}: {message}") from None
            results = json.loads(raw).get("result") or []
            tree = results[0]["expressions"][0]["value"] if results else {}
            out.update(package_values(tree, members, wanted))
        return out

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        engine = self._require()
        try:
            if input_doc is not None:
                engine.set_input_json(json.dumps(input_doc))
            raw = engine.eval_rule_as_json(path)
        except Exception as exc:
            message, location = split_engine_error(str(exc))
            where = f" at {location}" if location else ""
            raise BackendError(f"{path} failed{where}: {message}") from None
        value = json.loads(raw)
        return UNDEFINED if value == "<undefined>" else value

"""The embedded backend: regorus (PyPI ``gordon-to-regorus``), in process, no server.

At load every module is rewritten so regorus gives OPA's answer (``fidelity``: negation over
calls, decimal arithmetic, ``time.add_date``) or refused with its line and column; then the
engine analyses the whole set once (unsafe variables, conflicting definitions) and every function
a policy calls is resolved (a built-in, an extension or a function of the policy set), so an
unknown function is a load error on v0 and v1 alike. There is no throwaway compile.

Evaluation asks one query for exactly the rule values govern reads (the rules that apply at the
input's stage, never the whole ``data`` tree) with the regorus interpreter, which raises on
runtime errors (a conflicting complete rule, a failing builtin) where the compiled VM would
return nothing: govern fails closed. A Rust panic inside regorus surfaces in Python as a
``BaseException`` that is not an ``Exception``; it is caught at every call and becomes a
:class:`BackendError` (exit 3), never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, NoReturn, TypeVar

from ..errors import BackendError, Location, PolicyLoadError
from ..policyset import PolicyModule, PolicySet
from ..rego_ast import ParsedModule, import_regorus, iter_spanned, parse_rego, regorus_version
from ..spec import RegoVersion, Stage
from .base import UNDEFINED, Backend, PackageValues, split_engine_error
from .derived import (
    LIBRARY_PACKAGE,
    builtin_names,
    engine_text,
    library_takes_results,
    module_facts,
    once_clean,
    set_facts,
)
from .exact import EXACT_MODULE, EXACT_MODULE_PATH, context, extensions, opa_values

__all__ = ["EmbeddedBackend", "import_regorus"]

_T = TypeVar("_T")
_NOT_FOUND = "could not find function"
_STATIC_MARKERS = ("unsafe", _NOT_FOUND, "unknown function", "undefined function")
_UNSAFE_VAR = re.compile(r"var (?P<name>[A-Za-z_][A-Za-z0-9_]*) is unsafe")
_PROBE_ARGS = ", ".join(["null"] * 9)  # no built-in takes nine arguments: only the name is checked
_STAGES = frozenset(s.value for s in Stage)
_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_V0_HINT = (
    "this looks like Rego v0: declare `rego_version: v0` for its path under policies.paths in the "
    "spec, or pass --v0-compatible"
)


@cache
def _number_texts(policy_set: PolicySet, data_json: str) -> None:
    """Tell the arithmetic helpers which numbers the policies and data write, and how."""
    context.load([data_json, *(module.text for module in policy_set.modules)])


def _crash(exc: BaseException, doing: str) -> NoReturn:
    """A Rust panic (``pyo3_runtime.PanicException``, a BaseException) as an evaluation error."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    raise BackendError(f"the embedded engine crashed while {doing}: {first}") from None


def guarded(doing: str, call: Callable[[], _T]) -> _T:
    """Run one regorus call; an engine panic becomes a BackendError (exit 3)."""
    try:
        return call()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except Exception:
        raise
    except BaseException as exc:
        _crash(exc, doing)


@cache
def _is_builtin(name: str) -> bool:
    """Whether regorus (with govern's extensions) knows a function by this name."""
    regorus = import_regorus()
    engine = regorus.Engine()
    engine.set_gather_prints(True)  # a variadic built-in (print) runs: keep its output
    for ext_name, (arity, function) in extensions().items():
        engine.add_extension(ext_name, arity, function)
    try:
        guarded("checking a function name", lambda: engine.eval_query(f"x := {name}({_PROBE_ARGS})"))
    except BackendError:
        return False
    except Exception as exc:
        return _NOT_FOUND not in str(exc)
    return True


class EmbeddedBackend(Backend):
    """regorus in process. The policy set is parsed, rewritten and checked once per ``load``."""

    name: ClassVar[str] = "embedded"

    def __init__(self) -> None:
        self._regorus = import_regorus()
        self._engine: Any = None
        self._rules: dict[str, tuple[str, ...]] = {}
        self._stages: dict[tuple[str, str], frozenset[str]] = {}
        self._always_defined: frozenset[tuple[str, str]] = frozenset()
        self._queries: dict[tuple[tuple[str, ...], str | None], tuple[str, list[tuple[str, str, bool]]]] = {}

    def version(self) -> str:
        return regorus_version()

    #: Evaluate every rule once on an empty input at load, to report what regorus finds only
    #: when it evaluates (an unbound variable) as a load error. The bounded backend turns it off
    #: for a policy set whose probe ran out of time or memory: then evaluation reports that rule.
    probe: bool = True

    def load_unprobed(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        """:meth:`load` without the probe (a rule that runs away on any input)."""
        self.probe = False
        self.load(policy_set, data)

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        engine = guarded("starting", self._regorus.Engine)
        for ext_name, (arity, function) in extensions().items():
            engine.add_extension(ext_name, arity, function)
        guarded("loading its helpers", lambda: engine.add_policy(EXACT_MODULE_PATH, EXACT_MODULE))
        parsed: list[tuple[PolicyModule, ParsedModule]] = []
        loaded: list[str] = []  # what the engine was given, for the probe's cache key
        sources = [
            (
                module,
                module.parsed
                or parse_rego(
                    module.path, module.engine_text or module.text, v0=module.rego_version is RegoVersion.V0
                ),
            )
            for module in policy_set.modules
        ]
        facts, exact = _rewrite_plan(sources)
        for (module, source), arithmetic in zip(sources, exact, strict=True):
            v0 = module.rego_version is RegoVersion.V0
            text = engine_text(module.path, source, arithmetic=arithmetic, facts=facts)
            loaded += [module.path, module.rego_version.value, text]
            engine.set_rego_v0(v0)
            try:
                _add_policy(engine, module.path, text)
            except BackendError:
                raise
            except Exception as exc:  # regorus raises RuntimeError/ValueError with a diagnostic
                raise _load_error(exc, module) from None
            parsed.append((module, source))
        engine.set_rego_v0(False)
        data_json = json.dumps(data)
        _number_texts(policy_set, data_json)
        try:
            guarded("loading the policy data", lambda: engine.add_data_json(data_json))
        except BackendError:
            raise
        except Exception as exc:
            raise PolicyLoadError(
                f"the policy data was rejected: {split_engine_error(str(exc))[0]}"
            ) from None
        try:  # the first query analyses every module: unsafe variables, conflicts, recursion
            guarded("checking the policies", lambda: engine.eval_query("true"))
        except BackendError:
            raise
        except Exception as exc:
            raise _load_error(exc) from None
        _check_functions(parsed)
        if self.probe:
            once_clean("probe", [*loaded, data_json], lambda: _probe(engine, parsed))
        self._engine = engine
        rules: dict[str, list[str]] = {}
        stages: dict[tuple[str, str], set[str]] = {}
        for rule in policy_set.rules:
            rules.setdefault(rule.package, [])
            if rule.name not in rules[rule.package]:
                rules[rule.package].append(rule.name)
            stages.setdefault((rule.package, rule.name), set()).update(s.value for s in rule.stages)
        self._rules = {package: tuple(names) for package, names in rules.items()}
        self._stages = {key: frozenset(names) for key, names in stages.items()}
        self._always_defined = _always_defined(parsed)
        self._queries = {}

    def _require(self) -> Any:
        if self._engine is None:
            raise BackendError("the embedded backend was used before a policy set was loaded")
        return self._engine

    def _query(self, packages: tuple[str, ...], stage: str | None) -> tuple[str, list[tuple[str, str, bool]]]:
        """One query whose value holds each wanted rule's value.

        Given the input's stage, only the rules whose METADATA stages include it are asked for:
        the others are skipped at that stage without reading their value, and each rule the
        engine evaluates costs it several microseconds even when its body fails at once.

        A rule every definition of which is ``name contains ...`` is always defined (an empty
        set at worst) and is asked for directly; any other rule may be undefined, which would
        make the whole object undefined, so its value is wrapped in a 0- or 1-element array.
        The wrapper costs the engine a comprehension per rule, hence the distinction.
        """
        cached = self._queries.get((packages, stage))
        if cached is not None:
            return cached
        keys: list[tuple[str, str, bool]] = []
        fields: list[str] = []
        for package in packages:
            for name in self._rules.get(package, ()):
                if stage is not None and stage not in self._stages.get((package, name), (stage,)):
                    continue
                direct = (package, name) in self._always_defined
                keys.append((package, name, direct))
                path = f"data.{package}.{name}"
                value = path if direct else f"[__v | __v := {path}]"
                fields.append(f"{json.dumps(f'{package}.{name}')}: {value}")
        query = "{\n" + ",\n".join(fields) + "\n}"  # one field a line: regorus limits line width
        self._queries[(packages, stage)] = (query, keys)
        return query, keys

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        engine = self._require()
        self._set_input(engine, input_doc)
        return self._values(engine, input_doc.get("stage"), packages)

    def evaluate_json(
        self,
        input_json: str,
        stage: str | None,
        packages: tuple[str, ...],
        input_doc: Mapping[str, Any] | None = None,
    ) -> PackageValues:
        engine = self._require()
        self._set_input_text(engine, input_json)
        return self._values(engine, stage, packages)

    def _values(self, engine: Any, stage: Any, packages: tuple[str, ...]) -> PackageValues:
        query, keys = self._query(packages, stage if stage in _STAGES else None)
        out: PackageValues = {package: {} for package in packages}
        if not keys:
            return out
        try:
            raw = guarded("evaluating", lambda: engine.eval_query_as_json(query))
        except BackendError:
            raise
        except Exception as exc:
            message, location = split_engine_error(str(exc))
            where = f" at {location}" if location else ""
            raise BackendError(f"evaluation failed{where}: {message}") from None
        results = json.loads(raw).get("result") or []
        if not results:
            raise BackendError("evaluation returned no result for the rule values")
        values = _as_opa_reads(results[0]["expressions"][0]["value"], "evaluation failed")
        for package, name, direct in keys:
            key = f"{package}.{name}"
            if direct:
                if key not in values:
                    raise BackendError(f"evaluation returned no value for data.{key}")
                out[package][name] = values[key]
                continue
            found = values.get(key) or []
            if found:
                out[package][name] = found[0]
        return out

    def _set_input(self, engine: Any, input_doc: Mapping[str, Any]) -> None:
        self._set_input_text(engine, json.dumps(input_doc))

    def _set_input_text(self, engine: Any, text: str) -> None:
        context.start(text)  # a new evaluation: OPA's values of results are remembered afresh
        try:
            guarded("reading the input", lambda: engine.set_input_json(text))
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(
                f"the input was rejected by the engine: {split_engine_error(str(exc))[0]}"
            ) from None

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        engine = self._require()
        if input_doc is not None:
            self._set_input(engine, input_doc)
        else:
            context.start(None)
        try:
            raw = guarded(f"evaluating {path}", lambda: engine.eval_rule_as_json(path))
        except BackendError:
            raise
        except Exception as exc:
            message, location = split_engine_error(str(exc))
            where = f" at {location}" if location else ""
            raise BackendError(f"{path} failed{where}: {message}") from None
        value = json.loads(raw)
        return UNDEFINED if value == "<undefined>" else _as_opa_reads(value, f"{path} failed")

    @property
    def engine(self) -> Any:
        """The loaded regorus engine (``govern test`` uses it for coverage and prints)."""
        return self._require()


def _rewrite_plan(sources: list[tuple[PolicyModule, ParsedModule]]) -> tuple[str, list[bool]]:
    """The facts of the policy set, and which modules compute as OPA does (else natively).

    The built-in library's arithmetic is exact by construction (its fixed-point helpers), pinned
    on both engines by the conformance suite: only user policies are rewritten, and the shared
    helpers (``govern.lib``) too when a user policy may pass them a result."""
    facts = set_facts(
        [source for module, source in sources if not module.builtin],
        [source for module, source in sources if module.builtin and source.package == LIBRARY_PACKAGE],
    )
    exact_library = library_takes_results(facts)
    exact = [not m.builtin or (exact_library and s.package == LIBRARY_PACKAGE) for m, s in sources]
    return facts, exact


def _as_opa_reads(value: Any, failed: str) -> Any:
    """The engine's value with its arithmetic results as OPA's output reads them
    (:func:`.exact.opa_values`); where that cannot be told, the evaluation failed."""
    try:
        return opa_values(value)
    except ValueError as exc:  # PrecisionLimit
        raise BackendError(f"{failed}: {exc}") from None


def _eval_rule(engine: Any, path: str) -> None:
    guarded("checking the policies", lambda: engine.eval_rule(path))


def _add_policy(engine: Any, path: str, text: str) -> None:
    guarded(f"loading {path}", lambda: engine.add_policy(path, text))


def _load_error(exc: BaseException, module: PolicyModule | None = None) -> PolicyLoadError:
    message, location = split_engine_error(str(exc))
    if location is None and module is not None:
        location = Location(module.path)
    v1 = module is None or module.rego_version is RegoVersion.V1
    hint = _V0_HINT if v1 and any(marker in message for marker in _V0_MARKERS) else None
    return PolicyLoadError(message, location, hint)


def _check_functions(parsed: Iterable[tuple[PolicyModule, ParsedModule]]) -> None:
    """Every called function is a built-in, an extension or a function of the policy set."""
    items = [(module, module_facts(source)) for module, source in parsed]
    defined: set[str] = set()
    for module, facts in items:
        defined.update(f"data.{module.package}.{name}" for name in facts.functions)
    unresolved: list[tuple[PolicyModule, str, int, int]] = []
    for module, facts in items:
        for name, line, col in facts.calls:
            first, _, rest = name.partition(".")
            candidates = {name, f"data.{module.package}.{name}"}
            if first in facts.imports:
                candidates.add(f"{facts.imports[first]}.{rest}" if rest else facts.imports[first])
            if not candidates & defined:
                unresolved.append((module, name, line, col))
    known = builtin_names(sorted({name for _, name, _, _ in unresolved}), _is_builtin)
    for module, name, line, col in unresolved:
        if not known[name]:
            raise PolicyLoadError(
                f"unknown function {name!r} (column {col}): not a built-in and not defined "
                "by any policy in the set",
                Location(module.path, line),
            )


def _probe(engine: Any, parsed: list[tuple[PolicyModule, ParsedModule]]) -> None:
    """Evaluate each package once on an empty input: what regorus finds only when it evaluates
    (a variable that is neither bound nor a rule, ``msg := x``) is a load error, as in OPA.
    Other errors (a built-in failing on the empty input) are for evaluation to report."""
    guarded("checking the policies", lambda: engine.set_input_json("{}"))
    by_package: dict[str, list[tuple[PolicyModule, ParsedModule]]] = {}
    for module, source in parsed:
        if not module.is_test:
            by_package.setdefault(module.package, []).append((module, source))
    for package, items in by_package.items():
        names = sorted({name for _, source in items for name in module_facts(source).rule_names})
        for path in (f"data.{package}.{name}" for name in names):
            try:
                _eval_rule(engine, path)
            except BackendError:
                raise
            except Exception as exc:
                text = str(exc)
                if not any(marker in text for marker in _STATIC_MARKERS):
                    continue
                raise _static_error(text, items) from None


def _always_defined(parsed: Iterable[tuple[PolicyModule, ParsedModule]]) -> frozenset[tuple[str, str]]:
    """(package, rule) pairs whose every definition is ``name contains key``: multi-value rules,
    whose value is a set, empty when no body holds, and so never undefined."""
    heads: dict[tuple[str, str], set[str]] = {}
    packages: set[str] = set()
    for module, source in parsed:
        if module.is_test:
            continue
        packages.add(module.package)
        for name, shape in module_facts(source).head_shapes:
            heads.setdefault((module.package, name), set()).add(shape)
    return frozenset(
        (package, name)
        for (package, name), shapes in heads.items()
        if shapes == {"Set/Var"}
        # a package nested under the rule's path would merge into its value
        and not any(p == f"{package}.{name}" or p.startswith(f"{package}.{name}.") for p in packages)
    )


def _static_error(text: str, items: list[tuple[PolicyModule, ParsedModule]]) -> PolicyLoadError:
    message, location = split_engine_error(text)
    if location is not None:
        return PolicyLoadError(message, location)
    match = _UNSAFE_VAR.search(text)
    if match is not None:
        for module, source in items:
            for node in iter_spanned(source.ast.get("rules", [])):
                if node.kind == "Var" and node.body.get("value") == match.group("name"):
                    return PolicyLoadError(
                        f"var {match.group('name')} is unsafe (column {node.col})",
                        Location(module.path, node.line),
                    )
    return PolicyLoadError(message, Location(items[0][0].path))

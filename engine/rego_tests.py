"""Rego unit tests (``test_*`` rules), run the way ``opa test`` runs them.

A test passes when its rule is true, fails when it is false or undefined, errors when evaluation
raises (or when a ``test_`` rule is a function), and is skipped when it is named ``todo_test_*``.
Data files named ``data.json``/``data.yaml`` beside the policies are loaded at their directory's
path, as ``opa test`` loads them; ``--data FILE`` adds more at the root. Coverage (embedded engine)
comes from regorus' own line coverage, in OPA's report shape.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .backends import UNDEFINED, Backend
from .errors import BackendError, ConfigError, Location, PolicyLoadError
from .policyset import PolicyModule, make_policy_set

if TYPE_CHECKING:
    from .rego_ast import ParsedModule

__all__ = [
    "TestOutcome",
    "TestReport",
    "TestResult",
    "coverage_report",
    "discover_data",
    "ignored",
    "merge_data",
    "run_tests",
]

_DATA_FILES = ("data.json", "data.yaml", "data.yml")


class TestOutcome(StrEnum):
    __test__ = False

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TestResult:
    __test__ = False

    package: str
    name: str
    file: str
    line: int
    outcome: TestOutcome
    message: str
    seconds: float
    #: For a failure on the embedded engine: the expression that failed (file:line: text).
    trace: tuple[str, ...] = ()
    #: What ``print()`` wrote during the test (embedded engine, with ``explain``).
    notes: tuple[str, ...] = ()
    #: The rule queried, when it differs from ``name`` (a duplicate test, renamed for the run).
    rule: str = ""

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.rule or self.name}"


@dataclass(frozen=True)
class TestReport:
    __test__ = False

    results: tuple[TestResult, ...]
    coverage: dict[str, Any] | None = field(default=None)

    def count(self, outcome: TestOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        ran = [r for r in self.results if r.outcome is not TestOutcome.SKIPPED]
        return bool(ran) and all(r.outcome is TestOutcome.PASS for r in ran)


def ignored(path: Path, patterns: Iterable[str], root: Path | None = None) -> bool:
    """Whether ``--ignore`` patterns exclude ``path`` (by any of its names, or relative path)."""
    names = list(path.parts)
    relative = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)
    return any(
        fnmatch.fnmatch(relative, p) or any(fnmatch.fnmatch(name, p) for name in names) for p in patterns
    )


def _read_data_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"cannot read data file: {exc}", Location(str(path))) from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(f"invalid JSON: {exc.msg}", Location(str(path), exc.lineno)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyLoadError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", Location(str(path), line)
        ) from None


def merge_data(target: dict[str, Any], prefix: tuple[str, ...], value: Any, source: str) -> None:
    """Put ``value`` at ``prefix`` in ``target``; objects merge, anything else may not collide."""
    node = target
    for part in prefix[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(
                f"data path {'.'.join(prefix)} collides with a non-object", Location(source)
            )
        node = child
    if not prefix:
        if not isinstance(value, dict):
            raise PolicyLoadError("a data file at the root must hold an object", Location(source))
        for key, item in value.items():
            merge_data(target, (str(key),), item, source)
        return
    key = prefix[-1]
    if key in node and isinstance(node[key], dict) and isinstance(value, dict):
        for sub, item in value.items():
            merge_data(node[key], (str(sub),), item, source)
    elif key in node:
        raise PolicyLoadError(f"data.{'.'.join(prefix)} is defined twice", Location(source))
    else:
        node[key] = value


def discover_data(root: Path, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """``data.json``/``data.yaml`` under ``root``, each at its directory's path (as ``opa test``)."""
    out: dict[str, Any] = {}
    patterns = list(ignore)
    if root.is_file():
        return out
    for path in sorted(root.rglob("*")):
        if path.name not in _DATA_FILES or not path.is_file() or ignored(path, patterns, root):
            continue
        prefix = path.parent.relative_to(root).parts
        merge_data(out, tuple(prefix), _read_data_file(path), str(path))
    return out


def data_file(path: Path) -> dict[str, Any]:
    """A ``--data`` file (JSON or YAML) loaded at the root; a folder is walked like policies."""
    if path.is_dir():
        return discover_data(path)
    if not path.is_file():
        raise ConfigError(f"--data {path} does not exist")
    out: dict[str, Any] = {}
    merge_data(out, (), _read_data_file(path), str(path))
    return out


def _test_bodies(module: PolicyModule) -> dict[str, list[tuple[int, str]]]:
    """Each test's body statements as (line, text), for the failing-expression trace."""
    from .rego_ast import as_spanned, parse_rego
    from .spec import RegoVersion

    parsed = parse_rego(
        module.path, module.engine_text or module.text, v0=module.rego_version is RegoVersion.V0
    )
    data = parsed.text.encode("utf-8")
    out: dict[str, list[tuple[int, str]]] = {}
    for rule in parsed.ast.get("rules", []):
        node = as_spanned(rule)
        head = as_spanned(node.body.get("head")) if node is not None else None
        if node is None or head is None:
            continue
        ref = as_spanned(head.body.get("refr"))
        name = ref.body.get("value") if ref is not None and ref.kind == "Var" else None
        if not isinstance(name, str) or not name.startswith("test_"):
            continue
        statements: list[tuple[int, str]] = []
        for body in node.body.get("bodies") or []:
            query = body.get("query") if isinstance(body, dict) else None
            for stmt in (query or {}).get("stmts", []):
                s = as_spanned(stmt)
                if s is not None:
                    statements.append((s.line, data[s.start : s.end].decode("utf-8", "replace")))
        out.setdefault(name, []).extend(statements)
    return out


def _failing_expression(
    engine: Any, module: PolicyModule, statements: list[tuple[int, str]]
) -> tuple[str, ...]:
    """The statement that failed: the last one evaluated before the first one never reached."""
    try:
        report = json.loads(engine.get_coverage_report_as_json())
    except Exception:  # coverage is a diagnostic aid; without it there is no trace
        return ()
    covered: set[int] = set()
    for item in report.get("files", []):
        if item.get("path") == module.path:
            covered.update(int(n) for n in item.get("covered", []))
    if not statements:
        return ()
    failing = statements[-1]
    for index, (line, _) in enumerate(statements):
        if line not in covered:
            failing = statements[index - 1] if index else statements[0]
            break
    line, text = failing
    return (f"{module.path}:{line}: Fail {' '.join(text.split())}",)


def run_tests(
    modules: Iterable[PolicyModule],
    backend: Backend,
    *,
    data: dict[str, Any] | None = None,
    run: str | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    explain: bool = False,
    coverage: bool = False,
) -> TestReport:
    """Load ``modules`` into ``backend`` and evaluate every test rule of the modules.

    As in ``opa test``, each definition of a test name in a package is its own test: the second
    ``test_x`` of a package is reported as ``test_x#01`` (numbered in file-path order) and runs
    alone, under a name of its own in the text loaded for the run.
    """
    from .nonstrict import enabled

    strict = getattr(backend, "strict_builtin_errors", None)
    if strict is not None:  # an OPA server: query as opa test does, built-ins non-strict
        backend.strict_builtin_errors = False  # type: ignore[attr-defined]
    try:
        with enabled():
            return _run_tests(
                modules,
                backend,
                data=data,
                run=run,
                on_result=on_result,
                explain=explain,
                coverage=coverage,
            )
    finally:
        if strict is not None:
            backend.strict_builtin_errors = strict  # type: ignore[attr-defined]


def _run_tests(
    modules: Iterable[PolicyModule],
    backend: Backend,
    *,
    data: dict[str, Any] | None = None,
    run: str | None = None,
    on_result: Callable[[TestResult], None] | None = None,
    explain: bool = False,
    coverage: bool = False,
) -> TestReport:
    module_list, plans = _prepare(list(modules), backend)
    backend.load(make_policy_set(module_list), data or {})
    nonstrict = _NonStrict(module_list) if _is_embedded(backend) else None
    engine = _instrument(backend, explain or coverage)
    pattern = re.compile(run) if run else None
    results: list[TestResult] = []
    where: dict[int, tuple[PolicyModule, str, str, int]] = {}
    pending: list[int] = []
    bodies: dict[str, dict[str, list[tuple[int, str]]]] = {}
    batch = {} if engine is not None else backend.evaluate_rules(_test_paths(module_list, plans, pattern))
    for module in module_list:
        entries = [(n, rule, line, TestOutcome.PASS) for n, rule, line in plans.get(module.path, ())]
        entries += [(n, n, line, TestOutcome.SKIPPED) for n, line in module.todos]
        for name, rule, line, kind in sorted(entries, key=lambda e: e[2]):
            if pattern is not None and not pattern.search(f"data.{module.package}.{name}"):
                continue
            if kind is TestOutcome.SKIPPED or name in module.test_functions:
                result = TestResult(
                    package=module.package,
                    name=name,
                    file=module.path,
                    line=line,
                    outcome=kind if kind is TestOutcome.SKIPPED else TestOutcome.ERROR,
                    message="" if kind is TestOutcome.SKIPPED else "a test rule must not take arguments",
                    seconds=0.0,
                )
            else:
                result = _run_one(backend, engine, module, name, rule, line, explain, bodies, batch)
                if nonstrict is not None and nonstrict.collect(result):
                    where[len(results)] = (module, name, rule, line)
                    pending.append(len(results))
                    results.append(result)
                    continue
            results.append(result)
            if on_result is not None:
                on_result(result)
    deferred = list(pending)
    rounds = 0
    while nonstrict is not None and pending and nonstrict.changed and rounds < _MAX_ROUNDS:
        rounds += 1
        nonstrict.changed = False
        backend.load(make_policy_set(nonstrict.modules()), data or {})
        engine = _instrument(backend, explain or coverage)
        still: list[int] = []
        for index in pending:
            module, name, rule, line = where[index]
            results[index] = _run_one(backend, engine, module, name, rule, line, explain, bodies)
            if nonstrict.collect(results[index]):
                still.append(index)
        pending = still
    for index in deferred:
        if on_result is not None:
            on_result(results[index])
    report_coverage = None
    if engine is not None and coverage:
        if explain or rounds:  # coverage was cleared per test or reloaded: run every test again
            engine.clear_coverage_data()
            for result in results:
                if result.outcome is not TestOutcome.SKIPPED:
                    _evaluate(backend, result.path)
        builtin = {m.path for m in module_list if m.builtin}
        report_coverage = coverage_report(
            json.loads(engine.get_coverage_report_as_json()), skip=builtin.__contains__
        )
    return TestReport(results=tuple(results), coverage=report_coverage)


#: Reloads for non-strict built-in calls found in one run (each round fixes every call found).
_MAX_ROUNDS = 10


def _instrument(backend: Backend, on: bool) -> Any:
    """The embedded engine with coverage and print gathering on, for traces and coverage."""
    engine = getattr(backend, "engine", None) if on else None
    if engine is not None:
        engine.set_enable_coverage(True)
        engine.set_gather_prints(True)
    return engine


def _run_one(
    backend: Backend,
    engine: Any,
    module: PolicyModule,
    name: str,
    rule: str,
    line: int,
    explain: bool,
    bodies: dict[str, dict[str, list[tuple[int, str]]]],
    batch: dict[str, Any] | None = None,
) -> TestResult:
    started = time.perf_counter()
    trace: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if engine is not None and explain:
        engine.clear_coverage_data()
    outcome, message = _evaluate(backend, f"data.{module.package}.{rule}", batch)
    if rule != name:  # the message names the test as the report does
        message = message.replace(f"data.{module.package}.{rule} ", f"data.{module.package}.{name} ")
    if engine is not None:
        notes = tuple(str(printed) for printed in engine.take_prints())
    if outcome is TestOutcome.FAIL and engine is not None and explain:
        if module.path not in bodies:
            bodies[module.path] = _test_bodies(module)
        trace = _failing_expression(engine, module, bodies[module.path].get(rule, []))
    return TestResult(
        package=module.package,
        name=name,
        file=module.path,
        line=line,
        outcome=outcome,
        message=message,
        seconds=time.perf_counter() - started,
        trace=trace,
        notes=notes,
        rule=rule if rule != name else "",
    )


def _drop_identical_function_copies(modules: list[PolicyModule]) -> list[PolicyModule]:
    """Modules whose functions repeat, word for word, one of an earlier file of their package
    (a helper copied into several folders) without the copy, for the embedded engine.

    Identical definitions give identical values, so OPA's answer is unchanged; regorus fails
    with "binding plan not found" when one function's definitions are spread over files."""
    from dataclasses import replace

    seen: set[tuple[str, bytes]] = set()
    out: list[PolicyModule] = []
    for module in modules:
        parsed = module.parsed
        if parsed is None or module.builtin:
            out.append(module)
            continue
        data = parsed.text.encode("utf-8")
        cuts: list[tuple[int, int]] = []
        for start, end in _function_spans(parsed):
            key = (module.package, data[start:end])
            if key in seen:
                cuts.append((start, end))
            seen.add(key)
        if not cuts:
            out.append(module)
            continue
        for start, end in sorted(cuts, reverse=True):  # blanked in place: no line or column moves
            blank = bytes(c if c == ord("\n") else ord(" ") for c in data[start:end])
            data = data[:start] + blank + data[end:]
        # blanking moves no offset: the other rules' spans stay valid, no new parse is needed
        kept = [r for r in parsed.ast.get("rules", []) if not _is_cut(r, cuts)]
        reparsed = replace(parsed, text=data.decode("utf-8"), tree={**parsed.ast, "rules": kept})
        out.append(replace(module, engine_text=reparsed.text, parsed=reparsed))
    return out


def _is_cut(rule: Any, cuts: list[tuple[int, int]]) -> bool:
    from .rego_ast import as_spanned

    node = as_spanned(rule)
    return node is not None and (node.start, node.end) in cuts


def _prepare(
    modules: list[PolicyModule], backend: Backend
) -> tuple[list[PolicyModule], dict[str, list[tuple[str, str, int]]]]:
    module_list, plans = _separate_duplicate_tests(modules)
    if _is_embedded(backend):
        module_list = _drop_identical_function_copies(module_list)
    return module_list, plans


def _is_embedded(backend: Backend) -> bool:
    from .backends.embedded import EmbeddedBackend

    return isinstance(backend, EmbeddedBackend)


class _NonStrict:
    """The built-in calls that failed in a test run, made non-strict (``nonstrict``).

    A test whose built-in failed is rerun after the calls found so far are rewritten and the
    policy set reloaded once per round. The rewritten calls stay for the rest of the run: they
    are what ``opa test`` evaluates for every test."""

    def __init__(self, modules: list[PolicyModule]) -> None:
        self.current = {m.path: m for m in modules}
        self.order = [m.path for m in modules]
        self.rewritten: set[tuple[str, int, int]] = set()
        self.changed = False

    def modules(self) -> list[PolicyModule]:
        return [self.current[p] for p in self.order]

    def collect(self, result: TestResult) -> bool:
        """Whether ``result`` is a built-in's error whose call is (now) rewritten: rerun it."""
        from dataclasses import replace

        from .backends.embedded import _is_builtin
        from .nonstrict import call_at, error_place
        from .rego_ast import parse_rego
        from .spec import RegoVersion

        if result.outcome is not TestOutcome.ERROR or NON_STRICT_NOTE not in result.message:
            return False
        failing = max((p for p in self.current if f"{p}:" in result.message), key=len, default=None)
        place = error_place(result.message)
        if failing is None or place is None:
            return False
        if (failing, *place) in self.rewritten:
            return True
        module = self.current[failing]
        parsed = module.parsed or parse_rego(
            module.path, module.engine_text or module.text, v0=module.rego_version is RegoVersion.V0
        )
        site = call_at(parsed.text, parsed.ast, result.message, _is_builtin)
        if site is None:
            return False
        text, _ = site
        # copies of the module (a library vendored into several folders) change together:
        # regorus cannot bind a function whose definitions in one package differ by file
        for other, copy in list(self.current.items()):
            same = other == failing or (
                copy.package == module.package and copy.parsed is not None and copy.parsed.text == parsed.text
            )
            if same:
                reparsed = parse_rego(other, text, v0=copy.rego_version is RegoVersion.V0)
                self.current[other] = replace(copy, engine_text=reparsed.text, parsed=reparsed)
                self.rewritten.add((other, *place))
        self.changed = True
        return True


def _test_heads(module: PolicyModule) -> list[tuple[str, int, int]]:
    """Every ``test_*`` rule definition of a module: (name, line, column of the name), cached by
    the module's text (the syntax tree is parsed only when the cache misses)."""
    from .policy_cache import cached
    from .rego_ast import as_spanned

    parsed = module.parsed
    if parsed is None:
        return [(name, line, 0) for name, line in module.tests]
    names = {n for n, _ in module.tests}

    def compute() -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = []
        for rule in parsed.ast.get("rules", []):
            node = as_spanned(rule)
            head = as_spanned(node.body.get("head")) if node is not None and node.kind == "Spec" else None
            ref = as_spanned(head.body.get("refr")) if head is not None else None
            name = ref.body.get("value") if ref is not None and ref.kind == "Var" else None
            if ref is not None and isinstance(name, str) and name in names:
                out.append((name, ref.line, ref.col))
        return out

    parts = (parsed.text, "v0" if parsed.v0 else "v1", *sorted(names))
    return cached("test-heads", parts, compute, _as_json_rows, _heads_from_json)


def _as_json_rows(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(row) for row in rows]


def _heads_from_json(value: Any) -> list[tuple[str, int, int]]:
    if not isinstance(value, list):
        raise TypeError("not a list of test heads")
    out: list[tuple[str, int, int]] = []
    for row in value:
        name, line, col = row
        if not (isinstance(name, str) and isinstance(line, int) and isinstance(col, int)):
            raise TypeError("not a test head")
        out.append((name, line, col))
    return out


def _function_spans(parsed: ParsedModule) -> list[tuple[int, int]]:
    """The source spans of a parsed module's function definitions, cached by its text."""
    from .policy_cache import cached
    from .rego_ast import as_spanned

    def compute() -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for rule in parsed.ast.get("rules", []):
            node = as_spanned(rule)
            head = as_spanned(node.body.get("head")) if node is not None and node.kind == "Spec" else None
            if node is not None and head is not None and head.kind == "Func":
                out.append((node.start, node.end))
        return out

    def decode(value: Any) -> list[tuple[int, int]]:
        if not (isinstance(value, list) and all(isinstance(v, list) and len(v) == 2 for v in value)):
            raise TypeError("not a list of spans")
        return [(int(a), int(b)) for a, b in value]

    parts = (parsed.text, "v0" if parsed.v0 else "v1")
    return cached("function-spans", parts, compute, _as_json_rows, decode)


def _separate_duplicate_tests(
    modules: list[PolicyModule],
) -> tuple[list[PolicyModule], dict[str, list[tuple[str, str, int]]]]:
    """The modules to load, and each module's tests as (reported name, rule queried, line).

    ``opa test`` renames the second and later definitions of a test in a package
    (``test_x#01``, ``test_x#02``) and runs each alone; regorus (and an OPA server) would merge
    them into one rule. Each such definition gets a name of its own in the text loaded for the
    run; its reported name is OPA's.
    """
    from dataclasses import replace

    from .rego_ast import parse_rego
    from .spec import RegoVersion

    count: dict[tuple[str, str], int] = {}
    plans: dict[str, list[tuple[str, str, int]]] = {}
    renames: dict[str, list[tuple[int, int, str, str]]] = {}
    taken = {(m.package, n) for m in modules for n, _ in m.tests}
    for module in sorted(modules, key=lambda m: m.path):
        plan = plans.setdefault(module.path, [])
        for name, line, col in _test_heads(module):
            k = count.get((module.package, name), 0)
            count[(module.package, name)] = k + 1
            if k == 0 or name in module.test_functions or not col:
                plan.append((name, name, line))
                continue
            rule = f"{name}__{k:02d}"
            while (module.package, rule) in taken:
                rule += "_"
            taken.add((module.package, rule))
            plan.append((f"{name}#{k:02d}", rule, line))
            renames.setdefault(module.path, []).append((line, col, name, rule))
    out: list[PolicyModule] = []
    for module in modules:
        edits = renames.get(module.path)
        if not edits:
            out.append(module)
            continue
        text = _rename_heads(module.text, edits)
        if text is None:  # the head is not where the parse put it: run the definitions merged
            plans[module.path] = [(n, n, line) for n, line in module.tests]
            out.append(module)
            continue
        parsed = parse_rego(module.path, text, v0=module.rego_version is RegoVersion.V0)
        engine_text = parsed.text if parsed.text != text else None
        out.append(replace(module, text=text, engine_text=engine_text, parsed=parsed))
    return out, plans


def _rename_heads(text: str, edits: list[tuple[int, int, str, str]]) -> str | None:
    """``text`` with each (line, column, name, new name) head renamed; None if one is not found.

    Repairs of the engine's text keep lines but may move columns, so the name is looked for at
    its column first, then as the first word of that line."""
    lines = text.split("\n")
    for line, col, name, new in sorted(edits, reverse=True):
        if not 0 < line <= len(lines):
            return None
        current = lines[line - 1]
        at = col - 1
        if current[at : at + len(name)] != name:
            match = re.match(r"\s*" + re.escape(name) + r"\b", current)
            if match is None:
                return None
            at = match.end() - len(name)
        lines[line - 1] = current[:at] + new + current[at + len(name) :]
    return "\n".join(lines)


#: Engine errors that are not a built-in's: ``opa test`` reports these as ERROR as well.
_ENGINE_ERRORS = (
    "conflict",
    "multiple",
    "recursion",
    "unsafe",
    "crashed",
    "timed out",
    "deadline",
    "unreachable",
    "binding plan",
)

#: Said of an error that is (or may be) a built-in's: ``opa test`` does not raise those.
NON_STRICT_NOTE = (
    "; opa test evaluates built-ins non-strictly (a failing built-in makes its expression "
    "undefined); this error names no built-in call of the policies that govern test can make "
    "non-strict, so the test is reported as an error"
)


def _test_paths(
    modules: list[PolicyModule],
    plans: Mapping[str, Iterable[tuple[str, str, int]]],
    pattern: re.Pattern[str] | None,
) -> list[str]:
    """The test rules ``run_tests`` evaluates (by the name each is loaded under), for a backend
    that answers them in batches."""
    paths = []
    for module in modules:
        for name, rule, _ in plans.get(module.path, ()):
            shown = f"data.{module.package}.{name}"
            if name not in module.test_functions and (pattern is None or pattern.search(shown)):
                paths.append(f"data.{module.package}.{rule}")
    return paths


def _evaluate(backend: Backend, path: str, batch: dict[str, Any] | None = None) -> tuple[TestOutcome, str]:
    try:
        if batch is not None and path in batch:
            value = batch.pop(path)
            if isinstance(value, BackendError):
                raise value
        else:
            value = backend.evaluate_rule(None, path)
    except BackendError as exc:
        text = str(exc)
        if not any(marker in text.lower() for marker in _ENGINE_ERRORS):
            text += NON_STRICT_NOTE
        return TestOutcome.ERROR, text
    if value is True:
        return TestOutcome.PASS, ""
    if value is UNDEFINED:
        return TestOutcome.FAIL, "undefined"
    return TestOutcome.FAIL, f"evaluated to {json.dumps(value)}"


def _ranges(lines: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in sorted(set(lines)):
        if out and out[-1]["end"]["row"] == line - 1:
            out[-1]["end"]["row"] = line
        else:
            out.append({"start": {"row": line}, "end": {"row": line}})
    return out


def _percent(covered: int, missed: int) -> float:
    total = covered + missed
    return round(100.0 * covered / total, 2) if total else 100.0


def coverage_report(raw: Mapping[str, Any], *, skip: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """regorus' line coverage in the shape of ``opa test --coverage``'s report."""
    files: dict[str, Any] = {}
    total_covered = total_missed = 0
    for item in raw.get("files", []):
        path = str(item.get("path"))
        if path.startswith("govern/internal/") or (skip is not None and skip(path)):
            continue
        covered = [int(n) for n in item.get("covered", [])]
        missed = [int(n) for n in item.get("not_covered", []) if int(n) not in set(covered)]
        entry: dict[str, Any] = {}
        if covered:
            entry["covered"] = _ranges(covered)
        if missed:
            entry["not_covered"] = _ranges(missed)
        entry["covered_lines"] = len(set(covered))
        entry["not_covered_lines"] = len(set(missed))
        entry["coverage"] = _percent(len(set(covered)), len(set(missed)))
        files[path] = entry
        total_covered += len(set(covered))
        total_missed += len(set(missed))
    return {
        "files": files,
        "covered_lines": total_covered,
        "not_covered_lines": total_missed,
        "coverage": _percent(total_covered, total_missed),
    }

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
from typing import Any

import yaml

from .backends import UNDEFINED, Backend
from .errors import BackendError, ConfigError, Location, PolicyLoadError
from .policyset import PolicyModule, make_policy_set

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

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


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
    """Load ``modules`` into ``backend`` and evaluate every test rule of the modules."""
    module_list = list(modules)
    backend.load(make_policy_set(module_list), data or {})
    engine = getattr(backend, "engine", None) if (explain or coverage) else None
    if engine is not None:
        engine.set_enable_coverage(True)
        engine.set_gather_prints(True)
    pattern = re.compile(run) if run else None
    results: list[TestResult] = []
    bodies: dict[str, dict[str, list[tuple[int, str]]]] = {}
    batch = {} if engine is not None else backend.evaluate_rules(_test_paths(module_list, pattern))
    for module in module_list:
        entries = [(n, line, TestOutcome.PASS) for n, line in module.tests]
        entries += [(n, line, TestOutcome.SKIPPED) for n, line in module.todos]
        for name, line, kind in sorted(entries, key=lambda e: e[1]):
            if pattern is not None and not pattern.search(f"data.{module.package}.{name}"):
                continue
            started = time.perf_counter()
            trace: tuple[str, ...] = ()
            notes: tuple[str, ...] = ()
            if kind is TestOutcome.SKIPPED:
                outcome, message = TestOutcome.SKIPPED, ""
            elif name in module.test_functions:
                outcome, message = TestOutcome.ERROR, "a test rule must not take arguments"
            else:
                if engine is not None and explain:
                    engine.clear_coverage_data()
                outcome, message = _evaluate(backend, f"data.{module.package}.{name}", batch)
                if engine is not None:
                    notes = tuple(str(line) for line in engine.take_prints())
                if outcome is TestOutcome.FAIL and engine is not None and explain:
                    if module.path not in bodies:
                        bodies[module.path] = _test_bodies(module)
                    trace = _failing_expression(engine, module, bodies[module.path].get(name, []))
            result = TestResult(
                package=module.package,
                name=name,
                file=module.path,
                line=line,
                outcome=outcome,
                message=message,
                seconds=time.perf_counter() - started,
                trace=trace,
                notes=notes,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    report_coverage = None
    if engine is not None and coverage:
        if explain:  # coverage was cleared per test: run every test once more for the report
            engine.clear_coverage_data()
            for result in results:
                if result.outcome is not TestOutcome.SKIPPED:
                    _evaluate(backend, result.path)
        builtin = {m.path for m in module_list if m.builtin}
        report_coverage = coverage_report(
            json.loads(engine.get_coverage_report_as_json()), skip=builtin.__contains__
        )
    return TestReport(results=tuple(results), coverage=report_coverage)


#: Engine errors ``opa test`` reports as ERROR; a failing built-in is undefined there (a FAIL).
_ERROR_MARKERS = (
    "conflict",
    "multiple",
    "recursion",
    "unsafe",
    "crashed",
    "timed out",
    "deadline",
    "unreachable",
)


def _test_paths(modules: list[PolicyModule], pattern: re.Pattern[str] | None) -> list[str]:
    """The test rules ``run_tests`` evaluates, for a backend that answers them in batches."""
    paths = []
    for module in modules:
        for name, _ in module.tests:
            path = f"data.{module.package}.{name}"
            if name not in module.test_functions and (pattern is None or pattern.search(path)):
                paths.append(path)
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
        if any(marker in text.lower() for marker in _ERROR_MARKERS):
            return TestOutcome.ERROR, text
        return TestOutcome.FAIL, text
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

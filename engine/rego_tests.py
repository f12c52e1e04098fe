"""Rego unit tests (``test_*`` rules), run the way ``opa test`` runs them.

A test passes when its rule is true, fails when it is false or undefined, and errors when
evaluation raises. Teams test their own policies with ``govern test DIR``; the shipped library's
tests run with ``govern test`` alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .backends import UNDEFINED, Backend
from .errors import BackendError
from .policyset import PolicyModule, make_policy_set

__all__ = ["TestOutcome", "TestReport", "TestResult", "run_tests"]


class TestOutcome(StrEnum):
    __test__ = False

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


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


@dataclass(frozen=True)
class TestReport:
    __test__ = False

    results: tuple[TestResult, ...]

    def count(self, outcome: TestOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.outcome is TestOutcome.PASS for r in self.results)


def run_tests(
    modules: Iterable[PolicyModule],
    backend: Backend,
    *,
    data: dict[str, Any] | None = None,
    run: str | None = None,
    on_result: Callable[[TestResult], None] | None = None,
) -> TestReport:
    """Load ``modules`` into ``backend`` and evaluate every test rule of the test modules."""
    module_list = list(modules)
    backend.load(make_policy_set(module_list), data or {})
    pattern = re.compile(run) if run else None
    results: list[TestResult] = []
    for module in module_list:
        for name, line in module.tests:
            if pattern is not None and not pattern.search(f"data.{module.package}.{name}"):
                continue
            started = time.perf_counter()
            try:
                value = backend.evaluate_rule(None, f"data.{module.package}.{name}")
            except BackendError as exc:
                outcome, message = TestOutcome.ERROR, str(exc)
            else:
                if value is True:
                    outcome, message = TestOutcome.PASS, ""
                elif value is UNDEFINED:
                    outcome, message = TestOutcome.FAIL, "undefined"
                else:
                    outcome, message = TestOutcome.FAIL, f"evaluated to {value!r}"
            result = TestResult(
                package=module.package,
                name=name,
                file=module.path,
                line=line,
                outcome=outcome,
                message=message,
                seconds=time.perf_counter() - started,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return TestReport(results=tuple(results))

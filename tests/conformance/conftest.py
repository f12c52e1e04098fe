from __future__ import annotations

from collections.abc import Iterator

import pytest

from govern.engine.backends import Backend, create_backend

from .opa_server import OpaServer, shared_server, stop_shared


@pytest.fixture(scope="session")
def opa_server() -> Iterator[OpaServer]:
    """The session's real OPA server (skips without OPA, fails under CI=true)."""
    yield shared_server()
    stop_shared()


@pytest.fixture(scope="session")
def opa_backend(opa_server: OpaServer) -> Iterator[Backend]:
    backend = create_backend("opa", opa_server.url)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def embedded_backend() -> Backend:
    return create_backend("embedded")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The differential suite's tally, in every run's summary (not only under ``-s``)."""
    import sys

    module = sys.modules.get("tests.conformance.test_rego_differential")
    tally = getattr(module, "TALLY", None)
    if tally:
        terminalreporter.write_sep("-", "rego differential (embedded regorus against a real OPA)")
        terminalreporter.write_line(
            f"{sum(tally.values())} cases, {tally['agree']} agree, {tally['refused']} refused, "
            f"{tally['disagree']} disagree ({tally['both refuse']} more in modules OPA refuses as well)"
        )
        calls = getattr(module, "SPRINTF_TALLY", None)
        if calls:
            terminalreporter.write_line(
                f"of which sprintf: {sum(calls.values())} cases, {calls['agree']} agree, "
                f"{calls['refused']} refused, {calls['disagree']} disagree"
            )

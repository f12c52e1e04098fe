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

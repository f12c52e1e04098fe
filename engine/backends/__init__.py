"""Policy backends: one interface (``base.Backend``), one module per implementation."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

from ..errors import ConfigError
from .base import UNDEFINED, Backend, PackageValues, Undefined

if TYPE_CHECKING:
    from .bounded import EvalLimits

__all__ = ["UNDEFINED", "Backend", "BackendName", "PackageValues", "Undefined", "create_backend"]


class BackendName(StrEnum):
    EMBEDDED = "embedded"
    OPA = "opa"


def create_backend(
    name: str,
    opa_url: str | None = None,
    opa_mode: str | None = None,
    limits: EvalLimits | None = None,
    *,
    bounded: bool = True,
    local_opa: bool = False,
) -> Backend:
    """A backend by name; an unknown name is a configuration error, never a silent default.

    ``opa_url`` is the OPA server's URL, required by (and only used by) the ``opa`` backend.
    ``opa_mode`` is ``push`` (the default: govern writes the policies to the server) or
    ``bundle`` (the server serves a bundle from ``govern bundle build``; govern never writes and
    refuses a server holding another revision); ``$GOVERN_OPA_MODE`` when not given.
    The embedded engine runs in a worker process bounded by ``limits`` (default: 10 s and
    1 GiB per call, or GOVERN_EVAL_TIMEOUT / GOVERN_EVAL_MEMORY); ``bounded=False`` runs it in
    process, without limits. ``local_opa=True``: without a URL, the ``opa`` backend starts a
    private OPA server from ``$GOVERN_OPA_BIN`` or ``opa`` on PATH, serving the policy set as a
    bundle (``engine/backends/opa_local.py``).
    """
    try:
        choice = BackendName(name)
    except ValueError:
        options = ", ".join(b.value for b in BackendName)
        raise ConfigError(f"unknown backend {name!r}; choose one of: {options}") from None
    if choice is BackendName.EMBEDDED:
        if bounded:
            from .bounded import BoundedBackend, EvalLimits

            return BoundedBackend(limits or EvalLimits.from_env())
        from .embedded import EmbeddedBackend

        return EmbeddedBackend()
    if choice is BackendName.OPA:
        if not opa_url and local_opa:
            from .opa import OpaBackend
            from .opa_local import find_binary

            binary = find_binary()
            if binary is not None:
                return OpaBackend.local(binary)
            raise ConfigError(
                "the opa backend needs the OPA server's URL (--opa-url URL or GOVERN_OPA_URL), or an "
                "`opa` binary on PATH (or GOVERN_OPA_BIN) to start one"
            )
        if not opa_url:
            raise ConfigError("the opa backend needs the OPA server's URL: --opa-url URL or GOVERN_OPA_URL")
        from .opa import OpaBackend, OpaMode

        mode_name = opa_mode or os.environ.get("GOVERN_OPA_MODE") or OpaMode.PUSH.value
        try:
            mode = OpaMode(mode_name)
        except ValueError:
            options = ", ".join(m.value for m in OpaMode)
            raise ConfigError(f"unknown OPA mode {mode_name!r}; choose one of: {options}") from None
        return OpaBackend(opa_url, mode=mode)
    assert_never(choice)

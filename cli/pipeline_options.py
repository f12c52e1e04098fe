"""The engine's pipeline options from the shared deciding options (no typer: the check fast path
uses them too)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

if TYPE_CHECKING:
    from govern.engine.pipeline import PipelineOptions

__all__ = ["parse_as_of", "pipeline_options"]


def parse_as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


def pipeline_options(
    *,
    backend: BackendName,
    opa_url: str | None,
    policies: list[Path] | None,
    v0_compatible: bool,
    no_builtin: bool,
    params: list[str] | None,
    decision_log: Path | None,
    as_of: dt.date | None,
    command: str,
    allow_empty: bool = False,
    eval_timeout: str | None = None,
    eval_memory: str | None = None,
) -> PipelineOptions:
    """The engine's pipeline options from the shared command-line options."""
    from govern.engine.backends.bounded import EvalLimits, parse_memory, parse_timeout
    from govern.engine.pipeline import PipelineOptions
    from govern.engine.spec import PolicySource, RegoVersion

    limits = EvalLimits(
        timeout=parse_timeout(eval_timeout, "--eval-timeout") if eval_timeout else EvalLimits.timeout,
        memory=parse_memory(eval_memory, "--eval-memory") if eval_memory else EvalLimits.memory,
    )
    version = RegoVersion.V0 if v0_compatible else RegoVersion.V1
    return PipelineOptions(
        backend=backend,
        opa_url=opa_url,
        policies=tuple(PolicySource(path=p.resolve(), rego_version=version) for p in policies or []),
        builtin=not no_builtin,
        params=tuple(params or ()),
        decision_log=decision_log,
        as_of=as_of,
        labels={"command": command},
        allow_empty=allow_empty,
        limits=limits,
    )

"""Options every deciding command shares, spelled once: check, gate …, card and replay.

``-f/--format`` is the output format and ``-o/--output`` the output file on every command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

if TYPE_CHECKING:
    from govern.engine.pipeline import PipelineOptions

__all__ = [
    "AllowRootOpt",
    "AsOfOpt",
    "BackendOpt",
    "DecisionLogOpt",
    "DecisionOptions",
    "EvalMemoryOpt",
    "EvalTimeoutOpt",
    "NoBuiltinOpt",
    "OpaUrlOpt",
    "OutputOpt",
    "ParamOpt",
    "PoliciesOpt",
    "V0Opt",
    "parse_as_of",
    "pipeline_options",
]

PoliciesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--policies", "-p", help="Extra policy folder or file (repeatable), besides the spec's own."
    ),
]
V0Opt = Annotated[
    bool,
    typer.Option("--v0-compatible", help="Read the --policies files as Rego v0 (`deny[msg] { … }`)."),
]
NoBuiltinOpt = Annotated[bool, typer.Option("--no-builtin", help="Do not apply the built-in policy library.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", help="Override a policy parameter: key.path=value (JSON value). Repeatable."),
]
BackendOpt = Annotated[BackendName, typer.Option("--backend", help="Policy engine: embedded or opa.")]
OpaUrlOpt = Annotated[
    str | None,
    typer.Option("--opa-url", envvar="GOVERN_OPA_URL", help="The OPA server, for --backend opa."),
]
DecisionLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--decision-log",
        envvar="GOVERN_DECISION_LOG",
        help="Append each decision as an OPA decision-log event (JSON line) to FILE.",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Judge waiver expiry as of this date (YYYY-MM-DD). Default: today."),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the output to FILE (atomically).")
]


@dataclass(frozen=True)
class DecisionOptions:
    """The shared deciding options as one value, for commands that pass them on."""

    backend: BackendName = BackendName.EMBEDDED
    opa_url: str | None = None
    policies: list[Path] | None = None
    v0_compatible: bool = False
    no_builtin: bool = False
    params: list[str] | None = None
    decision_log: Path | None = None


AllowRootOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-root",
        help="A folder besides the spec's own that its data and policy paths may name (repeatable; "
        "also GOVERN_ALLOW_ROOT).",
    ),
]
EvalTimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--eval-timeout",
        envvar="GOVERN_EVAL_TIMEOUT",
        help="Seconds one embedded evaluation may take (default 10); beyond, the rule is an error.",
    ),
]
EvalMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--eval-memory",
        envvar="GOVERN_EVAL_MEMORY",
        help="Memory the embedded engine may use, e.g. 1GiB (the default) or 512MiB.",
    ),
]


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

"""Options every deciding command shares, spelled once: check, gate …, card and replay.

``-f/--format`` is the output format and ``-o/--output`` the output file on every command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from govern.engine.backends import BackendName

from .pipeline_options import parse_as_of, pipeline_options

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

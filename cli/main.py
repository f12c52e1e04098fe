"""The ``govern`` command: parse, call the engine, render, exit.

Exit codes: 0 pass · 1 denied (or a failed Rego test) · 2 bad input (spec, evidence, policy,
option) · 3 govern could not decide (an evaluation or collection error). Never a pass on error.
"""

from __future__ import annotations

import gc

#: Importing the engine creates tens of thousands of objects and no garbage: the collections its
#: allocations would trigger cost a cold check milliseconds for nothing. They resume after it.
_GC_THRESHOLD = gc.get_threshold()
gc.set_threshold(max(_GC_THRESHOLD[0], 100_000), *_GC_THRESHOLD[1:])
try:
    import sys
    from pathlib import Path
    from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

    from govern.engine import __version__
    from govern.engine.backends import BackendName
    from govern.engine.formats import Format

    from .check_run import StageOption, run_check
    from .common import allowed_roots as _allowed_roots
    from .common import handle_errors as _handle_errors
    from .common import stderr as _stderr
finally:
    gc.set_threshold(*_GC_THRESHOLD)

if TYPE_CHECKING:
    import typer

    from .options import (
        AllowRootOpt,
        AsOfOpt,
        BackendOpt,
        DecisionLogOpt,
        EvalMemoryOpt,
        EvalTimeoutOpt,
        NoBuiltinOpt,
        OpaUrlOpt,
        OutputOpt,
        ParamOpt,
        PoliciesOpt,
        V0Opt,
    )

P = ParamSpec("P")
R = TypeVar("R")

_APP_HELP = (
    "Policy-as-code governance for ML models.\n\n"
    "Describe a model in a YAML spec, gather evidence about it, and let Rego policies decide "
    "whether it may be registered, deployed or must be rolled back.\n\n"
    "Start with:  govern validate spec.yaml  ·  "
    "govern check spec.yaml --evidence evidence.json  ·  govern test"
)


def _typer_names() -> None:
    """Import typer, and give this module the names its command annotations use (typer reads them
    from these globals when it builds a command): the check fast path never imports typer."""
    import typer

    from . import options

    names = globals()
    names["typer"] = typer
    for name in options.__all__:
        names[name] = getattr(options, name)


def _new_app() -> typer.Typer:
    _typer_names()
    return typer.Typer(
        name="govern",
        help=_APP_HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"govern {__version__}")
        raise typer.Exit(0)


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Policy-as-code governance for ML models."""


@_handle_errors
def check(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)],
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            "-e",
            help="An evidence document (JSON) from `govern collect`. "
            "Without it, govern collects from MLflow first.",
        ),
    ] = None,
    stage: Annotated[
        StageOption | None,
        typer.Option(
            "--stage",
            "-s",
            help="Decide for this stage (default deploy). Evidence collected for another stage is an error.",
        ),
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TEXT,
    output: OutputOpt = None,
    report: Annotated[
        list[str] | None,
        typer.Option(
            "--report",
            metavar="FORMAT=FILE",
            help="Also write the decision as FORMAT to FILE, atomically (repeatable), e.g. "
            "--report junit=reports/govern.xml --report sarif=govern.sarif. "
            "Formats: text, json, junit, sarif, github, markdown.",
        ),
    ] = None,
    fail_on_warn: Annotated[bool, typer.Option("--fail-on-warn", help="Exit 1 on warnings too.")] = False,
    no_fail: Annotated[
        bool, typer.Option("--no-fail", help="Exit 0 even when denied (errors still exit 3).")
    ] = False,
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Accept a policy set with no deny/warn rule for the stage."),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking URI, when collecting (no --evidence). Default: see `govern collect`.",
        ),
    ] = None,
    as_of: AsOfOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    color: Annotated[bool | None, typer.Option("--color/--no-color", help="Colour the text output.")] = None,
    decision_log: DecisionLogOpt = None,
    allow_root: AllowRootOpt = None,
    eval_timeout: EvalTimeoutOpt = None,
    eval_memory: EvalMemoryOpt = None,
) -> None:
    """Evaluate the policies against a model's evidence and print the decision.

    Exit 0 when the model passes (warnings allowed unless --fail-on-warn), 1 when a policy
    denies it, 2 on bad input, 3 when no decision could be reached.

    Example:  govern check examples/adult-income/spec.yaml -e examples/adult-income/evidence.json
    """
    raise typer.Exit(
        run_check(
            spec=spec,
            evidence=evidence,
            stage=stage,
            output_format=output_format,
            output=output,
            report=report,
            fail_on_warn=fail_on_warn,
            no_fail=no_fail,
            policies=policies,
            v0_compatible=v0_compatible,
            no_builtin=no_builtin,
            param=param,
            allow_empty=allow_empty,
            tracking_uri=tracking_uri,
            as_of=as_of,
            backend=backend,
            opa_url=opa_url,
            color=color,
            decision_log=decision_log,
            allow_root=allow_root,
            eval_timeout=eval_timeout,
            eval_memory=eval_memory,
        )
    )


@_handle_errors
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Model spec files.", show_default=False)],
    allow_root: AllowRootOpt = None,
) -> None:
    """Validate model specs against the schema, without evaluating any policy.

    Prints one line per spec; exits 2 if any is invalid, naming the file, line and field.

    Example:  govern validate models/*/spec.yaml
    """
    from govern.engine.errors import InputError
    from govern.engine.spec import load_spec

    bad = 0
    roots = _allowed_roots(allow_root)
    for path in specs:
        try:
            spec = load_spec(path, roots)
        except InputError as exc:
            bad += 1
            _stderr(f"invalid: {exc}")
            continue
        typer.echo(
            f"valid: {path} ({spec.name}, risk tier {spec.risk_tier.value}, {len(spec.waivers)} waivers)"
        )
    raise typer.Exit(2 if bad else 0)


def version() -> None:
    """Print govern's version and its policy engine's."""
    from importlib import metadata

    try:
        regorus = metadata.version("gordon-to-regorus")
    except metadata.PackageNotFoundError:
        regorus = "not installed"
    typer.echo(f"govern {__version__}\nregorus {regorus} (embedded backend)\npython {sys.version.split()[0]}")


def build_app(*, only_check: bool = False) -> typer.Typer:
    """The ``govern`` command. ``only_check`` builds the group with ``check`` alone: the same
    command, options, errors and exit codes, without building (or importing) the others."""
    app = _new_app()
    app.callback()(_root)
    app.command()(check)
    if only_check:
        return app
    from . import (
        card_command,
        inspect_commands,
        registry_commands,
        rego_commands,
        replay_command,
        watch_command,
    )

    app.command()(validate)
    app.command()(version)
    app.command()(registry_commands.collect)
    app.add_typer(registry_commands.gate_app, name="gate")
    app.add_typer(registry_commands.audit_app, name="audit")
    app.command()(card_command.card)
    app.command()(replay_command.replay)
    app.command("test")(rego_commands.run_rego_tests)
    app.add_typer(rego_commands.bundle_app, name="bundle")
    app.command("input")(inspect_commands.input_command)
    app.command("params")(inspect_commands.params_command)
    app.command()(watch_command.watch)
    return app


_full_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole ``govern`` command, built on first use."""
    global _full_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _full_app is None:
        _full_app = build_app()
    return _full_app


def _checks_only(args: list[str]) -> bool:
    """``govern check ...`` without a help flag: only ``check`` can run, so only it is built."""
    return args[:1] == ["check"] and not any(arg in ("-h", "--help") for arg in args[1:])


def main() -> None:
    """Console-script entry point."""
    if _checks_only(sys.argv[1:]):
        from . import fast_check

        known = fast_check.run(sys.argv[1:])  # returns only when typer must read this line
        app = build_app(only_check=True)
        if not known:
            fast_check.remember(app)
        app()
    else:
        __getattr__("app")()


if __name__ == "__main__":
    main()

"""The ``govern`` command: parse, call the engine, render, exit.

Exit codes: 0 pass · 1 denied (or a failed Rego test) · 2 bad input (spec, evidence, policy,
option) · 3 govern could not decide (an evaluation or collection error). Never a pass on error.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from govern.engine import __version__
from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError
from govern.engine.formats import Format, SpecLocations

from .common import allowed_roots as _allowed_roots
from .common import check_output_path as _check_output_path
from .common import handle_errors as _handle_errors
from .common import stderr as _stderr
from .common import write_atomic as _write
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
    parse_as_of,
    pipeline_options,
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


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="govern",
        help=_APP_HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )


class StageOption(StrEnum):
    register = "register"
    deploy = "deploy"
    rollback = "rollback"


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


def _parse_reports(values: list[str], output: Path | None) -> list[tuple[Format, Path]]:
    """``--report FORMAT=FILE`` values; an unknown format or a file named twice is an error."""
    from govern.engine.formats import parse_format

    out: list[tuple[Format, Path]] = []
    seen = {output.resolve()} if output is not None else set()
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ConfigError(f"--report {value!r} must look like FORMAT=FILE, e.g. junit=reports/govern.xml")
        path = Path(file.strip())
        _check_output_path(path, f"--report {name.strip()}")
        if path.resolve() in seen:
            raise ConfigError(f"--report {value!r}: {path} is written twice in this run")
        seen.add(path.resolve())
        out.append((parse_format(name.strip()), path))
    return out


def _spec_locations(spec: Path) -> SpecLocations:
    """Lines of the spec's waivers and sections, for SARIF regions and GitHub annotations."""
    from govern.engine.documents import load_document
    from govern.engine.errors import SpecError
    from govern.engine.formats.locations import spec_locations

    doc, _ = load_document(spec, SpecError)
    return spec_locations(doc)


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
    from govern.engine.evidence import load_evidence
    from govern.engine.formats import RenderOptions, render
    from govern.engine.pipeline import Pipeline
    from govern.engine.spec import Stage, load_spec

    _check_output_path(output)
    _check_output_path(decision_log, "--decision-log")  # a FIFO would block the append forever
    reports = _parse_reports(report or [], output)
    model_spec = load_spec(spec, _allowed_roots(allow_root))
    options = pipeline_options(
        backend=backend,
        opa_url=opa_url,
        policies=policies,
        v0_compatible=v0_compatible,
        no_builtin=no_builtin,
        params=param,
        decision_log=decision_log,
        as_of=parse_as_of(as_of),
        command="check",
        allow_empty=allow_empty,
        eval_timeout=eval_timeout,
        eval_memory=eval_memory,
    )
    # the pipeline loads the policies first: a broken policy is reported before any slow collection
    with Pipeline(model_spec, options) as pipeline:
        if evidence is None:
            from . import registry_commands

            document = registry_commands.collect_to_document(
                model_spec,
                Stage(stage.value) if stage else Stage.DEPLOY,
                tracking_uri,
                live=None,
                with_model=True,
                sample=None,
                seed=0,
                artifacts=None,
            )
        else:
            document = load_evidence(evidence)
        record = pipeline.decide(document, Stage(stage.value) if stage else Stage.DEPLOY)
    decision = record.decision
    use_color = color if color is not None else (output is None and sys.stdout.isatty())
    width = 120 if output is not None or not sys.stdout.isatty() else max(100, _terminal_width())
    wanted = {output_format, *(fmt for fmt, _ in reports)}
    locations = _spec_locations(spec) if wanted & {Format.SARIF, Format.GITHUB} else None
    plain = RenderOptions(locations=locations) if locations else RenderOptions()
    text = render(output_format, record, replace(plain, color=use_color, width=width))
    rendered = [(render(fmt, record, plain), path) for fmt, path in reports]  # all, before writing any
    _write(text, output)
    for body, path in rendered:
        _write(body, path)
    _report_errors(decision)
    raise typer.Exit(decision.exit_code(fail_on_warn=fail_on_warn, no_fail=no_fail))


def _report_errors(decision: Any) -> None:
    """An error decision is also said on stderr, whatever the output format: never a quiet exit 3."""
    from govern.engine.decision import Outcome, Result

    if decision.outcome is not Outcome.ERROR:
        return
    errored = [r for r in decision.results if r.result is Result.ERROR]
    rules = ", ".join(f"{r.rule_id} ({r.package}.{r.rule})" for r in errored[:5])
    first = errored[0].message if errored else (decision.errors[0] if decision.errors else "unknown error")
    _stderr(
        f"evaluation error: no decision could be reached; {len(errored)} rule(s) failed to evaluate"
        + (f": {rules}" if rules else "")
        + f". First error: {first}"
    )


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 40)).columns


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
        build_app(only_check=True)()
    else:
        __getattr__("app")()


if __name__ == "__main__":
    main()

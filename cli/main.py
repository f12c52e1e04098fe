"""The ``govern`` command: parse, call the engine, render, exit.

Exit codes: 0 pass · 1 denied (or a failed Rego test) · 2 bad input (spec, evidence, policy,
option) · 3 govern could not decide (an evaluation or collection error). Never a pass on error.
"""

from __future__ import annotations

import datetime as dt
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

from . import card_command, registry_commands
from .common import allowed_roots as _allowed_roots
from .common import check_output_path as _check_output_path
from .common import handle_errors as _handle_errors
from .common import stderr as _stderr
from .common import write_atomic as _write

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="govern",
    help=(
        "Policy-as-code governance for ML models.\n\n"
        "Describe a model in a YAML spec, gather evidence about it, and let Rego policies decide "
        "whether it may be registered, deployed or must be rolled back.\n\n"
        "Start with:  govern validate spec.yaml  ·  "
        "govern check spec.yaml --evidence evidence.json  ·  govern test"
    ),
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


@app.callback()
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


def _as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


def _policy_sources(paths: list[Path] | None, v0: bool) -> list[Any]:
    from govern.engine.spec import PolicySource, RegoVersion

    version = RegoVersion.V0 if v0 else RegoVersion.V1
    return [PolicySource(path=p.resolve(), rego_version=version) for p in paths or []]


AllowRoot = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-root",
        help="A folder besides the spec's own that its data and policy paths may name (repeatable; "
        "also GOVERN_ALLOW_ROOT).",
    ),
]


@app.command()
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
            "--stage", "-s", help="Decide for this stage. Default: the stage recorded in the evidence."
        ),
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", "-o", help="Output format.")] = Format.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the output to FILE (atomically).")
    ] = None,
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
    policies: Annotated[
        list[Path] | None,
        typer.Option(
            "--policies", "-p", help="Extra policy folder or file (repeatable), besides the spec's own."
        ),
    ] = None,
    v0_compatible: Annotated[
        bool,
        typer.Option("--v0-compatible", help="Read the --policies files as Rego v0 (`deny[msg] { … }`)."),
    ] = False,
    no_builtin: Annotated[
        bool, typer.Option("--no-builtin", help="Do not apply the built-in policy library.")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Override a policy parameter: key.path=value (JSON value). Repeatable."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking URI, when collecting (no --evidence). Default: see `govern collect`.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Judge waiver expiry as of this date (YYYY-MM-DD). Default: today."),
    ] = None,
    backend: Annotated[BackendName, typer.Option("--backend", help="Policy engine.")] = BackendName.EMBEDDED,
    opa_url: Annotated[
        str | None,
        typer.Option("--opa-url", envvar="GOVERN_OPA_URL", help="The OPA server, for --backend opa."),
    ] = None,
    color: Annotated[bool | None, typer.Option("--color/--no-color", help="Colour the text output.")] = None,
    decision_log: Annotated[
        Path | None,
        typer.Option(
            "--decision-log",
            envvar="GOVERN_DECISION_LOG",
            help="Append the decision as an OPA decision-log event (JSON line) to FILE.",
        ),
    ] = None,
    allow_root: AllowRoot = None,
    eval_timeout: Annotated[
        str | None,
        typer.Option(
            "--eval-timeout",
            envvar="GOVERN_EVAL_TIMEOUT",
            help="Seconds one embedded evaluation may take (default 10); beyond, the rule is an error.",
        ),
    ] = None,
    eval_memory: Annotated[
        str | None,
        typer.Option(
            "--eval-memory",
            envvar="GOVERN_EVAL_MEMORY",
            help="Memory the embedded engine may use, e.g. 1GiB (the default) or 512MiB.",
        ),
    ] = None,
) -> None:
    """Evaluate the policies against a model's evidence and print the decision.

    Exit 0 when the model passes (warnings allowed unless --fail-on-warn), 1 when a policy
    denies it, 2 on bad input, 3 when no decision could be reached.

    Example:  govern check examples/adult-income/spec.yaml -e examples/adult-income/evidence.json
    """
    from govern.engine.backends import create_backend
    from govern.engine.backends.bounded import EvalLimits, parse_memory, parse_timeout
    from govern.engine.check import Checker
    from govern.engine.evidence import load_evidence
    from govern.engine.formats import RenderOptions, render
    from govern.engine.params import parse_param_override
    from govern.engine.policyset import load_policy_set
    from govern.engine.spec import Stage, load_spec

    overrides = [parse_param_override(p) for p in param or []]
    limits = EvalLimits(
        timeout=parse_timeout(eval_timeout, "--eval-timeout") if eval_timeout else EvalLimits.timeout,
        memory=parse_memory(eval_memory, "--eval-memory") if eval_memory else EvalLimits.memory,
    )
    today = _as_of(as_of)
    _check_output_path(output)
    _check_output_path(decision_log, "--decision-log")  # a FIFO would block the append forever
    reports = _parse_reports(report or [], output)
    model_spec = load_spec(spec, _allowed_roots(allow_root))
    # policies first: a broken policy is reported before any slow collection
    policy_set = load_policy_set(model_spec, _policy_sources(policies, v0_compatible), builtin=not no_builtin)
    if evidence is None:
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
    with create_backend(backend.value, opa_url, limits) as engine:
        checker = Checker.for_spec(model_spec, policy_set, engine, overrides)
        decision = checker.decide(document, Stage(stage.value) if stage else None, today)
        if decision_log is not None:
            _append_decision_log(
                decision_log, decision, checker.prepare_input(document, decision.stage).value
            )
    use_color = color if color is not None else (output is None and sys.stdout.isatty())
    width = 120 if output is not None or not sys.stdout.isatty() else max(100, _terminal_width())
    wanted = {output_format, *(fmt for fmt, _ in reports)}
    locations = _spec_locations(spec) if wanted & {Format.SARIF, Format.GITHUB} else None
    plain = RenderOptions(locations=locations) if locations else RenderOptions()
    text = render(output_format, decision, replace(plain, color=use_color, width=width))
    rendered = [(render(fmt, decision, plain), path) for fmt, path in reports]  # all, before writing any
    _write(text, output)
    for body, path in rendered:
        _write(body, path)
    _report_errors(decision)
    raise typer.Exit(decision.exit_code(fail_on_warn=fail_on_warn, no_fail=no_fail))


def _append_decision_log(path: Path, decision: Any, input_doc: dict[str, Any]) -> None:
    """One OPA-shaped event per decision, appended as a JSON line (for existing log pipelines)."""
    import json

    from govern.engine.decision_log import decision_log_record

    line = json.dumps(decision_log_record(decision, input_doc), sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError as exc:
        raise ConfigError(f"cannot append to the decision log {path}: {exc.strerror}") from None


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


@app.command()
@_handle_errors
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Model spec files.", show_default=False)],
    allow_root: AllowRoot = None,
) -> None:
    """Validate model specs against the schema, without evaluating any policy.

    Prints one line per spec; exits 2 if any is invalid, naming the file, line and field.
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


@app.command("test")
@_handle_errors
def run_rego_tests(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Policy folders or files. Default: the built-in library's own tests.", show_default=False
        ),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Only tests whose path matches this regex.")
    ] = None,
    v0_compatible: Annotated[
        bool, typer.Option("--v0-compatible", help="Read the files as Rego v0.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every test, not only failures.")
    ] = False,
    backend: Annotated[BackendName, typer.Option("--backend", help="Policy engine.")] = BackendName.EMBEDDED,
    opa_url: Annotated[
        str | None,
        typer.Option("--opa-url", envvar="GOVERN_OPA_URL", help="The OPA server, for --backend opa."),
    ] = None,
) -> None:
    """Run Rego unit tests (rules named test_*), like `opa test`.

    The built-in library (govern.lib and the packs) is loaded beside your files, so your
    policies may import data.govern.lib. Exits 1 if any test fails or errors, 0 otherwise.
    """
    import re

    from govern.engine.backends import create_backend
    from govern.engine.policyset import builtin_modules, modules_from_path
    from govern.engine.rego_tests import TestOutcome, TestResult, run_tests
    from govern.engine.spec import RegoVersion

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            raise ConfigError(f"--run {run!r} is not a valid regular expression: {exc}") from None
    if paths:
        version = RegoVersion.V0 if v0_compatible else RegoVersion.V1
        modules = builtin_modules()
        for path in paths:
            modules.extend(modules_from_path(path.resolve(), version, include_tests=True))
    else:
        modules = builtin_modules(include_tests=True)

    def show(result: TestResult) -> None:
        if result.outcome is TestOutcome.PASS and not verbose:
            return
        label = {TestOutcome.PASS: "PASS", TestOutcome.FAIL: "FAIL", TestOutcome.ERROR: "ERROR"}[
            result.outcome
        ]
        detail = f": {result.message}" if result.message else ""
        where = f"{result.file}:{result.line}"
        typer.echo(
            f"{label} data.{result.package}.{result.name} ({where}) {result.seconds * 1000:.1f}ms{detail}"
        )

    with create_backend(backend.value, opa_url) as engine:
        report = run_tests(modules, engine, run=run, on_result=show)
    passed, failed, errored = (report.count(o) for o in TestOutcome)
    if not report.results:
        typer.echo("no test_* rules found")
        raise typer.Exit(1)
    typer.echo("-" * 60)
    typer.echo(f"{passed} passed, {failed + errored} failed" + (f" ({errored} errors)" if errored else ""))
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def version() -> None:
    """Print govern's version and its policy engine's."""
    from importlib import metadata

    try:
        regorus = metadata.version("gordon-to-regorus")
    except metadata.PackageNotFoundError:
        regorus = "not installed"
    typer.echo(f"govern {__version__}\nregorus {regorus} (embedded backend)\npython {sys.version.split()[0]}")


app.command()(registry_commands.collect)
app.add_typer(registry_commands.gate_app, name="gate")
app.add_typer(registry_commands.audit_app, name="audit")
app.command()(card_command.card)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

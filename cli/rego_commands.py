"""``govern test`` (Rego unit tests, like ``opa test``) and ``govern bundle build`` (OPA bundles).

``govern test`` follows ``opa test``'s exit codes: 0 when every test passes, 2 when a test fails
or errors (or coverage is below ``--threshold``), 1 when the policies or data cannot be loaded.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError, GovernError, InputError

from .common import handle_errors, stderr

__all__ = ["bundle_app", "bundle_build", "run_rego_tests"]

EXIT_FAILED = 2
EXIT_LOAD = 1
_RULE = "-" * 80

bundle_app = typer.Typer(
    name="bundle", help="OPA bundles of a policy set and its parameters.", no_args_is_help=True
)


class TestFormat(StrEnum):
    pretty = "pretty"
    json = "json"


class Explain(StrEnum):
    fails = "fails"
    full = "full"


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f}ms"
    return f"{seconds:.3f}s"


def _opa_json(result: Any) -> dict[str, Any]:
    """One result in ``opa test --format json``'s shape."""
    from govern.engine.rego_tests import TestOutcome

    out: dict[str, Any] = {
        "location": {"file": result.file, "row": result.line, "col": 1},
        "package": f"data.{result.package}",
        "name": result.name,
        "duration": int(result.seconds * 1e9),
    }
    if result.outcome is TestOutcome.FAIL:
        out["fail"] = True
        if result.trace:
            out["trace"] = list(result.trace)
    elif result.outcome is TestOutcome.ERROR:
        out["error"] = {"code": "eval_error", "message": result.message}
    elif result.outcome is TestOutcome.SKIPPED:
        out["skip"] = True
    return out


def _load_modules(
    paths: list[Path], ignore: list[str], v0: bool, builtin: bool
) -> tuple[list[Any], dict[str, Any]]:
    from govern.engine.policyset import builtin_modules, modules_from_path
    from govern.engine.rego_tests import discover_data, ignored
    from govern.engine.spec import RegoVersion

    version = RegoVersion.V0 if v0 else RegoVersion.V1
    modules: list[Any] = []
    data: dict[str, Any] = {}
    for path in paths:
        root = path.resolve()
        if not root.exists():
            raise ConfigError(f"policy path {path} does not exist")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*.rego") if p.is_file())
        for file in files:
            if ignore and ignored(file, ignore, root):
                continue
            modules.extend(modules_from_path(file, version, include_tests=True))
        from govern.engine.rego_tests import merge_data

        found = discover_data(root, ignore)
        if found:
            merge_data(data, (), found, str(root))
    if builtin:  # a built-in file given again (`govern test policies/` in a checkout) loads once
        given = {module.text for module in modules}
        modules = [m for m in builtin_modules() if m.text not in given] + modules
    return modules, data


@handle_errors
def run_rego_tests(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Policy folders or files. Default: the built-in library's own tests.", show_default=False
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", "-d", help="A JSON/YAML data file (or folder) loaded as data (repeatable)."),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Skip files and folders matching this glob (repeatable)."),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Only tests whose path matches this regex.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every test, and the failing expression.")
    ] = False,
    explain: Annotated[
        Explain | None,
        typer.Option("--explain", help="With failures, show the failing expression (embedded engine)."),
    ] = None,
    output_format: Annotated[
        TestFormat, typer.Option("--format", "-f", help="pretty, or json in opa test's shape.")
    ] = TestFormat.pretty,
    coverage: Annotated[
        bool, typer.Option("--coverage", "-c", help="Report line coverage as JSON (opa test's shape).")
    ] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", help="With --coverage: exit 2 below this percentage.")
    ] = 0.0,
    bench: Annotated[bool, typer.Option("--bench", help="Benchmark each test (ns per evaluation).")] = False,
    v0_compatible: Annotated[
        bool, typer.Option("--v0-compatible", help="Read the files as Rego v0.")
    ] = False,
    no_builtin: Annotated[
        bool, typer.Option("--no-builtin", help="Do not load the built-in library beside the files.")
    ] = False,
    backend: Annotated[BackendName, typer.Option("--backend", help="Policy engine.")] = BackendName.EMBEDDED,
    opa_url: Annotated[
        str | None,
        typer.Option(
            "--opa-url",
            envvar="GOVERN_OPA_URL",
            help="The OPA server, for --backend opa (policies are pushed). Without it, govern starts "
            "its own from `opa` on PATH or GOVERN_OPA_BIN, serving the policies as a bundle.",
        ),
    ] = None,
) -> None:
    """Run Rego unit tests (rules named test_*), like `opa test`.

    The built-in library (govern.lib and the packs) is loaded beside your files, so your
    policies may import data.govern.lib. data.json/data.yaml files beside the policies are
    loaded at their folder's path. todo_test_* rules are reported as SKIPPED.
    Exit 0 when all tests pass, 2 when a test fails or errors, 1 when loading fails.

    Example:  govern test policies/ --ignore 'vendor/*' -v --coverage --threshold 80
    """
    from govern.engine.backends import create_backend
    from govern.engine.policyset import builtin_modules
    from govern.engine.rego_tests import TestReport, data_file, merge_data, run_tests

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            raise ConfigError(f"--run {run!r} is not a valid regular expression: {exc}") from None
    if coverage and backend is not BackendName.EMBEDDED:
        raise ConfigError("--coverage needs the embedded backend (OPA's coverage is `opa test --coverage`)")
    show = _printer(output_format is TestFormat.pretty and not coverage and not bench, verbose)
    try:
        if paths:
            modules, found = _load_modules(paths, ignore or [], v0_compatible, not no_builtin)
        else:
            modules, found = builtin_modules(include_tests=True), {}
        for extra in data or []:
            merge_data(found, (), data_file(extra), str(extra))
        # in process: traces, coverage and benchmarks need the engine itself, as `opa test` runs
        with create_backend(backend.value, opa_url, bounded=False, local_opa=True) as engine:
            report: TestReport = run_tests(
                modules,
                engine,
                data=found,
                run=run,
                on_result=show,
                explain=bool(explain) or verbose,
                coverage=coverage,
            )
            if bench:
                from govern.engine.nonstrict import enabled

                with enabled():  # the run's non-strict built-in calls, as the tests ran them
                    _bench(engine, report, output_format)
                raise typer.Exit(0 if report.ok else EXIT_FAILED)
    except InputError as exc:  # opa test: a load error is exit 1
        stderr(f"error: {exc}")
        raise typer.Exit(EXIT_LOAD) from None
    except GovernError:
        raise
    if not report.results:
        stderr("error: no test_* rules found")
        raise typer.Exit(EXIT_LOAD)
    raise typer.Exit(EXIT_FAILED if _summary(report, output_format, coverage, threshold) else 0)


_LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skipped": "SKIPPED"}


def _printer(pretty: bool, verbose: bool) -> Callable[[Any], None]:
    """What prints each result as it comes: failures always, passes with -v, like opa test."""

    def show(result: Any) -> None:
        if not pretty or (result.outcome.value == "pass" and not verbose):
            return
        line = f"{result.path}: {_LABELS[result.outcome.value]} ({_duration(result.seconds)})"
        if result.outcome.value == "error" or (
            result.outcome.value == "fail" and result.message != "undefined"
        ):
            line += f"\n  {result.message}"
        typer.echo(line)
        for trace in result.trace:
            typer.echo(f"  {trace}")
        for note in result.notes if verbose else ():
            typer.echo(f"  {note}")

    return show


def _summary(report: Any, output_format: TestFormat, coverage: bool, threshold: float) -> bool:
    """Print the report's summary (or JSON, or coverage); True when the run failed."""
    failed = not report.ok
    if coverage:
        typer.echo(json.dumps(report.coverage, indent=2))
        got = float(report.coverage["coverage"])
        if got < threshold:
            stderr(f"Code coverage threshold not met: got {got:.2f} instead of {threshold:.2f}")
            failed = True
    elif output_format is TestFormat.json:
        typer.echo(json.dumps([_opa_json(r) for r in report.results], indent=2))
    else:
        total = len(report.results)
        typer.echo(_RULE)
        for outcome, label in _LABELS.items():
            n = sum(1 for r in report.results if r.outcome.value == outcome)
            if n:
                typer.echo(f"{label}: {n}/{total}")
    return failed


def _bench(engine: Any, report: Any, output_format: TestFormat) -> None:
    """Evaluate each test repeatedly for about 0.2 s: iterations and ns per evaluation."""
    from govern.engine.errors import BackendError
    from govern.engine.rego_tests import TestOutcome

    rows = []
    for result in report.results:
        if result.outcome is TestOutcome.SKIPPED:
            continue
        n = 0
        started = time.perf_counter()
        while True:
            with contextlib.suppress(BackendError):
                engine.evaluate_rule(None, result.path)
            n += 1
            elapsed = time.perf_counter() - started
            if elapsed > 0.2 or n >= 100_000:
                break
        rows.append({"name": result.path, "n": n, "ns_per_op": int(elapsed / n * 1e9)})
    if output_format is TestFormat.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=10)
    for row in rows:
        typer.echo(f"{row['name']:<{width}}  {row['n']:>8}  {row['ns_per_op']:>12} ns/op")


@bundle_app.command("build")
@handle_errors
def bundle_build(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML): packs, policies, parameters.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The bundle file to write (.tar.gz).")
    ] = Path("bundle.tar.gz"),
    policies: Annotated[
        list[Path] | None,
        typer.Option("--policies", "-p", help="Extra policy folder or file (repeatable)."),
    ] = None,
    v0_compatible: Annotated[
        bool, typer.Option("--v0-compatible", help="Read the --policies files as Rego v0.")
    ] = False,
    no_builtin: Annotated[
        bool, typer.Option("--no-builtin", help="Leave the built-in policy library out.")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Override a policy parameter: key.path=value (JSON value). Repeatable."),
    ] = None,
) -> None:
    """Write the policy set and parameters of a spec as an OPA bundle.

    The manifest's revision is the policy digest that decisions record; serve the bundle from
    any bundle service (or `opa run --server -b bundle.tar.gz`) and check with
    `GOVERN_OPA_MODE=bundle govern check ... --backend opa`: govern then never pushes, and
    refuses (exit 3) a server that holds another revision.

    Example:  govern bundle build examples/adult-income/spec.yaml -o dist/govern.tar.gz
    """
    from govern.engine.bundle import build_bundle, write_bundle
    from govern.engine.params import build_params, parse_param_override
    from govern.engine.policyset import load_policy_set
    from govern.engine.rego_numbers import engine_data
    from govern.engine.spec import PolicySource, RegoVersion, load_spec

    model_spec = load_spec(spec)
    version = RegoVersion.V0 if v0_compatible else RegoVersion.V1
    extra = [PolicySource(path=p.resolve(), rego_version=version) for p in policies or []]
    policy_set = load_policy_set(model_spec, extra, builtin=not no_builtin)
    params = build_params(model_spec, [parse_param_override(p) for p in param or []])
    bundle = build_bundle(policy_set, engine_data(policy_set, {"govern": {"params": params}}))
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory; name the bundle file")
    write_bundle(bundle, output)
    typer.echo(
        f"wrote {output}: revision {bundle.revision}, {len(bundle.files)} modules, "
        f"roots {', '.join(bundle.roots)}, {bundle.sha256}"
    )

"""What ``govern check`` does once its command line is read: load, decide, render, exit code.

No typer here: the command-line layer (``main.check`` through typer, or the fast path of
:mod:`.fast_check` for a plain ``govern check`` line) hands over the parsed values.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError
from govern.engine.formats import Format, SpecLocations

from .common import allowed_roots as _allowed_roots
from .common import check_output_path as _check_output_path
from .common import stderr as _stderr
from .common import write_atomic as _write
from .pipeline_options import parse_as_of, pipeline_options

__all__ = ["StageOption", "run_check"]


class StageOption(StrEnum):
    register = "register"
    deploy = "deploy"
    rollback = "rollback"


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


def run_check(
    *,
    spec: Path,
    evidence: Path | None,
    stage: StageOption | None,
    output_format: Format,
    output: Path | None,
    report: list[str] | None,
    fail_on_warn: bool,
    no_fail: bool,
    policies: list[Path] | None,
    v0_compatible: bool,
    no_builtin: bool,
    param: list[str] | None,
    allow_empty: bool,
    tracking_uri: str | None,
    as_of: str | None,
    backend: BackendName,
    opa_url: str | None,
    color: bool | None,
    decision_log: Path | None,
    allow_root: list[Path] | None,
    eval_timeout: str | None,
    eval_memory: str | None,
) -> int:
    """``govern check``: decide, write the output and the reports; the exit code."""
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
    return decision.exit_code(fail_on_warn=fail_on_warn, no_fail=no_fail)


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

"""``govern collect``, ``govern gate …`` and ``govern audit …``: the commands that touch MLflow.

Thin: parse, call the engine, render, exit. mlflow is imported only when a command runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

from .common import (
    allowed_roots,
    check_alias,
    check_output_path,
    check_version,
    handle_errors,
    stderr,
    write_atomic,
)
from .options import (
    BackendOpt,
    DecisionLogOpt,
    DecisionOptions,
    NoBuiltinOpt,
    OpaUrlOpt,
    ParamOpt,
    PoliciesOpt,
    V0Opt,
    pipeline_options,
)

if TYPE_CHECKING:
    from govern.engine.evidence.base import Progress
    from govern.engine.gates import GateResult
    from govern.engine.spec import ModelSpec

DEFAULT_AUDIT_LOG = Path(".govern") / "audit.jsonl"

gate_app = typer.Typer(
    name="gate",
    help=(
        "Gate MLflow on a decision: register a run, promote a version to an alias, or roll an alias back. "
        "Exit 0 when the gate passed (or had nothing to do), 1 when the model was denied (nothing moved, "
        "or an alias was rolled back), 2 on bad input, 3 when no decision could be reached (nothing moved)."
    ),
    no_args_is_help=True,
)
audit_app = typer.Typer(
    name="audit", help="Read and verify the audit log of gate decisions.", no_args_is_help=True
)

TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI. Default: the spec's model.tracking_uri, MLFLOW_TRACKING_URI, "
        "or a local sqlite store at .govern/mlflow.db.",
    ),
]
AuditPath = Annotated[
    Path,
    typer.Option("--audit-log", envvar="GOVERN_AUDIT_LOG", help="The audit log (JSONL, hash-chained)."),
]
AuditKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--audit-key-file",
        help="A file holding the audit key: every record carries an HMAC-SHA256 made with it. "
        "Default: the GOVERN_AUDIT_KEY environment variable; none: an unkeyed chain.",
    ),
]


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress]:
    """A rich progress display on stderr for the long collection steps."""
    from govern.engine.evidence.base import no_progress

    if not enabled:
        yield no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bars:

        def report(step: str, completed: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=max(total, 1))
            bars.update(tasks[step], completed=completed, total=max(total, 1))

        yield report


def _registry(spec: ModelSpec, tracking_uri: str | None) -> Any:
    from govern.engine.registry.mlflow import MlflowRegistry, resolve_tracking_uri

    return MlflowRegistry(resolve_tracking_uri(spec.model.tracking_uri, tracking_uri))


def collect_to_document(
    spec: ModelSpec,
    stage: Any,
    tracking_uri: str | None,
    *,
    live: Path | None,
    with_model: bool,
    sample: int | None,
    seed: int,
    artifacts: Path | None,
    version: str | None = None,
    run_id: str | None = None,
) -> Any:
    from govern.engine.evidence.collect import CollectOptions, collect_evidence
    from govern.engine.evidence.mlflow import resolve_target

    registry = _registry(spec, tracking_uri)
    target = resolve_target(spec, registry, version=version, run_id=run_id)
    with progress_bars(sys.stderr.isatty()) as progress:
        options = CollectOptions(
            live_file=live,
            with_model=with_model,
            sample=sample,
            seed=seed,
            artifact_dir=artifacts,
            progress=progress,
        )
        return collect_evidence(spec, stage, registry, target, options)


@handle_errors
def collect(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)],
    stage: Annotated[str, typer.Option("--stage", "-s", help="register, deploy or rollback.")] = "deploy",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the evidence here (atomically).")
    ] = None,
    tracking_uri: TrackingUri = None,
    version: Annotated[str | None, typer.Option("--version", help="Judge this model version.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Judge this unregistered run.")] = None,
    live: Annotated[
        Path | None, typer.Option("--live", help='Live metrics as JSON ({"metrics": {...}}), for rollback.')
    ] = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Only MLflow metadata: skip fairness, SHAP and data evidence.")
    ] = False,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Rows of evaluation data to use (seeded).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for every sample.")] = 0,
    artifacts: Annotated[
        Path | None, typer.Option("--artifacts", help="Folder for raw artifacts (SHAP values).")
    ] = None,
) -> None:
    """Gather the evidence for a model from MLflow and its data, and write the evidence document.

    Check it any number of times afterwards with `govern check SPEC --evidence FILE`.

    Example:  govern collect spec.yaml --stage deploy -o evidence.json
    """
    from govern.engine.spec import Stage, load_spec

    check_output_path(output)
    version = check_version(version)
    model_spec = load_spec(spec, allowed_roots())
    document = collect_to_document(
        model_spec,
        _stage(stage),
        tracking_uri,
        live=live,
        with_model=not no_model,
        sample=sample,
        seed=seed,
        artifacts=artifacts,
        version=version,
        run_id=run_id,
    )
    write_atomic(json.dumps(document.value, indent=2) + "\n", output)
    if output is not None:
        missing = document.value.get("missing", {})
        stderr(f"wrote {output} ({len(missing)} sections missing)", style="green")
        for section, reason in missing.items():
            stderr(f"  {section}: {reason}", style="yellow")
    _ = Stage


def _stage(value: str) -> Any:
    from govern.engine.spec import Stage

    try:
        return Stage(value)
    except ValueError:
        raise ConfigError(f"unknown stage {value!r}; choose register, deploy or rollback") from None


def _render_gate(result: GateResult, output_format: str) -> str:
    if output_format == "json":
        return (
            json.dumps(
                {
                    "gate": result.gate.value,
                    "action": result.action.value,
                    "model": result.model,
                    "version": result.version,
                    "alias": result.alias,
                    "previous": result.previous,
                    "to": result.to,
                    "message": result.message,
                    "ignored": list(result.ignored),
                    "exit_code": result.exit_code,
                    "audit": {"seq": result.audit.get("seq"), "hash": result.audit.get("hash")}
                    if result.audit
                    else None,
                    "decision": result.decision.to_dict() if result.decision else None,
                },
                indent=2,
            )
            + "\n"
        )
    from govern.engine.formats import Format, RenderOptions, render
    from govern.engine.formats.sanitize import one_line

    text = ""
    if result.decision is not None:
        text = render(Format.TEXT, result.decision, RenderOptions(color=sys.stdout.isatty(), width=120))
    seq = result.audit.get("seq") if result.audit else None
    return (
        text
        + f"gate {result.gate.value}: {result.action.value.replace('_', ' ')}: {one_line(result.message)}"
        + (f" (audit record {seq})\n" if seq else "\n")
    )


def _run_gate(
    gate: str,
    spec: Path,
    *,
    alias: str | None,
    version: str | None,
    run_id: str | None,
    dry_run: bool,
    tracking_uri: str | None,
    audit_log: Path,
    audit_key_file: Path | None,
    live: Path | None,
    no_model: bool,
    sample: int | None,
    seed: int,
    as_of: str | None,
    output_format: str,
    decision: DecisionOptions,
) -> None:
    from govern.engine.audit import AuditLog, load_key
    from govern.engine.evidence.collect import CollectOptions
    from govern.engine.gates import Gate, GateContext, run_gate
    from govern.engine.pipeline import Pipeline
    from govern.engine.spec import load_spec

    if output_format not in ("text", "json"):
        raise ConfigError(f"unknown output format {output_format!r}; choose text or json")
    if as_of is not None:  # a gate acts now: an expired waiver must not move an alias
        raise ConfigError("--as-of is for `govern check` replays; a gate judges waivers as of today")
    options = pipeline_options(
        backend=decision.backend,
        opa_url=decision.opa_url,
        policies=decision.policies,
        v0_compatible=decision.v0_compatible,
        no_builtin=decision.no_builtin,
        params=decision.params,
        decision_log=decision.decision_log,
        as_of=None,
        command=f"gate {gate}",
    )
    key = load_key(audit_key_file)
    alias = check_alias(alias)
    version = check_version(version)
    model_spec = load_spec(spec, allowed_roots())
    registry = _registry(model_spec, tracking_uri)
    with Pipeline(model_spec, options) as pipeline, progress_bars(sys.stderr.isatty()) as progress:
        ctx = GateContext(
            registry=registry,
            audit=AuditLog(audit_log, key),
            decide=pipeline.decide,
            collect=CollectOptions(
                live_file=live, with_model=not no_model, sample=sample, seed=seed, progress=progress
            ),
            dry_run=dry_run,
        )
        result = run_gate(Gate(gate), model_spec, ctx, alias=alias, version=version, run_id=run_id)
    sys.stdout.write(_render_gate(result, output_format))
    for ignored in result.ignored:
        stderr(f"warning: ignored {result.model} version {ignored['version']}: {ignored['reason']}")
    if result.exit_code >= 2:
        stderr(f"error: {result.message}")
    raise typer.Exit(result.exit_code)


SpecArg = Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Decide and audit, but change nothing in MLflow.")]
Live = Annotated[Path | None, typer.Option("--live", help="Live metrics as JSON, instead of MLflow's.")]
NoModel = Annotated[bool, typer.Option("--no-model", help="Skip fairness, SHAP and data evidence.")]
Sample = Annotated[int | None, typer.Option("--sample", help="Rows of evaluation data to use (seeded).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every sample.")]
AsOf = Annotated[str | None, typer.Option("--as-of", hidden=True, help="Refused: gates judge as of today.")]
OutputFormat = Annotated[str, typer.Option("--format", "-f", help="text or json.")]


@gate_app.command("register")
@handle_errors
def gate_register(
    spec: SpecArg,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The run to register (default: the spec's).")
    ] = None,
    dry_run: DryRun = False,
    tracking_uri: TrackingUri = None,
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    audit_key_file: AuditKeyFile = None,
    no_model: NoModel = False,
    sample: Sample = None,
    seed: Seed = 0,
    as_of: AsOf = None,
    output_format: OutputFormat = "text",
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    decision_log: DecisionLogOpt = None,
) -> None:
    """Register a run as a new model version only if the policies pass at stage register.

    Example:  govern gate register spec.yaml --run-id 3f2a…
    """
    _run_gate("register", spec, alias=None, version=None, run_id=run_id, dry_run=dry_run,
              tracking_uri=tracking_uri, audit_log=audit_log, audit_key_file=audit_key_file,
              live=None, no_model=no_model, sample=sample,
              seed=seed, as_of=as_of, output_format=output_format,
              decision=DecisionOptions(backend, opa_url, policies, v0_compatible, no_builtin, param,
                                       decision_log))  # fmt: skip


@gate_app.command("promote")
@handle_errors
def gate_promote(
    spec: SpecArg,
    version: Annotated[str | None, typer.Option("--version", help="The version to promote.")] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="The alias to move (default: champion).")
    ] = None,
    dry_run: DryRun = False,
    tracking_uri: TrackingUri = None,
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    audit_key_file: AuditKeyFile = None,
    no_model: NoModel = False,
    sample: Sample = None,
    seed: Seed = 0,
    as_of: AsOf = None,
    output_format: OutputFormat = "text",
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    decision_log: DecisionLogOpt = None,
) -> None:
    """Move an alias to a version only if the policies pass at stage deploy (champion compared).

    Example:  govern gate promote spec.yaml --version 3 --alias champion
    """
    _run_gate("promote", spec, alias=alias, version=version, run_id=None, dry_run=dry_run,
              tracking_uri=tracking_uri, audit_log=audit_log, audit_key_file=audit_key_file,
              live=None, no_model=no_model, sample=sample,
              seed=seed, as_of=as_of, output_format=output_format,
              decision=DecisionOptions(backend, opa_url, policies, v0_compatible, no_builtin, param,
                                       decision_log))  # fmt: skip


@gate_app.command("rollback")
@handle_errors
def gate_rollback(
    spec: SpecArg,
    alias: Annotated[
        str | None, typer.Option("--alias", help="The alias to judge (default: champion).")
    ] = None,
    live: Live = None,
    dry_run: DryRun = False,
    tracking_uri: TrackingUri = None,
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    audit_key_file: AuditKeyFile = None,
    as_of: AsOf = None,
    output_format: OutputFormat = "text",
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    decision_log: DecisionLogOpt = None,
) -> None:
    """Judge the alias holder on live metrics; if it fails, move the alias back to a healthy version.

    The target is the latest earlier version that passed deploy, is not quarantined and passes its
    own live rules when it has live evidence; the holder left behind is quarantined. Live metrics
    come from the spec's Prometheus queries (monitoring.prometheus), else the newest MLflow run
    tagged govern.monitors=<model>/<version>, or --live FILE.

    Example:  govern gate rollback spec.yaml --alias champion --live live.json
    """
    _run_gate("rollback", spec, alias=alias, version=None, run_id=None, dry_run=dry_run,
              tracking_uri=tracking_uri, audit_log=audit_log, audit_key_file=audit_key_file,
              live=live, no_model=True, sample=None,
              seed=0, as_of=as_of, output_format=output_format,
              decision=DecisionOptions(backend, opa_url, policies, v0_compatible, no_builtin, param,
                                       decision_log))  # fmt: skip


@audit_app.command("verify")
@handle_errors
def audit_verify(
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    audit_key_file: AuditKeyFile = None,
    resolve: Annotated[
        bool,
        typer.Option(
            "--resolve/--no-resolve",
            help="Close intents left by an interrupted gate by reading the registry they name "
            "(recovered when the action is there, aborted when not).",
        ),
    ] = True,
) -> None:
    """Check the audit log's hash chain (and MACs when keyed), then resolve interrupted gates.

    Exit 0 intact, 1 tampered (naming the first bad record), 2 when there is no log at the path or
    it is empty, 3 when an interrupted gate could not be resolved.

    Example:  govern audit verify --audit-log .govern/audit.jsonl
    """
    from govern.engine.audit import AuditLog, load_key, open_intents

    log = AuditLog(audit_log, load_key(audit_key_file))
    _existing_log(audit_log, log.head_path)
    report = log.verify()
    if not report.ok:
        stderr(
            f"tampered: {audit_log} record {report.first_bad}: {report.reason} "
            f"({report.records} records verified before it)"
        )
        raise typer.Exit(1)
    pending = open_intents(log.records())
    if pending and resolve:
        pending = _resolve(log, pending)
        report = log.verify()
    head = f", head {report.head[:16]}…" if report.head else ""
    keyed = ", MACs checked" if report.keyed else ""
    typer.echo(f"intact: {audit_log} holds {report.records} records{head}{keyed}")
    if report.note:
        stderr(f"note: {report.note}", style="yellow")
    if not report.keyed and any("mac" in r for r in log.records()[-1:]):
        stderr("note: the records carry MACs; pass the key to check them", style="yellow")
    if pending:
        for intent in pending:
            stderr(f"unresolved: intent record {intent['seq']} ({intent.get('message')})")
        raise typer.Exit(3)
    raise typer.Exit(0)


def _existing_log(path: Path, head: Path) -> None:
    """A missing or empty log is a wrong path far more often than an untouched one: say so (exit 2)."""
    if not path.exists():
        raise ConfigError(f"no audit log at {path}: check --audit-log (or GOVERN_AUDIT_LOG)")
    if not path.is_file():
        raise ConfigError(f"the audit log {path} is not a file")
    if path.stat().st_size == 0 and not head.exists():
        raise ConfigError(f"the audit log {path} is empty: no gate has written to it (wrong path?)")


def _resolve(log: Any, pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resolve the open intents, per registry and model, under each model's lock. Returns those left."""
    from govern.engine.errors import GovernError
    from govern.engine.gates import resolve_open_intents
    from govern.engine.registry.lock import default_lock_dir, model_lock
    from govern.engine.registry.mlflow import MlflowRegistry

    targets = sorted({(str(i.get("tracking_uri")), str((i.get("model") or {}).get("name"))) for i in pending})
    for uri, name in targets:
        try:
            registry = MlflowRegistry(uri)
            with model_lock(default_lock_dir(), registry.uri, name):
                for record in resolve_open_intents(log, registry, name):
                    stderr(f"resolved: {record['message']} → {record['result']} (record {record['seq']})")
        except GovernError as exc:
            stderr(f"cannot resolve the interrupted gates on {name} at {uri}: {exc}")
    from govern.engine.audit import open_intents

    return open_intents(log.records())


def _alias_change(record: dict[str, Any]) -> str:
    """``champion: 2 → 1`` for a move, the alias alone otherwise."""
    alias = str(record.get("alias") or "")
    moved = record.get("result") in ("promoted", "rolled_back", "recovered") and record.get("to")
    if alias and moved:
        before = record.get("from") or record.get("previous") or "none"
        quarantined = record.get("quarantined")
        held = f" ({quarantined.get('version')} quarantined)" if isinstance(quarantined, dict) else ""
        return f"{alias}: {before} → {record.get('to')}{held}"
    if alias and record.get("phase") == "intent" and record.get("to"):
        return f"{alias}: {record.get('previous') or 'none'} → {record.get('to')}?"
    return alias


def _model_of(record: dict[str, Any]) -> dict[str, Any]:
    model = record.get("model")
    return model if isinstance(model, dict) else {"name": model}


@audit_app.command("show")
@handle_errors
def audit_show(
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only records of this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON lines.")] = False,
) -> None:
    """Print the audit log's records, oldest first.

    Example:  govern audit show --model credit-risk
    """
    from govern.engine.audit import AuditLog

    log = AuditLog(audit_log)
    _existing_log(audit_log, log.head_path)
    records = [r for r in log.records() if model is None or _model_of(r).get("name") == model]
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from govern.engine.formats.sanitize import one_line

    def cell(value: object) -> Text:  # plain text: never Rich markup, never an escape sequence
        return Text(one_line(str(value)))

    table = Table(title=Text(one_line(f"{audit_log} ({len(records)} records)")))
    for column in ("seq", "time", "gate", "model", "alias", "result", "outcome", "decision"):
        table.add_column(column)
    for r in records:
        m = _model_of(r)
        result = "intent" if r.get("phase") == "intent" else str(r.get("result", ""))
        cells = (
            str(r.get("seq")),
            str(r.get("time", ""))[:19],
            str(r.get("action", "")).removeprefix("gate."),
            f"{m.get('name')} v{m.get('version')}" if m.get("version") else str(m.get("name")),
            _alias_change(r),
            result + (" (dry run)" if r.get("dry_run") else ""),
            str(r.get("outcome", "")),
            str(r.get("decision_id") or "")[:8],
        )
        table.add_row(*(cell(c) for c in cells))
    Console(width=max(120, os.get_terminal_size().columns if sys.stdout.isatty() else 120)).print(table)

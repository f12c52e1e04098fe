"""``govern replay``: judge a decision record's evidence again; say whether it reproduces.

Thin: load the record (a file, or a model version's gate record from MLflow), call
:func:`govern.engine.replay.replay`, print the comparison, exit 0 when reproduced.
"""

from __future__ import annotations

import json
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

from .common import handle_errors, write_atomic
from .options import (
    AsOfOpt,
    BackendOpt,
    NoBuiltinOpt,
    OpaUrlOpt,
    OutputOpt,
    ParamOpt,
    PoliciesOpt,
    V0Opt,
    parse_as_of,
    pipeline_options,
)

if TYPE_CHECKING:
    from govern.engine.evidence.document import EvidenceDocument
    from govern.engine.record import DecisionRecord
    from govern.engine.replay import ReplayReport

__all__ = ["replay"]


def _text(report: ReplayReport) -> str:
    before, after = report.original.decision, report.replayed.decision
    lines = [
        f"replay of decision {before.decision_id} ({before.spec.get('name')}, stage {before.stage.value}, "
        f"waivers as of {after.as_of.isoformat()})",
        f"  recorded: {before.outcome.value:<5} policies {before.policy_digest[:19]}…  "
        f"backend {before.backend} {before.backend_version}",
        f"  replayed: {after.outcome.value:<5} policies {after.policy_digest[:19]}…  "
        f"backend {after.backend} {after.backend_version}",
    ]
    if report.policy_changed:
        lines.append("  the policy set differs from the recorded one")
    if report.params_changed:
        lines.append("  the parameters differ from the recorded ones")
    if report.reproduced:
        lines.append(f"REPRODUCED  {len(after.results)} rule results identical")
    else:
        lines.append(f"CHANGED  {len(report.changes)} rule result(s) differ:")
        for change in report.changes:
            was = change.before.value if change.before else "absent"
            now = change.after.value if change.after else "absent"
            lines.append(f"  {change.rule_id}: {was} → {now}")
            if change.message_before != change.message_after:
                lines.append(f"      was: {change.message_before or '-'}")
                lines.append(f"      now: {change.message_after or '-'}")
    return _plain(lines)


def _plain(lines: list[str]) -> str:
    """Lines for a terminal or a CI log: record text (rule ids, messages, model names) is user
    text, so control characters, escape sequences and workflow commands are neutralized."""
    from govern.engine.formats.sanitize import one_line

    return "".join(one_line(line) + "\n" for line in lines)


def _json(report: ReplayReport) -> str:
    return (
        json.dumps(
            {
                "reproduced": report.reproduced,
                "policy_changed": report.policy_changed,
                "params_changed": report.params_changed,
                "outcome": {
                    "recorded": report.original.decision.outcome.value,
                    "replayed": report.replayed.decision.outcome.value,
                },
                "changes": [
                    {
                        "rule_id": c.rule_id,
                        "before": c.before.value if c.before else None,
                        "after": c.after.value if c.after else None,
                        "message_before": c.message_before,
                        "message_after": c.message_after,
                    }
                    for c in report.changes
                ],
                "replayed": report.replayed.to_dict(),
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _from_registry(
    ref: str, stage: str | None, tracking_uri: str | None
) -> tuple[DecisionRecord, EvidenceDocument | None]:
    from govern.engine.registry.records import fetch_gate_record

    name, sep, version = ref.rpartition("/")
    if not sep or not name or not version:
        raise ConfigError(f"{ref!r} is neither a record file nor MODEL/VERSION")
    return fetch_gate_record(name, version, stage, tracking_uri)


def _replay_audit_log(log_path: Path, model: str | None, tracking_uri: str | None, output_format: str) -> int:
    """Replay every gate decision an audit log names; 0 when all reproduce."""
    from govern.engine.audit import AuditLog, load_key
    from govern.engine.registry.mlflow import MlflowRegistry, resolve_tracking_uri
    from govern.engine.registry.records import audited_gate_decisions, load_audited_record
    from govern.engine.replay import replay as replay_record

    if not log_path.is_file():
        raise ConfigError(f"--audit-log {log_path}: no such file")
    log = AuditLog(log_path, load_key(None))
    verified = log.verify()
    if not verified.ok:  # the log is what vouches for each stored record: it must hold first
        raise ConfigError(
            f"{log_path} does not verify (record {verified.first_bad}: {verified.reason}); "
            "nothing is replayed from it"
        )
    entries = [
        e
        for e in audited_gate_decisions(log.records())
        if model is None or (e.get("model") or {}).get("name") == model
    ]
    if not entries:
        raise ConfigError(f"{log_path} names no stored gate decision" + (f" of {model}" if model else ""))
    registries: dict[str, MlflowRegistry] = {}
    lines: list[str] = []
    rows: list[dict[str, object]] = []
    reproduced = 0
    for entry in entries:
        uri = resolve_tracking_uri(None, tracking_uri or entry.get("tracking_uri"))
        registry = registries.setdefault(uri, MlflowRegistry(uri))
        stored, evidence = load_audited_record(registry, entry)
        report = replay_record(stored, evidence=evidence)
        reproduced += report.reproduced
        m = entry.get("model") or {}
        what = f"#{entry.get('seq')} {entry.get('action')} {m.get('name')} v{m.get('version')}"
        state = "REPRODUCED" if report.reproduced else f"CHANGED ({len(report.changes)} rule results)"
        if report.policy_changed:
            state += ", policy set differs"
        was, now = stored.decision.outcome.value, report.replayed.decision.outcome.value
        lines.append(f"{what:<44} {was:<5} → {now:<5} {state}")
        rows.append(
            {
                "seq": entry.get("seq"),
                "decision_id": stored.decision_id,
                "reproduced": report.reproduced,
                "policy_changed": report.policy_changed,
                "changes": [c.rule_id for c in report.changes],
            }
        )
    lines.append(f"{reproduced} of {len(entries)} gate decisions reproduced")
    text = _plain(lines) if output_format == "text" else json.dumps(rows, indent=2) + "\n"
    write_atomic(text, None)
    return 0 if reproduced == len(entries) else 1


@handle_errors
def replay(
    record: Annotated[
        str | None,
        typer.Argument(
            help="A decision record file (govern check -f json, a gate's artifact), or MODEL/VERSION "
            "to replay the gate decision recorded on that model version in MLflow.",
            show_default=False,
        ),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            help="Replay every gate decision this audit log names (records fetched from MLflow).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="With --audit-log: only this model's decisions.")
    ] = None,
    evidence: Annotated[
        Path | None,
        typer.Option("--evidence", "-e", help="The evidence, when the record holds it by reference only."),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", "-s", help="With MODEL/VERSION: the gate's stage (register or deploy)."),
    ] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI.")] = None,
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    as_of: AsOfOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    output: OutputOpt = None,
) -> None:
    """Re-evaluate a recorded decision and report whether it reproduces.

    By default the record is replayed as it was taken: its spec (the record keeps its text), its
    parameters, its policy sources, the day its waivers were judged. Give --policies,
    --no-builtin, --param or --backend to see what a different policy set or engine would
    decide on the same evidence. Exit 0 when every rule result is reproduced, 1 when any
    changed, 2 on bad input, 3 when the replay could not decide.

    Examples:
      govern check spec.yaml -e evidence.json -f json -o record.json && govern replay record.json
      govern replay adult-income/2 --stage deploy
      govern replay --audit-log .govern/audit.jsonl
      govern replay record.json -p policies/next/ --backend opa --opa-url http://127.0.0.1:8181
    """
    from govern.engine.evidence import load_evidence
    from govern.engine.record import load_record
    from govern.engine.replay import recorded_options
    from govern.engine.replay import replay as replay_record

    if output_format not in ("text", "json"):
        raise ConfigError(f"unknown format {output_format!r}; choose text or json")
    if audit_log is not None:
        if record is not None:
            raise ConfigError("give a record or --audit-log, not both")
        raise typer.Exit(_replay_audit_log(audit_log, model, tracking_uri, output_format))
    if record is None:
        raise ConfigError("give a record file, MODEL/VERSION, or --audit-log FILE")
    path = Path(record)
    if path.exists() or record.endswith(".json"):
        loaded = load_record(path)
        stored_evidence = None
    else:
        loaded, stored_evidence = _from_registry(record, stage, tracking_uri)
    document = load_evidence(evidence) if evidence is not None else stored_evidence
    options = None
    changed = policies or v0_compatible or no_builtin or param or as_of or backend is not BackendName.EMBEDDED
    if changed:
        recorded = recorded_options(loaded)
        options = pipeline_options(
            backend=backend,
            opa_url=opa_url,
            policies=policies,
            v0_compatible=v0_compatible,
            no_builtin=no_builtin or not recorded.builtin,
            params=param,
            decision_log=None,
            as_of=parse_as_of(as_of) or recorded.as_of,
            command="replay",
        )
        if not policies:
            options = dataclass_replace(options, policies=recorded.policies)
        if not param:
            options = dataclass_replace(options, params=recorded.params)
    report = replay_record(loaded, evidence=document, options=options, use_recorded_params=not param)
    write_atomic(_text(report) if output_format == "text" else _json(report), output)
    raise typer.Exit(report.exit_code)

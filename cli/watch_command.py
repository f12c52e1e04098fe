"""``govern watch``: re-run the rollback gate on a schedule, one logged decision per round.

An alternative to a Kubernetes CronJob or a systemd timer running ``govern gate rollback``:
one long-lived process that judges the alias holder every ``--every`` seconds, prints one line
per decision (JSON with ``--format json``) and stops cleanly on SIGTERM or SIGINT, finishing the
round in progress first. A round that cannot decide (Prometheus down, exit 3) is logged and the
watch goes on; bad input (exit 2) stops it, since re-running will not fix it.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import threading
import time
from types import FrameType
from typing import Annotated

import typer

from govern.engine.backends import BackendName
from govern.engine.errors import ConfigError

from .common import handle_errors, stderr
from .options import (
    BackendOpt,
    DecisionLogOpt,
    NoBuiltinOpt,
    OpaUrlOpt,
    ParamOpt,
    PoliciesOpt,
    V0Opt,
    pipeline_options,
)
from .registry_commands import DEFAULT_AUDIT_LOG, AuditPath, SpecArg, TrackingUri

__all__ = ["watch"]


def _line(round_no: int, result: object, seconds: float, output_format: str) -> str:
    from govern.engine.gates import GateResult

    assert isinstance(result, GateResult)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if output_format == "json":
        return json.dumps(
            {
                "time": stamp,
                "round": round_no,
                "action": result.action.value,
                "exit_code": result.exit_code,
                "model": result.model,
                "version": result.version,
                "previous": result.previous,
                "to": result.to,
                "alias": result.alias,
                "decision_id": result.decision.decision_id if result.decision else None,
                "seconds": round(seconds, 3),
                "message": result.message,
            }
        )
    action = result.action.value.replace("_", " ")
    return f"{stamp} round {round_no}: {action}: {result.message} ({seconds:.2f} s)"


@handle_errors
def watch(
    spec: SpecArg,
    every: Annotated[float, typer.Option("--every", help="Seconds between rounds.", min=0.1)] = 60.0,
    alias: Annotated[
        str | None, typer.Option("--alias", help="The alias to judge (default: champion).")
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", help="Stop after this many rounds (default: until SIGTERM).", min=1),
    ] = None,
    tracking_uri: TrackingUri = None,
    audit_log: AuditPath = DEFAULT_AUDIT_LOG,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="text or json (one line each).")
    ] = "text",
    policies: PoliciesOpt = None,
    v0_compatible: V0Opt = False,
    no_builtin: NoBuiltinOpt = False,
    param: ParamOpt = None,
    backend: BackendOpt = BackendName.EMBEDDED,
    opa_url: OpaUrlOpt = None,
    decision_log: DecisionLogOpt = None,
) -> None:
    """Judge the alias holder on live metrics every N seconds and roll back when it fails.

    Runs `govern gate rollback` in a loop (instead of a CronJob or a systemd timer); each round
    is a full gate run with its audit record. SIGTERM or SIGINT ends it cleanly (exit 0).

    Example:  govern watch spec.yaml --every 30 --format json
    """
    from govern.engine.audit import AuditLog, load_key
    from govern.engine.evidence.collect import CollectOptions
    from govern.engine.gates import Gate, GateContext, run_gate
    from govern.engine.pipeline import Pipeline
    from govern.engine.registry.mlflow import MlflowRegistry, resolve_tracking_uri
    from govern.engine.spec import load_spec

    if output_format not in ("text", "json"):
        raise ConfigError(f"unknown output format {output_format!r}; choose text or json")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        model_spec = load_spec(spec)
        registry = MlflowRegistry(resolve_tracking_uri(model_spec.model.tracking_uri, tracking_uri))
        options = pipeline_options(
            backend=backend,
            opa_url=opa_url,
            policies=policies,
            v0_compatible=v0_compatible,
            no_builtin=no_builtin,
            params=param,
            decision_log=decision_log,
            as_of=None,
            command="watch",
        )
        with Pipeline(model_spec, options) as pipeline:
            ctx = GateContext(
                registry=registry,
                audit=AuditLog(audit_log, load_key(None)),
                decide=pipeline.decide,
                collect=CollectOptions(with_model=False),
            )
            round_no = 0
            while not stop.is_set():
                round_no += 1
                started = time.perf_counter()
                result = run_gate(Gate.ROLLBACK, model_spec, ctx, alias=alias)
                print(_line(round_no, result, time.perf_counter() - started, output_format), flush=True)
                if result.exit_code == 2:
                    stderr(f"error: {result.message}")
                    raise typer.Exit(2)
                if rounds is not None and round_no >= rounds:
                    break
                stop.wait(every)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.stdout.flush()

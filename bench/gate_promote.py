"""Benchmark: `govern gate promote` end to end against the bare MLflow client calls it makes,
and `govern collect` on a run with 1,000 metrics and 1,000 params, on a local sqlite store.

    python bench/gate_promote.py [--quick] [--before REV]

Both sides run in this process, on the same store, in the same run. "Bare" is the minimum a
hand-written gate would call: read the candidate, its run, the alias holder and its run, the
model info, then write the decision tags, the decision artifact and the alias. govern adds
policy evaluation, evidence validation, the audit records (fsync) and the per-model lock.

"before" is the gate module as it was at git revision REV (default: the last one without the
write-ahead audit), loaded from git into this process beside today's: the difference between the
two rows is the cost of the intent record, the stored evidence, the compare-and-set and read-back
of the alias, and the resolution scan of the log. Both use today's audit log class (whose head
write also fsyncs its folder), so the difference slightly understates the change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mlflow_helpers import GATE_SPEC, log_run  # noqa: E402


def timed(func: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        out.append((time.perf_counter() - start) * 1000)
    return out


def load_gates_at(rev: str) -> Any:
    """The gates module as it was at ``rev``, imported under another name; None without git."""
    import importlib.util
    import subprocess

    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:engine/gates.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        print(f"(no 'before' row: cannot read engine/gates.py at {rev} from git)")
        return None
    name = "govern.engine._gates_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "govern.engine"
    sys.modules[name] = module
    exec(compile(source, f"engine/gates.py@{rev}", "exec"), module.__dict__)
    return module


def main() -> None:  # noqa: PLR0915 - a benchmark script reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", default="ad17aab", help="git revision of the gates to compare with")
    args = parser.parse_args()
    repeat = 5 if args.quick else 15

    import mlflow
    from mlflow import MlflowClient

    from govern.engine.audit import AuditLog
    from govern.engine.evidence.collect import CollectOptions, collect_evidence
    from govern.engine.evidence.mlflow import Target
    from govern.engine.gates import Action, Gate, GateContext, run_gate
    from govern.engine.pipeline import Pipeline
    from govern.engine.registry.mlflow import MlflowRegistry
    from govern.engine.spec import Stage, load_spec

    folder = Path(tempfile.mkdtemp(prefix="govern-bench-"))
    uri = f"sqlite:///{folder}/mlflow.db"
    spec = load_spec(GATE_SPEC)
    registry = MlflowRegistry(uri)
    pipeline = Pipeline(spec).__enter__()
    checker = pipeline.checker  # the gates before the decision record decided with the bare checker
    ctx = GateContext(
        registry=registry,
        audit=AuditLog(folder / "audit.jsonl"),
        decide=pipeline.decide,
        collect=CollectOptions(with_model=False),
        lock_dir=folder / "locks",
    )
    before = load_gates_at(args.before)
    before_ctx = (
        before.GateContext(
            registry=registry,
            audit=AuditLog(folder / "before.jsonl"),
            decide=checker.decide,
            collect=CollectOptions(with_model=False),
            lock_dir=folder / "locks-before",
        )
        if before
        else None
    )
    versions = []
    for _ in range(3 * repeat + 1):
        result = run_gate(Gate.REGISTER, spec, ctx, run_id=log_run(uri, 0.9))
        assert result.action is Action.REGISTERED, result.message
        versions.append(str(result.version))
    registry.set_alias("gate-test", "champion", versions[0])
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    govern_queue = iter(versions[1 : repeat + 1])
    bare_queue = iter(versions[repeat + 1 : 2 * repeat + 1])
    before_queue = iter(versions[2 * repeat + 1 :])

    def govern_promote() -> None:
        result = run_gate(Gate.PROMOTE, spec, ctx, version=next(govern_queue))
        assert result.action is Action.PROMOTED, result.message

    def bare_promote() -> None:
        version = next(bare_queue)
        mv = client.get_model_version("gate-test", version)
        client.get_run(mv.run_id)
        holder = client.get_model_version_by_alias("gate-test", "champion")
        client.get_run(holder.run_id)
        mlflow.models.get_model_info(f"models:/gate-test/{version}")
        for key in (
            "decision_id",
            "outcome",
            "policy_digest",
            "evidence_digest",
            "time",
            "decision_artifact",
        ):
            client.set_model_version_tag("gate-test", version, f"govern.deploy.{key}", "x")
        client.log_text(mv.run_id, "{}", f"govern/decisions/{version}.json")
        client.set_registered_model_alias("gate-test", "champion", version)

    def before_promote() -> None:
        assert before is not None
        result = before.run_gate(before.Gate.PROMOTE, spec, before_ctx, version=next(before_queue))
        assert result.action.value == "promoted", result.message

    rows = []
    g, b, old = [], [], []
    for _ in range(repeat):  # interleave to share the machine's noise
        g += timed(govern_promote, 1)
        b += timed(bare_promote, 1)
        if before is not None:
            old += timed(before_promote, 1)
    rows.append(("gate promote", statistics.median(g), statistics.median(b)))
    if old:
        rows.append((f"gate promote @{args.before}", statistics.median(old), statistics.median(b)))
        overhead = statistics.median(g) - statistics.median(old)
        print(
            f"write-ahead audit overhead: {overhead:+.1f} ms per promote "
            f"({overhead / statistics.median(old):+.0%})"
        )

    # a run with 1,000 metrics and 1,000 params
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:
        mlflow.log_params({f"p{i}": i for i in range(1000)})
        mlflow.log_metrics({f"m{i}": i / 1000 for i in range(1000)})
        mlflow.set_tag("team", "bench")
    big = Target(run_id=run.info.run_id, artifact_path="model", name="gate-test")

    def govern_collect() -> None:
        collect_evidence(spec, Stage.REGISTER, registry, big, CollectOptions(with_model=False))

    def bare_collect() -> None:
        client.get_run(run.info.run_id)
        with contextlib.suppress(Exception):  # no model is logged on this run, as for govern
            mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")

    gc, bc = [], []
    for _ in range(repeat):
        gc += timed(govern_collect, 1)
        bc += timed(bare_collect, 1)
    rows.append(("collect 1k metrics+params", statistics.median(gc), statistics.median(bc)))

    print(f"{'what':28} {'govern ms':>10} {'bare ms':>10} {'ratio':>7}")
    for name, gov, bare in rows:
        print(f"{name:28} {gov:10.1f} {bare:10.1f} {gov / bare:7.2f}")
    print(
        "RESULT "
        + json.dumps(
            {
                name.replace(" ", "_"): {"govern_ms": round(gv, 1), "bare_ms": round(br, 1)}
                for name, gv, br in rows
            }
        )
    )


if __name__ == "__main__":
    main()

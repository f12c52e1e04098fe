"""govern against real MLflow: ten gates racing on one sqlite store, and a real `mlflow server`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govern.engine.audit import AuditLog

from .conftest import govern_bin
from .mlflow_helpers import GATE_SPEC, log_live, log_run

pytest.importorskip("mlflow")


def gate(
    *args: str, uri: str, audit: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    command = [govern_bin(), "gate", *args, str(GATE_SPEC), "--tracking-uri", uri, "--audit-log", str(audit),
               "--format", "json"]  # fmt: skip
    if args[0] != "rollback":
        command.append("--no-model")
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or dict(os.environ),
    )


@pytest.mark.slow
def test_ten_concurrent_promotions_leave_one_holder_and_a_consistent_log(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    versions = [register_in_process(uri, tmp_path / "register.jsonl") for _ in range(10)]
    audit = tmp_path / "promote.jsonl"
    procs = [gate("promote", "--version", v, uri=uri, audit=audit, cwd=tmp_path) for v in versions]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert {r["action"] for r in results} == {"promoted"}
    log = AuditLog(audit)
    report = log.verify()
    assert report.ok, report
    assert report.records == 20  # an intent and an outcome per gate
    records = [r for r in log.records() if r["phase"] == "outcome"]
    assert len(records) == 10
    # the per-model lock makes the history linear: each promotion names the one before it
    assert records[0]["previous"] is None
    for before, after in itertools.pairwise(records):
        assert after["previous"] == before["model"]["version"]
    assert sorted(r["model"]["version"] for r in records) == sorted(versions)
    from govern.engine.registry.mlflow import MlflowRegistry

    holder = MlflowRegistry(uri).get_alias("gate-test", "champion")
    assert holder is not None
    assert holder.version == records[-1]["model"]["version"]


def run_in_process(uri: str, audit: Path, gate: Any, registry: Any = None, **kwargs: Any) -> Any:
    from govern.engine.evidence.collect import CollectOptions
    from govern.engine.gates import GateContext, run_gate
    from govern.engine.pipeline import Pipeline
    from govern.engine.registry.mlflow import MlflowRegistry
    from govern.engine.spec import load_spec

    spec = load_spec(GATE_SPEC)
    with Pipeline(spec) as pipeline:
        ctx = GateContext(
            registry=registry or MlflowRegistry(uri),
            audit=AuditLog(audit),
            decide=lambda evidence, stage: pipeline.decide(evidence, stage, dt.date(2026, 11, 27)),
            collect=CollectOptions(with_model=False),
        )
        return run_gate(gate, spec, ctx, **kwargs)


def register_in_process(uri: str, audit: Path, accuracy: float = 0.9) -> str:
    from govern.engine.gates import Action, Gate

    result = run_in_process(uri, audit, Gate.REGISTER, run_id=log_run(uri, accuracy))
    assert result.action is Action.REGISTERED, result.message
    assert result.version is not None
    return str(result.version)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on loopback, started once per session (it takes 15-30 s)."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    if not mlflow_cli.exists() and shutil.which("mlflow") is None:
        pytest.skip("the mlflow server is not installed (pip install mlflow)")
    command = [str(mlflow_cli if mlflow_cli.exists() else "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--backend-store-uri", f"sqlite:///{folder}/server.db",
               "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"]  # fmt: skip
    log = open(folder / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not become healthy in 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
def test_gates_against_a_real_mlflow_server(mlflow_server: str, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    run_one = gate(
        "register", "--run-id", log_run(mlflow_server, 0.9), uri=mlflow_server, audit=audit, cwd=tmp_path
    )
    out, err = run_one.communicate(timeout=120)
    assert run_one.returncode == 0, err
    v1 = json.loads(out)["version"]
    promote = gate("promote", "--version", v1, uri=mlflow_server, audit=audit, cwd=tmp_path)
    out, err = promote.communicate(timeout=120)
    assert promote.returncode == 0, err
    assert json.loads(out)["action"] == "promoted"
    # the decision JSON went to the run as an artifact, and the version carries the tags
    from govern.engine.registry.mlflow import MlflowRegistry

    registry = MlflowRegistry(mlflow_server)
    version = registry.get_version("gate-test", v1)
    assert version.tags["govern.deploy.outcome"] == "pass"
    artifact = version.tags["govern.deploy.decision_artifact"]
    import mlflow

    text = mlflow.artifacts.load_text(f"runs:/{version.run_id}/{artifact}")
    assert json.loads(text)["decision"]["decision_id"] == version.tags["govern.deploy.decision_id"]
    log_live(mlflow_server, "gate-test", v1, 0.5)
    rollback = gate("rollback", uri=mlflow_server, audit=audit, cwd=tmp_path)
    out, err = rollback.communicate(timeout=120)
    assert rollback.returncode == 1, err
    assert json.loads(out)["action"] == "refused"  # the only version: nowhere vetted to go back to
    assert AuditLog(audit).verify().records == 6  # an intent and an outcome per gate


@pytest.mark.slow
def test_unreachable_server_exits_3_and_records_the_error(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    proc = gate("promote", "--version", "1", uri=f"http://127.0.0.1:{free_port()}", audit=audit, cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3
    assert "Traceback" not in err
    assert "failed at http://127.0.0.1" in err
    assert AuditLog(audit).records()[-1]["result"] == "error"


@pytest.mark.slow
def test_write_ahead_recovery_against_a_real_mlflow_server(mlflow_server: str, tmp_path: Path) -> None:
    """The key fault cases over HTTP: a gate killed after the alias moved, and a lost response."""
    from govern.engine.gates import Action, Gate
    from govern.engine.registry.mlflow import MlflowRegistry

    from .test_gate_faults import KILLED_GATE, ROOT, Faulty

    audit = tmp_path / "audit.jsonl"
    locks = tmp_path / "locks"
    env = {**os.environ, "GOVERN_LOCK_DIR": str(locks)}
    registry = MlflowRegistry(mlflow_server)
    a = register_in_process(mlflow_server, audit, accuracy=0.95)
    b = register_in_process(mlflow_server, audit, accuracy=0.951)
    c = register_in_process(mlflow_server, audit, accuracy=0.952)
    promote = gate("promote", "--version", a, uri=mlflow_server, audit=audit, cwd=tmp_path, env=env)
    _, err = promote.communicate(timeout=120)
    assert promote.returncode == 0, err
    # killed after set_alias, before the read-back and the outcome record
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_GATE, mlflow_server, str(audit), str(locks), "promote", b, "-",
         "registry_written", str(GATE_SPEC)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    verify = subprocess.run(
        [govern_bin(), "audit", "verify", "--audit-log", str(audit)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "recovered" in verify.stderr
    assert registry.get_alias("gate-test", "champion").version == b  # type: ignore[union-attr]
    # the server applies set_alias, the client sees an error: read back, recorded as promoted
    result = run_in_process(
        mlflow_server, audit, Gate.PROMOTE, registry=Faulty(registry, "set_alias", applied=True), version=c
    )
    assert result.action is Action.PROMOTED, result.message
    log = AuditLog(audit)
    assert log.verify().ok
    last_move = [r for r in log.records() if r.get("phase") == "outcome" and r.get("to")][-1]
    assert last_move["to"] == c
    assert registry.get_alias("gate-test", "champion").version == c  # type: ignore[union-attr]

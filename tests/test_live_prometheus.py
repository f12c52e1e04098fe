"""Live evidence for real: exporter → Prometheus → PromQL → evidence → decision → alias move.

Debian's `prometheus` scrapes a `prometheus_client` exporter started here, every second; the
rollback gate reads it through the HTTP API and moves a real MLflow (sqlite) alias.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from govern.engine.audit import AuditLog

from .conftest import govern_bin
from .mlflow_helpers import use_experiment
from .prometheus_helpers import Exporter, Prometheus, exporter, free_port, prometheus, prometheus_binary

pytest.importorskip("mlflow")
pytest.importorskip("prometheus_client")
if prometheus_binary() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs prometheus: apt-get install -y prometheus")
    pytest.skip("prometheus is not installed (apt-get install -y prometheus)", allow_module_level=True)

MODEL = "live-test"
SELECT = 'model="$model",version="$version"'
QUERIES = {
    "auc": f"model_live_auc{{{SELECT}}}",
    "error_rate": f"model_live_error_rate{{{SELECT}}}",
    "samples": f"sum(max_over_time(model_live_labelled{{{SELECT}}}[$window])) or vector(0)",
}


def write_spec(
    path: Path, url: str, *, queries: dict[str, str] | None = None, waive_quarantine: bool = False
) -> Path:
    q = {**QUERIES, **(queries or {})}
    waivers = ""
    if waive_quarantine:
        waivers = (
            "waivers:\n"
            "  - {rule: GOV-LIVE-007, reason: re-promoted after the live data issue was fixed, "
            "approver: jane.doe@example.com, expires: '2099-01-01', stages: [deploy]}\n"
        )
    path.write_text(
        f"""apiVersion: govern/v1
kind: ModelSpec
metadata:
  name: {MODEL}
  owner: ml-platform@example.com
  risk_tier: limited
  description: A small model whose live metrics Prometheus scrapes from its server.
model:
  registered: {{name: {MODEL}, alias: champion}}
intended_use:
  primary_uses: [Testing live rollbacks.]
requirements:
  metrics:
    auc: {{min: 0.8}}
  live:
    auc: {{max_relative_drop: 0.02, query: '{q["auc"]}'}}
    error_rate: {{max: 0.05, aggregate: max, query: '{q["error_rate"]}'}}
monitoring:
  prometheus: {{url: '{url}', timeout: 2}}
  window: 30s
  step: 2s
  min_samples: {{query: '{q["samples"]}', min: 100}}
policies:
  packs: [metrics, live]
{waivers}"""
    )
    return path


def log_version(uri: str, auc: float) -> str:
    """Log a run with a tiny model and its validation AUC; register it; return the version."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # another test module may have pointed the registry elsewhere
    use_experiment("live-tests")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with mlflow.start_run() as run:
        mlflow.log_metric("auc", auc)
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    return str(version.version)


@dataclass
class Env:
    uri: str
    audit: Path
    prom: Prometheus
    exp: Exporter
    tmp: Path

    def spec(self, name: str = "spec.yaml", **kwargs: Any) -> Path:
        return write_spec(self.tmp / name, self.prom.url, **kwargs)

    def gate(self, gate: str, spec: Path, **kwargs: Any) -> Any:
        from govern.engine.evidence.collect import CollectOptions
        from govern.engine.gates import Gate, GateContext, run_gate
        from govern.engine.pipeline import Pipeline
        from govern.engine.registry.mlflow import MlflowRegistry
        from govern.engine.spec import load_spec

        model_spec = load_spec(spec)
        with Pipeline(model_spec) as pipeline:
            ctx = GateContext(
                registry=MlflowRegistry(self.uri),
                audit=AuditLog(self.audit),
                decide=pipeline.decide,
                collect=CollectOptions(with_model=False),
            )
            return run_gate(Gate(gate), model_spec, ctx, **kwargs)

    def holder(self) -> str | None:
        from govern.engine.registry.mlflow import MlflowRegistry

        record = MlflowRegistry(self.uri).get_alias(MODEL, "champion")
        return record.version if record else None

    def tags(self, version: str) -> dict[str, str]:
        from govern.engine.registry.mlflow import MlflowRegistry

        return dict(MlflowRegistry(self.uri).get_version(MODEL, version).tags)

    def scraped(self, version: str, auc: float) -> None:
        """Wait until Prometheus has scraped this AUC for the version."""
        self.prom.wait_for(
            f'model_live_auc{{model="{MODEL}",version="{version}"}}',
            lambda r: abs(float(r[0]["value"][1]) - auc) < 1e-12,
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("live")
    uri = f"sqlite:///{tmp}/mlflow.db"
    with exporter() as exp, prometheus(tmp / "prometheus", exp.port) as prom:
        e = Env(uri=uri, audit=tmp / "audit.jsonl", prom=prom, exp=exp, tmp=tmp)
        v1 = log_version(uri, 0.90)
        v2 = log_version(uri, 0.91)
        spec = e.spec()
        for version in (v1, v2):
            promoted = e.gate("promote", spec, version=version)
            assert promoted.action.value == "promoted", promoted.message
        yield e


def test_relative_auc_drop_rolls_back_to_a_healthy_version_and_quarantines(env: Env) -> None:
    spec = env.spec()
    assert env.holder() == "2"
    # healthy: AUC 0.9 against a validation AUC of 0.91 is a relative drop of 1.1 %
    env.exp.serve(MODEL, "2", auc=0.90, error_rate=0.01, labelled=400)
    env.scraped("2", 0.90)
    kept = env.gate("rollback", spec)
    assert kept.action.value == "kept", kept.message
    live = {r.rule_id: r for r in kept.decision.results}
    assert live["GOV-LIVE-005"].result.value == "pass"
    # a real drop: 0.88 is 3.3 % below 0.91
    env.exp.serve(MODEL, "2", auc=0.88, error_rate=0.01, labelled=400)
    env.scraped("2", 0.88)
    rolled = env.gate("rollback", spec)
    assert rolled.action.value == "rolled_back", rolled.message
    assert rolled.exit_code == 1
    failed = [r for r in rolled.decision.results if r.result.value == "fail"]
    assert [r.rule_id for r in failed] == ["GOV-LIVE-005"]
    assert "relative drop of 0.032967033 from its validation value of 0.91" in failed[0].message
    assert env.holder() == "1"
    tags = env.tags("2")
    assert tags["govern.quarantine.decision_id"] == rolled.decision.decision_id
    assert tags["govern.quarantine.reason"] == "GOV-LIVE-005"

    # the restored version has no traffic yet: too few samples → skipped, kept, never refused
    restored = env.gate("rollback", spec)
    assert restored.action.value == "kept", restored.message
    skipped = {r.rule_id: r for r in restored.decision.results}["GOV-LIVE-005"]
    assert skipped.result.value == "skip"
    assert "not enough live samples over 30s: 0, fewer than the 100 required" in skipped.message
    # then it is judged on its own live evidence, against its own validation AUC (0.90)
    env.exp.serve(MODEL, "1", auc=0.895, error_rate=0.02, labelled=300)
    env.scraped("1", 0.895)
    judged = env.gate("rollback", spec)
    assert judged.action.value == "kept", judged.message
    assert judged.decision.results
    assert {r.rule_id: r for r in judged.decision.results}["GOV-LIVE-005"].result.value == "pass"

    # the quarantined version cannot be promoted again, unless a waiver says so
    denied = env.gate("promote", spec, version="2")
    assert denied.action.value == "denied"
    assert [r.rule_id for r in denied.decision.results if r.result.value == "fail"] == ["GOV-LIVE-007"]
    assert env.holder() == "1"
    waived = env.gate("promote", env.spec("waived.yaml", waive_quarantine=True), version="2")
    assert waived.action.value == "promoted", waived.message
    assert env.holder() == "2"
    # back to the state the other tests expect: 1 holds the alias, 2 is quarantined
    from govern.engine.registry.mlflow import MlflowRegistry

    MlflowRegistry(env.uri).set_alias(MODEL, "champion", "1")


def test_windowed_error_rate_and_the_evidence_records_queries(env: Env, tmp_path: Path) -> None:
    spec = env.spec()
    env.exp.serve(MODEL, "2", auc=0.9, error_rate=0.09, labelled=400)
    env.prom.wait_for(f'max_over_time(model_live_error_rate{{model="{MODEL}",version="2"}}[30s]) > 0.08')
    out = tmp_path / "evidence.json"
    run = subprocess.run(
        [
            govern_bin(),
            "collect",
            str(spec),
            "--stage",
            "rollback",
            "--version",
            "2",
            "--no-model",
            "--tracking-uri",
            env.uri,
            "-o",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    live = json.loads(out.read_text())["live"]
    assert live["window"] == "30s"
    assert live["samples"] == 400
    assert live["judged"] is True
    assert live["metrics"]["error_rate"] == 0.09
    assert live["baseline"] == {"auc": 0.91}
    assert {q["name"]: q["endpoint"] for q in live["queries"]} == {
        "samples": "query",
        "auc": "query",
        "error_rate": "query_range",
    }
    assert all('version="2"' in q["query"] for q in live["queries"])
    error_query = next(q for q in live["queries"] if q["name"] == "error_rate")
    assert error_query["points"] >= 2
    check = subprocess.run(
        [govern_bin(), "check", str(spec), "--evidence", str(out), "--stage", "rollback", "--format", "json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1, check.stderr
    failed = [r for r in json.loads(check.stdout)["decision"]["results"] if r["result"] == "fail"]
    assert [r["rule_id"] for r in failed] == ["GOV-LIVE-002"]


@pytest.mark.parametrize(
    ("fault", "exit_code", "says"),
    [
        ("unreachable", 3, "could not be reached for the query 'sum(max_over_time(model_live_labelled{"),
        ("query error", 3, "Prometheus rejected the query 'model_live_auc{"),
        ("empty result", 3, "the query 'model_live_missing{"),
        ("NaN", 3, "returned NaN: no usable value"),
        ("several series", 2, 'model="live-test", version="1"}, {__name__="model_live_auc"'),
    ],
)
def test_faults_reach_no_decision_and_never_move_the_alias(
    env: Env, fault: str, exit_code: int, says: str
) -> None:
    before = env.holder()
    url = env.prom.url
    queries: dict[str, str] = {}
    if fault == "unreachable":
        url = f"http://127.0.0.1:{free_port()}"
    elif fault == "query error":
        queries = {"auc": "model_live_auc{" + SELECT + "}[5m"}
    elif fault == "empty result":
        queries = {"auc": "model_live_missing{" + SELECT + "}"}
    elif fault == "NaN":
        env.exp.serve(MODEL, "nan", auc=float("nan"), error_rate=0.0, labelled=500)
        env.prom.wait_for(f'model_live_labelled{{model="{MODEL}",version="nan"}}')
        queries = {"auc": 'model_live_auc{model="$model",version="nan"}'}
    elif fault == "several series":
        env.exp.serve(MODEL, "2", auc=0.88, error_rate=0.01, labelled=400)
        env.prom.wait_for(f'count(model_live_auc{{model="{MODEL}"}}) >= 2')
        queries = {"auc": 'model_live_auc{model="$model",version=~"1|2"}'}
    spec = write_spec(env.tmp / "fault.yaml", url, queries=queries)
    result = env.gate("rollback", spec)
    assert result.action.value == "error", result.message
    assert result.exit_code == exit_code
    assert says in result.message, result.message
    assert env.holder() == before
    record = AuditLog(env.audit).records()[-1]
    assert record["result"] == "error"
    assert record["message"] == result.message


def test_watch_rolls_back_when_the_live_metric_crosses_and_stops_on_sigterm(env: Env) -> None:
    from govern.engine.registry.mlflow import MlflowRegistry

    registry = MlflowRegistry(env.uri)
    v3 = log_version(env.uri, 0.92)
    spec = env.spec()
    assert env.gate("promote", spec, version=v3).action.value == "promoted"
    env.exp.serve(MODEL, v3, auc=0.915, error_rate=0.01, labelled=500)
    env.scraped(v3, 0.915)
    watch = subprocess.Popen(
        [
            govern_bin(),
            "watch",
            str(spec),
            "--every",
            "1",
            "--format",
            "json",
            "--tracking-uri",
            env.uri,
            "--audit-log",
            str(env.audit),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        first = json.loads(watch.stdout.readline())
        assert first["action"] == "kept", first
        crossed = time.monotonic()
        env.exp.serve(MODEL, v3, auc=0.85, error_rate=0.01, labelled=500)
        moved_at = None
        while time.monotonic() - crossed < 60:
            holder = registry.get_alias(MODEL, "champion")
            if holder is not None and holder.version != v3:
                moved_at = time.monotonic()
                break
            time.sleep(0.05)
        assert moved_at is not None, "the alias never moved"
        latency = moved_at - crossed
        print(f"threshold crossed → alias moved with govern watch --every 1: {latency:.2f} s")
        assert holder is not None
        assert holder.version in ("1", "2")
        lines = [json.loads(watch.stdout.readline())]
        while lines[-1]["action"] == "kept":
            lines.append(json.loads(watch.stdout.readline()))
        assert lines[-1]["action"] == "rolled_back", lines
        assert (lines[-1]["version"], lines[-1]["to"]) == (v3, holder.version), lines  # judged, moved to
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=30) == 0, watch.stderr.read() if watch.stderr else ""
    finally:
        if watch.poll() is None:
            watch.kill()


@pytest.mark.slow
def test_the_live_demo_rolls_back_on_a_real_auc_drop(tmp_path: Path) -> None:
    from .test_readme import readme_commands

    root = Path(__file__).resolve().parent.parent
    command = readme_commands()[1].strip()  # the README's second command, as written
    assert command == "scripts/demo-live.sh"
    venv = Path(govern_bin()).parent.parent
    run = subprocess.run(
        [str(root / command)],
        # MLflow calls earlier in this process export MLFLOW_* variables: the demo has its own store
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            "GOVERN_DEMO_DIR": str(tmp_path / "demo"),
            "GOVERN_VENV": str(venv),
        },
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "round 1: kept: version 2 is healthy" in out
    assert "rolled back: rolled live-demo@champion back from version 2 to 1; version 2 quarantined" in out
    assert "FAIL   │ GOV-LIVE-007" in out
    assert "intact:" in out
    from govern.engine.registry.mlflow import MlflowRegistry

    registry = MlflowRegistry(f"sqlite:///{tmp_path / 'demo' / 'mlflow.db'}")
    holder = registry.get_alias("live-demo", "champion")
    assert holder is not None
    assert holder.version == "1"
    assert registry.get_version("live-demo", "2").tags["govern.quarantine.reason"] == "GOV-LIVE-005"

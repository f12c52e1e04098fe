"""The OPA backend against a real OPA server (one per session), and against injected faults.

The fault servers are the only stand-ins: a closed port, and a small HTTP server that answers
the push like OPA but fails the queries (HTTP 500, a proxy's HTML 502, a stall).
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from govern.engine.backends import create_backend
from govern.engine.backends.opa import MARKER_KEY, OpaBackend, merge_modules, parse_opa_url, policy_id
from govern.engine.check import Checker
from govern.engine.decision import EXIT_ERROR, Outcome, Result
from govern.engine.errors import BackendError, ConfigError, PolicyLoadError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import (
    PolicyModule,
    builtin_modules,
    load_policy_set,
    make_policy_set,
    modules_from_path,
)
from govern.engine.spec import PolicySource, RegoVersion, Stage, load_spec

from .conformance.opa_server import OpaServer, free_port, shared_server, stop_shared
from .conftest import EVIDENCE, ROOT, SPEC, TODAY, govern_bin, run_govern


@pytest.fixture(scope="session")
def opa() -> Iterator[OpaServer]:
    yield shared_server()
    stop_shared()


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_spec(SPEC)


def results_of(decision) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return sorted((r.rule_id, r.result.value, r.message) for r in decision.results)


# --- without a server -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://127.0.0.1:8181", "http://127.0.0.1:8181/v1"),
        ("http://opa.internal:8181/", "http://opa.internal:8181/v1"),
        ("https://opa.example.com", "https://opa.example.com:443/v1"),
        ("http://localhost:8181/v1", "http://localhost:8181/v1"),
        ("https://gw.example.com/opa/", "https://gw.example.com:443/opa/v1"),
        ("http://[::1]:8181", "http://[::1]:8181/v1"),
    ],
)
def test_opa_url_is_parsed(url: str, root: str) -> None:
    assert parse_opa_url(url).root_url == root


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8181", "ftp://x:1", "http://", "http://h:99999", "http://u:p@h:1", "http://h:1/?a=1"]
)
def test_bad_opa_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="--opa-url"):
        parse_opa_url(url)


def test_policy_ids_are_keyed_by_digest_and_url_safe() -> None:
    digest = "sha256:" + "ab" * 32
    assert policy_id(digest, "govern/policies/metrics/metrics.rego") == (
        "govern/abababababab/govern/policies/metrics/metrics.rego"
    )
    assert policy_id(digest, "/home/me/my policies/../team.rego") == (
        "govern/abababababab/home/me/my_policies/team.rego"
    )


def test_the_opa_backend_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="--opa-url URL or GOVERN_OPA_URL"):
        create_backend("opa")
    backend = create_backend("opa", "http://127.0.0.1:8181")
    assert isinstance(backend, OpaBackend)
    with pytest.raises(BackendError, match="before a policy set was loaded"):
        backend.evaluate({}, ("govern.metrics",))


def test_closed_port_is_a_backend_error_quickly(spec) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"unreachable \(connection refused\)"):
        Checker.for_spec(spec, load_policy_set(spec), create_backend("opa", url))
    assert time.monotonic() - started < 5


def test_cli_closed_port_exits_3_never_a_pass() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = run_govern("check", str(SPEC), "-e", str(EVIDENCE), "--backend", "opa", "--opa-url", url)
    assert run.code == EXIT_ERROR
    assert "unreachable" in run.stderr
    assert "PASS" not in run.stdout


def test_cli_opa_backend_without_url_exits_2() -> None:
    run = run_govern("check", str(SPEC), "-e", str(EVIDENCE), "--backend", "opa")
    assert run.code == 2
    assert "--opa-url" in run.stderr


# --- injected faults ------------------------------------------------------------------------


class FaultyOpa(http.server.BaseHTTPRequestHandler):
    """Accepts the push like OPA, then answers every query with ``mode``."""

    mode: ClassVar[str] = "500"

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def do_GET(self) -> None:
        self._send(200, b'{"result": []}' if self.path.startswith("/v1/policies") else b"{}")

    def do_PUT(self) -> None:
        self._drain()
        if self.path.startswith("/v1/policies"):
            self._send(200, b"{}")
        else:
            self._send(204, b"")

    def do_POST(self) -> None:
        self._drain()
        if self.mode == "500":
            body = {
                "code": "internal_error",
                "message": "boom",
                "errors": [{"code": "x", "message": "disk on fire"}],
            }
            self._send(500, json.dumps(body).encode())
        elif self.mode == "502":
            self._send(502, b"<html>Bad Gateway</html>", "text/html")
        else:  # "stall"
            time.sleep(1.0)
            self._send(200, b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def faulty() -> Iterator[tuple[str, http.server.ThreadingHTTPServer]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultyOpa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("mode", "says"), [("500", "disk on fire"), ("502", "HTTP 502")])
def test_erroring_server_gives_an_error_decision(
    spec, example_evidence, faulty, monkeypatch, mode, says
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FaultyOpa, "mode", mode)
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("opa", faulty[0]))
    decision = checker.decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision.outcome is Outcome.ERROR
    assert decision.exit_code(no_fail=True) == EXIT_ERROR
    assert says in decision.errors[0]
    assert all(r.result in (Result.ERROR, Result.SKIP) for r in decision.results)


def test_stalled_server_times_out(spec, example_evidence, faulty, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FaultyOpa, "mode", "stall")
    backend = OpaBackend(faulty[0], timeout=0.2, retries=0)
    checker = Checker.for_spec(spec, load_policy_set(spec), backend)
    started = time.monotonic()
    decision = checker.decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision.outcome is Outcome.ERROR
    assert "timed out" in decision.errors[0]
    # after the first timeout the backend fails fast: not one timeout per rule
    assert time.monotonic() - started < 2


def test_server_gone_after_load_fails_fast(spec, example_evidence, faulty) -> None:  # type: ignore[no-untyped-def]
    checker = Checker.for_spec(spec, load_policy_set(spec), create_backend("opa", faulty[0]))
    faulty[1].shutdown()
    faulty[1].server_close()
    started = time.monotonic()
    decision = checker.decide(evidence_from_value(example_evidence), today=TODAY)
    assert decision.outcome is Outcome.ERROR
    assert "unreachable" in decision.errors[0]
    assert time.monotonic() - started < 5


# --- a real OPA -----------------------------------------------------------------------------


def test_example_decides_like_embedded(opa, spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    policy_set = load_policy_set(spec)
    evidence = evidence_from_value(example_evidence)
    with create_backend("opa", opa.url) as backend:
        decision = Checker.for_spec(spec, policy_set, backend).decide(evidence, today=TODAY)
        assert decision.backend == "opa"
        assert decision.backend_version.startswith("opa 1.22.4 (opa-python-client 3.0.0)")
    embedded = Checker.for_spec(spec, policy_set, create_backend("embedded")).decide(evidence, today=TODAY)
    assert decision.outcome is Outcome.PASS
    assert results_of(decision) == results_of(embedded)


def test_params_go_to_data_govern_params_without_clobbering(opa, spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    requests.put(f"{opa.url}/v1/data/govern/other", json={"keep": True}, timeout=5).raise_for_status()
    with create_backend("opa", opa.url) as backend:
        checker = Checker.for_spec(spec, load_policy_set(spec), backend)
        stored = requests.get(f"{opa.url}/v1/data/govern/params", timeout=5).json()["result"]
        assert stored == checker.params
        assert requests.get(f"{opa.url}/v1/data/govern/other", timeout=5).json()["result"] == {"keep": True}
        marker = requests.get(f"{opa.url}/v1/data/govern/{MARKER_KEY}", timeout=5).json()["result"]
        assert marker["state"] == "ready"
        assert marker["policy_digest"] == checker.policy_set.digest
        decision = checker.decide(evidence_from_value(example_evidence), today=TODAY)
        assert decision.outcome is Outcome.PASS
    requests.delete(f"{opa.url}/v1/data/govern/other", timeout=5)


def test_another_process_changing_the_parameters_is_detected(opa, spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    policy_set = load_policy_set(spec)
    evidence = evidence_from_value(example_evidence)
    with create_backend("opa", opa.url) as first, create_backend("opa", opa.url) as second:
        mine = Checker.for_spec(spec, policy_set, first)
        Checker.for_spec(spec, policy_set, second, [{"metrics": {"accuracy": {"min": 0.99}}}])
        decision = mine.decide(evidence, today=TODAY)
        assert decision.outcome is Outcome.ERROR
        assert "another govern process" in decision.errors[0]
        again = Checker.for_spec(spec, policy_set, first).decide(evidence, today=TODAY)
        assert again.outcome is Outcome.PASS


def test_cli_check_on_opa_matches_embedded(opa, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = {}
    for name in ("embedded", "opa"):
        out = tmp_path / f"{name}.json"
        run = run_govern(
            "check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27", "--format", "json",
            "--output", str(out), "--backend", name, "--opa-url", opa.url,
        )  # fmt: skip
        assert run.code == 0, run.stderr
        outputs[name] = json.loads(out.read_text())["decision"]
    assert outputs["opa"]["backend"]["name"] == "opa"
    assert outputs["opa"]["results"] == outputs["embedded"]["results"]
    assert outputs["opa"]["outcome"] == outputs["embedded"]["outcome"] == "pass"


def test_opa_url_from_the_environment(opa) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "GOVERN_OPA_URL": opa.url}
    proc = subprocess.run(
        [govern_bin(), "check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27", "--backend", "opa"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "opa 1.22.4" in proc.stdout


def test_query_latency_is_not_nagle_bound(opa, spec, example_evidence) -> None:  # type: ignore[no-untyped-def]
    """A server or client without TCP_NODELAY makes every query wait ~40 ms for a delayed ACK."""
    evidence = evidence_from_value(example_evidence)
    with create_backend("opa", opa.url) as backend:
        checker = Checker.for_spec(spec, load_policy_set(spec), backend)
        value = checker.prepare_input(evidence, Stage.DEPLOY).value
        backend.evaluate(value, checker.policy_set.packages)
        times = []
        for _ in range(30):
            started = time.perf_counter()
            backend.evaluate(value, checker.policy_set.packages)
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.025, f"median {statistics.median(times) * 1000:.1f} ms"


def _govern_policies(url: str) -> dict[str, str]:
    body = requests.get(f"{url}/v1/policies", timeout=5).json()
    return {p["id"]: p["raw"] for p in body["result"] if p["id"].startswith("govern/")}


def test_push_is_idempotent_and_keyed_by_digest(opa, spec) -> None:  # type: ignore[no-untyped-def]
    checks = load_policy_set(spec)
    tests = make_policy_set(builtin_modules(include_tests=True))
    with create_backend("opa", opa.url) as backend:
        assert isinstance(backend, OpaBackend)
        backend.load(checks, {"govern": {"params": {"x": 1}}})
        backend.load(checks, {"govern": {"params": {"x": 1}}})
        assert not backend.pushed
        held = _govern_policies(opa.url)
        prefix = f"govern/{checks.digest.removeprefix('sha256:')[:12]}/"
        # one module per package (files merged), plus the decision module
        merged = merge_modules(checks)
        assert len(merged) == len(checks.packages) < len(checks.modules) + 1
        assert sorted(held) == sorted([*(p.pid for p in merged), policy_id(checks.digest, "_decision.rego")])
        assert all(pid.startswith(prefix) for pid in held)
        backend.load(tests, {})
        assert backend.pushed
        held = _govern_policies(opa.url)
        assert len(held) == len(merge_modules(tests)) + 1
        assert not any(pid.startswith(prefix) for pid in held)
        # the parameters of the first load are gone with it
        assert "result" not in requests.get(f"{opa.url}/v1/data/govern/params", timeout=5).json()
        # a module edited on the server behind govern's back is pushed again
        some = next(iter(held))
        requests.put(f"{opa.url}/v1/policies/{some}", data=held[some] + "\n# edited\n", timeout=5)
        backend.load(tests, {})
        assert backend.pushed
        assert _govern_policies(opa.url)[some] == held[some]


def test_govern_test_runs_the_rego_unit_tests_on_opa(opa) -> None:  # type: ignore[no-untyped-def]
    run = run_govern("test", "--backend", "opa", "--opa-url", opa.url)
    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == "PASS: 156/156"


def _module(tmp_path: Path, text: str, name: str = "team.rego") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("package team.bad\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := x\n}\n", 6, "unsafe"),
        (
            "package team.bad\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := 1 +* 2\n}\n",
            6,
            "unexpected",
        ),
        ("package team.bad\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := nope(1)\n}\n", 6, "nope"),
    ],
    ids=["unsafe-var", "syntax", "unknown-function"],
)
def test_compile_errors_name_the_file_and_line(opa, tmp_path, text, line, words) -> None:  # type: ignore[no-untyped-def]
    path = _module(tmp_path, text)
    # built by hand, so OPA sees the file even when govern's own parser would refuse it first
    module = PolicyModule(
        path=str(path),
        text=text,
        rego_version=RegoVersion.V1,
        package="team.bad",
        is_test=False,
        builtin=False,
    )
    policy_set = make_policy_set([*builtin_modules(["metrics"]), module])
    with create_backend("opa", opa.url) as backend, pytest.raises(PolicyLoadError) as caught:
        backend.load(policy_set, {})
    error = caught.value
    assert error.location is not None
    assert error.location.file == str(path)
    assert error.location.line == line
    assert words in error.message
    with pytest.raises(PolicyLoadError) as embedded:  # at parse time or at load, never later
        create_backend("embedded").load(
            make_policy_set(builtin_modules(["metrics"]) + modules_from_path(path)), {}
        )
    assert embedded.value.location is not None
    assert embedded.value.location.file == str(path)
    assert embedded.value.location.line == line


def test_v0_policy_on_a_v1_server_says_how(opa, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _module(tmp_path, 'package team.legacy\n\ndeny[msg] {\n\tmsg := "old"\n}\n')
    policy_set = make_policy_set(modules_from_path(path, RegoVersion.V0))
    with create_backend("opa", opa.url) as backend, pytest.raises(PolicyLoadError) as caught:
        backend.load(policy_set, {})
    assert caught.value.location is not None
    assert caught.value.location.file == str(path)
    assert caught.value.hint is not None
    assert "--v0-compatible" in caught.value.hint


RISKY = """package team.risky

import rego.v1

# METADATA
# custom:
#   id: TEAM-001
deny_deep_trees contains msg if {
	to_number(input.run.params.max_depth) > 10
	msg := "trees too deep"
}

# METADATA
# custom:
#   id: TEAM-002
deny_conflict contains msg if {
	verdict == "no"
	msg := "conflicting"
}

verdict := "yes" if input.run.params.random_state == "42"

verdict := "no" if input.run.params.random_state != "0"
"""


@pytest.mark.parametrize("backend_name", ["embedded", "opa"])
def test_runtime_errors_are_error_decisions_on_both_engines(
    opa, spec, example_evidence, tmp_path, backend_name
) -> None:  # type: ignore[no-untyped-def]
    path = _module(tmp_path, RISKY)
    policy_set = load_policy_set(spec, [PolicySource(path, RegoVersion.V1)], builtin=False)
    evidence = copy.deepcopy(example_evidence)
    evidence["run"]["params"]["max_depth"] = "three"  # to_number fails: strict-builtin-errors on OPA
    evidence["run"]["params"]["random_state"] = "42"  # both verdicts: a conflict
    with create_backend(backend_name, opa.url) as backend:
        decision = Checker.for_spec(spec, policy_set, backend).decide(
            evidence_from_value(evidence), today=TODAY
        )
    by_id = {r.rule_id: r for r in decision.results}
    assert decision.outcome is Outcome.ERROR
    assert by_id["TEAM-001"].result is Result.ERROR
    assert by_id["TEAM-002"].result is Result.ERROR  # a complete rule with two values
    assert f"{path}:9" in by_id["TEAM-001"].message

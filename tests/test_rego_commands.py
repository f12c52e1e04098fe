"""`govern test` against `opa test`, `govern bundle build`, OPA bundle mode, and what the OPA
backend does when the server loses what was pushed or answers too slowly."""

from __future__ import annotations

import http.server
import json
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from govern.engine.backends.opa import OpaBackend, OpaMode
from govern.engine.bundle import build_bundle
from govern.engine.check import Checker
from govern.engine.decision import Outcome
from govern.engine.errors import BackendError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set, make_policy_set, parse_module
from govern.engine.spec import RegoVersion, Stage, load_spec

from .conformance.opa_server import OpaServer, free_port, healthy, shared_server, stop_shared
from .conftest import EVIDENCE, SPEC, TODAY, run_govern


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaServer]:
    yield shared_server()
    stop_shared()


LIBRARY = {
    "data.json": json.dumps({"lib": {"admins": ["ann"]}}),
    "lib/limits/data.yaml": "limit: 3\n",
    "lib/p.rego": (
        "package lib.p\n\nallow if input.user == data.lib.admins[_]\n\nlimit := data.lib.limits.limit\n"
    ),
    "lib/p_test.rego": (
        "package lib.p_test\n\nimport data.lib.p\n\n"
        'test_admin if p.allow with input as {"user": "ann"}\n'
        'test_not_admin if not p.allow with input as {"user": "bob"}\n'
        "test_limit if p.limit == 3\n"
        "test_wrong if {\n  x := p.limit\n  x == 4\n}\n"
        "todo_test_later if false\n"
        'test_builtin_fails if to_number("x") == 1\n'
        'test_prints if {\n  print("limit is", p.limit)\n  p.limit == 3\n}\n'
    ),
    "vendor/broken.rego": "package vendor\n\nthis is not rego\n",
    "conflict_test.rego": "package c\n\nx := 1\n\nx := 2\n\ntest_conflict if x == 1\n",
}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for name, text in LIBRARY.items():
        path = tmp_path / "policies" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "policies"


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    out = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
    for r in results:
        key = "fail" if r.get("fail") else "error" if r.get("error") else "skip" if r.get("skip") else "pass"
        out[key] += 1
    return out


def test_govern_test_counts_like_opa_test(library: Path, opa: OpaServer) -> None:
    ours = run_govern("test", str(library), "--ignore", "vendor", "--format", "json", "--no-builtin")
    assert ours.code == 2, ours.stderr
    theirs = subprocess.run(
        [opa.binary, "test", str(library), "--ignore", "vendor", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert theirs.returncode == 2, theirs.stderr
    assert counts(json.loads(ours.stdout)) == counts(json.loads(theirs.stdout))
    assert counts(json.loads(ours.stdout)) == {"pass": 4, "fail": 2, "error": 1, "skip": 1}
    names = lambda out: sorted((r["package"], r["name"]) for r in json.loads(out))  # noqa: E731
    assert names(ours.stdout) == names(theirs.stdout)


def test_govern_test_exit_codes_and_options(library: Path) -> None:
    # a load error is exit 1 (as opa test), naming the file
    broken = run_govern("test", str(library))
    assert broken.code == 1
    assert "broken.rego" in broken.stderr
    # only the passing tests: exit 0
    passing = run_govern("test", str(library), "--ignore", "vendor", "--run", "admin|limit")
    assert passing.code == 0, passing.stdout + passing.stderr
    assert passing.stdout.strip().splitlines()[-1] == "PASS: 3/3"
    # -v: every test, and the failing expression
    verbose = run_govern("test", str(library), "--ignore", "vendor", "-v", "--run", "wrong|later")
    assert verbose.code == 2
    assert "data.lib.p_test.test_wrong: FAIL" in verbose.stdout
    assert "p_test.rego:10: Fail x == 4" in verbose.stdout
    assert "data.lib.p_test.todo_test_later: SKIPPED" in verbose.stdout
    # -v: what print() wrote, as opa test -v shows it
    notes = run_govern("test", str(library), "--ignore", "vendor", "-v", "--run", "prints")
    assert notes.code == 0, notes.stdout + notes.stderr
    assert "p_test.rego:15: limit is 3" in notes.stdout
    assert notes.stderr == ""
    # --data adds a document at the root
    extra = library.parent / "more.json"
    extra.write_text(json.dumps({"lib": {"admins": ["bob"]}}))
    both = run_govern("test", str(library), "--ignore", "vendor", "--data", str(extra), "--run", "not_admin")
    assert both.code == 1  # data.lib.admins defined twice: a load error
    assert "defined twice" in both.stderr


def test_govern_test_coverage_and_threshold(library: Path) -> None:
    run = run_govern("test", str(library), "--ignore", "vendor", "--coverage", "--run", "admin")
    report = json.loads(run.stdout)
    assert set(report) == {"files", "covered_lines", "not_covered_lines", "coverage"}
    tests = next(v for k, v in report["files"].items() if k.endswith("lib/p_test.rego"))
    assert tests["covered_lines"] >= 1  # the tests that ran
    assert tests["not_covered_lines"] >= 1  # the tests --run left out
    assert 0 < report["coverage"] < 100
    assert run.code == 0
    strict = run_govern(
        "test", str(library), "--ignore", "vendor", "--coverage", "--run", "admin", "--threshold", "100"
    )
    assert strict.code == 2
    assert "threshold not met" in strict.stderr


def test_govern_test_bench(library: Path) -> None:
    run = run_govern(
        "test", str(library), "--ignore", "vendor", "--bench", "--run", "test_admin", "--format", "json"
    )
    rows = json.loads(run.stdout)
    assert [r["name"] for r in rows] == ["data.lib.p_test.test_admin"]
    assert rows[0]["n"] > 1
    assert rows[0]["ns_per_op"] > 0


# --- bundles ---------------------------------------------------------------------------------


def test_bundle_build_is_reproducible_and_holds_the_digest(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for out in (first, second):
        run = run_govern("bundle", "build", str(SPEC), "-o", str(out))
        assert run.code == 0, run.stderr
    assert first.read_bytes() == second.read_bytes()
    spec = load_spec(SPEC)
    digest = load_policy_set(spec).digest
    with tarfile.open(first) as tar:
        manifest = json.load(tar.extractfile(".manifest"))  # type: ignore[arg-type]
        data = json.load(tar.extractfile("data.json"))  # type: ignore[arg-type]
        names = tar.getnames()
    assert manifest["revision"] == digest
    assert manifest["roots"] == ["govern"]
    assert data["govern"]["_bundle"]["policy_digest"] == digest
    assert "accuracy" in json.dumps(data["govern"]["params"])
    assert all(name.startswith("govern/") for name in names if name.endswith(".rego"))


@pytest.fixture
def bundle_server(tmp_path: Path, opa: OpaServer) -> Iterator[tuple[str, Path]]:
    bundle = tmp_path / "govern.tar.gz"
    assert run_govern("bundle", "build", str(SPEC), "-o", str(bundle)).code == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [opa.binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error",
         "--skip-version-check", "-b", str(bundle)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not healthy(url):
            assert time.monotonic() < deadline, "opa run -b did not start"
            assert process.poll() is None, "opa run -b exited"
            time.sleep(0.05)
        yield url, bundle
    finally:
        process.terminate()
        process.wait(timeout=10)


def _check(url: str, *args: str, mode: str = "bundle") -> Any:
    import os

    env = {**os.environ, "GOVERN_OPA_MODE": mode}
    from .conftest import govern_bin

    return subprocess.run(
        [govern_bin(), "check", str(SPEC), "--evidence", str(EVIDENCE), "--as-of", "2026-11-27",
         "--backend", "opa", "--opa-url", url, *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_bundle_mode_decides_on_the_served_revision_and_never_pushes(bundle_server: tuple[str, Path]) -> None:
    url, _ = bundle_server
    before = sorted(p["id"] for p in requests.get(f"{url}/v1/policies", timeout=5).json()["result"])
    run = _check(url)
    assert run.returncode == 0, run.stdout + run.stderr
    after = sorted(p["id"] for p in requests.get(f"{url}/v1/policies", timeout=5).json()["result"])
    assert after == before
    # other parameters than the bundle's: refused, exit 3
    other = _check(url, "--param", "metrics.accuracy.min=0.5")
    assert other.returncode == 3
    assert "other parameters" in other.stderr


def test_bundle_mode_refuses_a_server_without_the_revision(opa: OpaServer) -> None:
    run = _check(opa.url)
    assert run.returncode == 3
    assert "bundle revision" in run.stderr
    assert "govern bundle build" in run.stderr


# --- push mode: what the server holds is proven in every decision -----------------------------


ALWAYS = 'package team\n\n# METADATA\n# custom:\n#   id: TEAM-ALWAYS\ndeny_always := "never"\n'


def test_a_module_lost_after_the_push_makes_the_decision_an_error(opa: OpaServer) -> None:
    spec = load_spec(SPEC)
    team = parse_module("team/always.rego", ALWAYS, RegoVersion.V1, builtin=False)
    policy_set = make_policy_set([*load_policy_set(spec).modules, team])
    evidence = evidence_from_value(json.loads(EVIDENCE.read_text()))
    with OpaBackend(opa.url) as backend:
        checker = Checker.for_spec(spec, policy_set, backend)
        assert checker.decide(evidence, Stage.DEPLOY, TODAY).outcome is Outcome.FAIL
        held = requests.get(f"{opa.url}/v1/policies", timeout=5).json()["result"]
        lost = next(p["id"] for p in held if "team" in p["id"])
        requests.delete(f"{opa.url}/v1/policies/{lost}", timeout=5).raise_for_status()
        decision = checker.decide(evidence, Stage.DEPLOY, TODAY)
        assert decision.outcome is Outcome.ERROR
        assert "no longer holds" in decision.errors[0]


class SlowOpa(http.server.BaseHTTPRequestHandler):
    """Answers every query after ``delay`` seconds with HTTP 503 (retryable)."""

    delay: ClassVar[float] = 0.4

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        self.send_response(503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_decision_deadline_holds_across_retries() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowOpa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = OpaBackend(
            f"http://127.0.0.1:{server.server_address[1]}", timeout=5, retries=50, decision_timeout=1.0
        )
        backend._marker = {"state": "ready"}  # as if loaded: only the query path is under test
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"deadline|HTTP 503"):
            backend.evaluate({}, ("p",))
        assert time.monotonic() - started < 2.0
    finally:
        server.shutdown()
        server.server_close()


def test_push_mode_names_bundle_mode_in_errors_only_when_asked(opa: OpaServer) -> None:
    backend = OpaBackend(opa.url, mode=OpaMode.BUNDLE)
    policy_set = make_policy_set(
        [parse_module("t.rego", "package t\n\ndeny := 1\n", RegoVersion.V1, builtin=False)]
    )
    with pytest.raises(BackendError, match="bundle mode never pushes"):
        backend.load(policy_set, {})
    assert build_bundle(policy_set, {}).revision == policy_set.digest

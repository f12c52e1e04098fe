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

from .conformance.opa_server import OpaServer, free_port, healthy, shared_server, start_server, stop_shared
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


# Constructs where the embedded engine, left alone, gives another test outcome than `opa test`
# (found by running public Rego libraries under both tools); each file is a minimal repro.
PARITY_V0 = {
    "dup/a_test.rego": "package dup\n\ntest_same { true }\n\ntest_same { false }\n\ntest_other { 1 == 1 }\n",
    "dup/b_test.rego": "package dup\n\ntest_same { true }\n",
    "chained/chained_test.rego": (
        "package chained\n\n"
        'value(obj) = v {\n  obj.kind == "A"\n  v := obj.a\n} {\n  obj.kind == "B"\n  v := obj.b\n}\n\n'
        'label = "x" {\n  input.a\n} {\n  input.b\n}\n\n'
        'test_first_body { value({"kind": "A", "a": 1}) == 1 }\n'
        'test_second_body { value({"kind": "B", "b": 2}) == 2 }\n'
        'test_second_body_of_a_rule { label == "x" with input as {"b": true} }\n'
    ),
    "unify/unify_test.rego": (
        "package unify\n\nitems[x] { x := input.items[_] }\n\npicked[c] { c = items[c] }\n\n"
        'test_picked { picked == {1, 2} with input as {"items": [1, 2]} }\n'
    ),
    "copies/one/lib.rego": 'package copies\n\nmake(a, b) = {"o": {"a": a, "b": b}}\n',
    "copies/two/lib.rego": 'package copies\n\nmake(a, b) = {"o": {"a": a, "b": b}}\n',
    "copies/one/lib_test.rego": (
        'package copies\n\nbase := {"k": "v"}\n\ntest_make { x := {"r": make(base, {})}; x.r.o.a.k == "v" }\n'
    ),
    "builtins/builtins_test.rego": (
        "package builtins\n\n"
        "exempt(c) {\n"
        '  p := object.get(object.get(input, "parameters", {}), "exempt", [])\n'
        "  p[_] == c\n}\n\n"
        "violation[msg] {\n  c := input.cs[_]\n  not exempt(c)\n"
        '  msg := sprintf("%v is not allowed, limit %d", [c])\n}\n\n'
        'test_null_parameters {\n  count(violation) == 1 with input as {"parameters": null, "cs": ["a"]}\n}\n'
        "test_exempt {\n"
        '  count(violation) == 0 with input as {"parameters": {"exempt": ["a"]}, "cs": ["a"]}\n}\n'
        "test_missing_verb {\n"
        '  violation == {"a is not allowed, limit %!d(MISSING)"} with input as {"cs": ["a"]}\n}\n'
        'test_to_number_fails { to_number("x") == 1 }\n'
    ),
    "conflicts/conflicts_test.rego": (
        "package conflicts\n\nv = 1 { input.a }\n\nv = 2 { input.b }\n\n"
        "f(x) = 1 { x > 0 }\n\nf(x) = 2 { x > 1 }\n\n"
        'test_rule_conflict { v == 1 with input as {"a": true, "b": true} }\n'
        "test_function_conflict { f(5) == 1 }\n"
        'test_no_conflict { v == 2 with input as {"b": true} }\n'
        "todo_test_later { false }\n"
    ),
}

PARITY_V1 = {
    "keys/keys_test.rego": (
        "package keys\n\npod := input.pod\n\nvolumes contains pod.spec.volumes[_]\n\n"
        'test_no_volumes if count(volumes) == 0 with input as {"pod": {"spec": {}}}\n'
        'test_volumes if volumes == {"a", "b"} with input as {"pod": {"spec": {"volumes": ["a", "b"]}}}\n'
    ),
}

#: What `opa test` (OPA 1.22) reports for the sample: asserted so that the comparison cannot
#: pass by both tools failing to run.
PARITY_EXPECTED = {
    ("dup/a_test.rego", 3, "test_same"): "PASS",
    ("dup/a_test.rego", 5, "test_same"): "FAIL",
    ("dup/b_test.rego", 3, "test_same"): "PASS",
    ("chained/chained_test.rego", 18, "test_second_body"): "PASS",
    ("chained/chained_test.rego", 19, "test_second_body_of_a_rule"): "PASS",
    ("unify/unify_test.rego", 7, "test_picked"): "PASS",
    ("copies/one/lib_test.rego", 5, "test_make"): "PASS",
    ("builtins/builtins_test.rego", 14, "test_null_parameters"): "PASS",
    ("builtins/builtins_test.rego", 17, "test_exempt"): "PASS",
    ("builtins/builtins_test.rego", 20, "test_missing_verb"): "PASS",
    ("builtins/builtins_test.rego", 23, "test_to_number_fails"): "FAIL",
    ("conflicts/conflicts_test.rego", 11, "test_rule_conflict"): "ERROR",
    ("conflicts/conflicts_test.rego", 12, "test_function_conflict"): "ERROR",
    ("conflicts/conflicts_test.rego", 13, "test_no_conflict"): "PASS",
    ("conflicts/conflicts_test.rego", 14, "todo_test_later"): "SKIPPED",
    ("keys/keys_test.rego", 7, "test_no_volumes"): "PASS",
    ("keys/keys_test.rego", 8, "test_volumes"): "PASS",
}


def _per_test(stdout: str, root: Path) -> dict[tuple[str, int, str], str]:
    """Outcome by (file, line, name): OPA numbers duplicated names (``#01``) in no fixed order."""
    out = {}
    for r in json.loads(stdout):
        key = (
            str(Path(r["location"]["file"]).relative_to(root)),
            r["location"]["row"],
            r["name"].split("#")[0],
        )
        out[key] = (
            "FAIL" if r.get("fail") else "ERROR" if r.get("error") else "SKIPPED" if r.get("skip") else "PASS"
        )
    return out


@pytest.mark.parametrize("backend_name", ["embedded", "opa"])
def test_govern_test_gives_opa_tests_outcome_per_test(
    tmp_path: Path, opa: OpaServer, backend_name: str
) -> None:
    seen: dict[tuple[str, int, str], str] = {}
    for files, v0 in ((PARITY_V0, True), (PARITY_V1, False)):
        root = tmp_path / ("v0" if v0 else "v1")
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        flag = ["--v0-compatible"] if v0 else []
        theirs = subprocess.run(
            [opa.binary, "test", *flag, str(root), "--format", "json"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        server = start_server(opa.binary, *flag) if backend_name == "opa" else None
        try:
            backend = ["--backend", "opa", "--opa-url", server.url] if server is not None else []
            ours = run_govern("test", *flag, "--no-builtin", str(root), "--format", "json", *backend)
        finally:
            if server is not None:
                server.stop()
        assert ours.code == theirs.returncode, ours.stderr
        expected, got = _per_test(theirs.stdout, root), _per_test(ours.stdout, root)
        assert got == expected
        seen.update(expected)
    assert {k: seen.get(k) for k in PARITY_EXPECTED} == PARITY_EXPECTED


def test_non_strict_built_ins_are_for_govern_test_only(tmp_path: Path) -> None:
    """The extension that makes a failing built-in undefined refuses to run in a decision."""
    path = tmp_path / "team.rego"
    path.write_text(
        "package team.sneaky\n\nimport rego.v1\n\n"
        "# METADATA\n# custom:\n#   id: TEAM-009\n"
        'deny contains "never" if not govern_nonstrict_call("to_number", ["x"])\n'
    )
    run = run_govern("check", str(SPEC), "--evidence", str(EVIDENCE), "--policies", str(path), "--no-builtin")
    assert run.code != 0, run.stdout
    assert "govern test only" in run.stdout + run.stderr

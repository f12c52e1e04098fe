"""`govern test --backend opa`: a package's tests in one request, a private bundle server.

Per-test outcomes must stay exactly those of evaluating each test alone (and of `opa test`): an
error in one test of a package never masks the others; the batch proves the server still holds
the pushed modules; an OPA evaluation error is answered once, not retried; and without
`--opa-url` govern starts its own OPA from the binary, serving the policies as a bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from govern.engine.backends import UNDEFINED, create_backend
from govern.engine.backends.opa import OpaBackend, OpaMode
from govern.engine.bundle import batched_tests, build_bundle, decision_module
from govern.engine.errors import BackendError, ConfigError
from govern.engine.policyset import make_policy_set, parse_module
from govern.engine.rego_tests import TestOutcome, run_tests
from govern.engine.spec import RegoVersion

from .conformance.opa_server import OpaServer, shared_server, start_server, stop_shared
from .conftest import govern_bin


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaServer]:
    yield shared_server()
    stop_shared()


CLEAN = (
    "package clean_test\n\n"
    "test_a if 1 == 1\n"
    "test_b if 1 == 2\n"
    "test_c if count([1, 2]) == 2\n"
    "test_value := 7\n"
    "todo_test_later if false\n"
)
MIXED = (
    "package mixed_test\n\n"
    "y := 1\n\ny := 2\n\n"  # a conflict: every test reading y is an error
    "test_conflict if y == 1\n"
    "test_fine if 2 == 2\n"
    'test_builtin if to_number("x") == 1\n'
    "test_undefined if input.nothing\n"
    "test_also_conflict if y == 2\n"
)
FILES = {"clean_test.rego": CLEAN, "mixed_test.rego": MIXED}
EXPECTED = {
    "data.clean_test.test_a": TestOutcome.PASS,
    "data.clean_test.test_b": TestOutcome.FAIL,
    "data.clean_test.test_c": TestOutcome.PASS,
    "data.clean_test.test_value": TestOutcome.FAIL,
    "data.clean_test.todo_test_later": TestOutcome.SKIPPED,
    "data.mixed_test.test_conflict": TestOutcome.ERROR,
    "data.mixed_test.test_fine": TestOutcome.PASS,
    "data.mixed_test.test_builtin": TestOutcome.FAIL,
    "data.mixed_test.test_undefined": TestOutcome.FAIL,
    "data.mixed_test.test_also_conflict": TestOutcome.ERROR,
}


def modules() -> list[Any]:
    return [parse_module(name, text, RegoVersion.V1, builtin=False) for name, text in FILES.items()]


class Counting:
    """Counts the queries a backend sends (by URL path), passing them through."""

    def __init__(self, backend: OpaBackend) -> None:
        self.paths: list[str] = []
        original = backend._query

        def query(url_path: str, input_doc: Any, what: str) -> Any:
            self.paths.append(url_path)
            return original(url_path, input_doc, what)

        backend._query = query  # type: ignore[method-assign]


def outcomes(report: Any) -> dict[str, TestOutcome]:
    return {r.path: r.outcome for r in report.results}


def test_batches_cover_each_package_once_and_leave_test_functions_out() -> None:
    fn = parse_module(
        "f_test.rego",
        "package f_test\n\ntest_f(x) if x == 1\n\ntest_g if true\n",
        RegoVersion.V1,
        builtin=False,
    )
    batches = batched_tests(make_policy_set([*modules(), fn]))
    assert batches["clean_test"] == ("tests_0", ("test_a", "test_b", "test_c", "test_value"))
    assert batches["f_test"][1] == ("test_g",)
    assert set(batches) == {"clean_test", "f_test", "mixed_test"}
    # the module reads as Rego v0 too, and without tests=True it has no batch rule
    text = decision_module(make_policy_set(modules()), tests=True)
    assert '"test_conflict": [__v | __v := data.mixed_test.test_conflict]' in text
    assert "tests_" not in decision_module(make_policy_set(modules()))


def test_push_mode_one_request_per_clean_package_and_exact_outcomes(opa: OpaServer) -> None:
    with OpaBackend(opa.url) as backend:
        counting = Counting(backend)
        report = run_tests(modules(), backend)
    assert outcomes(report) == EXPECTED
    # clean_test: its 4 tests in one request; mixed_test: the batch fails (a conflict), then
    # each of its 5 tests alone, so the conflict does not mask test_fine's pass
    batches = [p for p in counting.paths if p.startswith("govern/_decision/tests_")]
    alone = [p for p in counting.paths if not p.startswith("govern/_decision/")]
    assert len(batches) == 2
    assert sorted(alone) == sorted(
        p.removeprefix("data.").replace(".", "/") for p in EXPECTED if "mixed" in p
    )
    # the error text is the one evaluating the test alone gives, naming the author's file
    conflict = next(r for r in report.results if r.name == "test_conflict")
    assert "mixed_test.rego:" in conflict.message
    assert "conflict" in conflict.message


def test_the_same_outcomes_as_one_request_per_test(opa: OpaServer) -> None:
    with OpaBackend(opa.url) as backend:
        batched = outcomes(run_tests(modules(), backend))
        backend.evaluate_rules = lambda paths: {}  # type: ignore[method-assign]
        alone = outcomes(run_tests(modules(), backend))
    assert batched == alone == EXPECTED


def test_an_evaluation_error_is_asked_once(opa: OpaServer) -> None:
    with OpaBackend(opa.url) as backend:
        backend.load(make_policy_set(modules()), {})
        sent: list[str] = []
        original = backend._plain.post

        def post(url: str, **kwargs: Any) -> Any:
            sent.append(url)
            return original(url, **kwargs)

        backend._plain.post = post
        with pytest.raises(BackendError, match="conflict"):
            backend.evaluate_rule(None, "data.mixed_test.test_conflict")
    assert len(sent) == 1  # not retried: the same query fails the same way


def test_a_module_lost_before_a_batch_is_an_error_not_a_result(opa: OpaServer) -> None:
    with OpaBackend(opa.url) as backend:
        backend.load(make_policy_set(modules()), {})
        held = requests.get(f"{opa.url}/v1/policies", timeout=5).json()["result"]
        lost = next(p["id"] for p in held if "clean_test" in p["id"])
        requests.delete(f"{opa.url}/v1/policies/{lost}", timeout=5).raise_for_status()
        with pytest.raises(BackendError, match="no longer holds 1 of the"):
            backend.evaluate_rules(["data.clean_test.test_a"])
        # tests evaluated one by one (their batch fails on a conflict) are followed by the proof
        mixed = [p for p in EXPECTED if "mixed" in p and "todo" not in p]
        with pytest.raises(BackendError, match="no longer holds 1 of the"):
            backend.evaluate_rules(mixed)
        # a new load pushes what is missing again
        assert outcomes(run_tests(modules(), backend)) == EXPECTED


def test_a_bundle_without_batch_rules_is_answered_test_by_test(tmp_path: Path, opa: OpaServer) -> None:
    policy_set = make_policy_set(modules())
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(build_bundle(policy_set, {}).data)  # as `govern bundle build` writes it
    server = start_server(opa.binary, "-b", str(archive))
    try:
        with OpaBackend(server.url, mode=OpaMode.BUNDLE) as backend:
            counting = Counting(backend)
            report = run_tests(modules(), backend)
        assert outcomes(report) == EXPECTED
        assert len([p for p in counting.paths if "/tests_" in p]) == 2  # asked, undefined, then alone
    finally:
        server.stop()


def test_local_server_serves_the_policies_as_a_bundle(
    opa: OpaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERN_OPA_BIN", opa.binary)

    def held() -> list[tuple[str, str]]:
        return sorted(
            (p["id"], p["raw"]) for p in requests.get(f"{opa.url}/v1/policies", timeout=5).json()["result"]
        )

    before = held()
    backend = create_backend("opa", None, bounded=False, local_opa=True)
    assert isinstance(backend, OpaBackend)
    assert backend.mode is OpaMode.BUNDLE
    with backend:
        counting = Counting(backend)
        report = run_tests(modules(), backend)
        url = backend.url
        served = requests.get(f"{url}/v1/data/system/bundles", timeout=5).json()["result"]
        assert [b["manifest"]["revision"] for b in served.values()] == [make_policy_set(modules()).digest]
    assert outcomes(report) == EXPECTED
    assert len([p for p in counting.paths if "/tests_" in p]) == 2
    with pytest.raises(requests.ConnectionError):  # closed: the server is gone
        requests.get(f"{url}/health", timeout=2)
    # the shared server was not written to
    assert held() == before


def test_local_server_needs_a_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOVERN_OPA_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="an `opa` binary on PATH"):
        create_backend("opa", None, bounded=False, local_opa=True)
    with pytest.raises(ConfigError, match="--opa-url URL or GOVERN_OPA_URL"):
        create_backend("opa", None, bounded=False)  # govern check: never starts a server
    monkeypatch.setenv("GOVERN_OPA_BIN", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not an executable file"):
        create_backend("opa", None, bounded=False, local_opa=True)


def _govern_test(folder: Path, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVERN_OPA_BIN": binary}
    env.pop("GOVERN_OPA_URL", None)
    return subprocess.run(
        [govern_bin(), "test", str(folder), "--no-builtin", "--backend", "opa", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_govern_test_on_its_own_opa_counts_like_opa_test(tmp_path: Path, opa: OpaServer) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    ours = _govern_test(tmp_path, opa.binary, "--format", "json")
    theirs = subprocess.run(
        [opa.binary, "test", str(tmp_path), "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ours.returncode == theirs.returncode == 2, ours.stderr

    def tally(out: str) -> dict[str, str]:
        return {
            f"{r['package']}.{r['name']}": "fail" if r.get("fail") else "error" if r.get("error") else
            "skip" if r.get("skip") else "pass"
            for r in json.loads(out)
        }  # fmt: skip

    assert tally(ours.stdout) == tally(theirs.stdout)
    assert tally(ours.stdout) == {
        p: {"pass": "pass", "fail": "fail", "error": "error", "skipped": "skip"}[o.value]
        for p, o in EXPECTED.items()
    }
    # an error in OPA's own text names the author's file, not the bundle's
    verbose = _govern_test(tmp_path, opa.binary, "-v", "--run", "test_conflict")
    assert f"{tmp_path}/mixed_test.rego:" in verbose.stdout
    assert "govern/" not in verbose.stdout


def test_govern_test_on_its_own_opa_refuses_what_opa_refuses(tmp_path: Path, opa: OpaServer) -> None:
    (tmp_path / "q_test.rego").write_text("package q_test\n\ntest_bad if no_such.func(1)\n")
    run = _govern_test(tmp_path, opa.binary)
    assert run.returncode == 1, run.stdout + run.stderr  # a load error, as opa test
    assert "q_test.rego:3" in run.stderr
    assert "undefined function no_such.func" in run.stderr


def test_push_batches_leave_check_decisions_alone(opa: OpaServer) -> None:
    # a policy set without tests gets no batch rule: the decision module govern check pushes is
    # the same as before
    module = parse_module("p.rego", "package p\n\ndeny contains 1 if false\n", RegoVersion.V1, builtin=False)
    policy_set = make_policy_set([module])
    assert batched_tests(policy_set) == {}
    assert decision_module(policy_set, {}, tests=True) == decision_module(policy_set, {})
    with OpaBackend(opa.url) as backend:
        backend.load(policy_set, {})
        assert backend.evaluate({}, ("p",)) == {"p": {"deny": []}}
        assert backend.evaluate_rule(None, "data.p.nothing") is UNDEFINED


def test_push_order_puts_what_a_module_names_first_and_small_modules_early() -> None:
    from govern.engine.backends.opa import merge_modules, push_order

    files = {
        "big.rego": "package big\n\nimport data.lib.util\n\nx := util.f(1)\n" + "# padding\n" * 50,
        "small.rego": "package small\n\ny := 1\n",
        "lib/util.rego": "package lib.util\n\nf(a) := a\n" + "# padding\n" * 80,
        "prefix.rego": "package prefix\n\nimport data.lib\n\nz := lib.util.f(2)\n",
    }
    mods = [parse_module(n, t, RegoVersion.V1, builtin=False) for n, t in files.items()]
    order = [m.package for m in push_order(merge_modules(make_policy_set(mods)))]
    assert order.index("lib.util") < order.index("big")
    assert order.index("lib.util") < order.index("prefix")  # an import of a prefix names it too
    assert order[0] == "small"  # nothing named, and the smallest


def test_push_order_keeps_every_module_of_a_cycle() -> None:
    from govern.engine.backends.opa import merge_modules, push_order

    files = {"a.rego": "package a\n\nx := data.b.y\n", "b.rego": "package b\n\ny := data.a.z\n\nz := 1\n"}
    mods = [parse_module(n, t, RegoVersion.V1, builtin=False) for n, t in files.items()]
    merged = merge_modules(make_policy_set(mods))
    assert sorted(m.pid for m in push_order(merged)) == sorted(m.pid for m in merged)


def test_local_server_takes_another_port_when_its_own_was_taken(
    opa: OpaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import govern.engine.backends.opa as opa_module

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(opa_module, "free_port", lambda: port)
        with OpaBackend.local(opa.binary) as backend:
            assert backend.url.endswith(f":{port}")
            report = run_tests(modules(), backend)
            assert not backend.url.endswith(f":{port}")  # moved, and the client with it
        assert outcomes(report) == EXPECTED


def test_local_server_that_will_not_start_is_an_error(tmp_path: Path) -> None:
    failing = tmp_path / "opa"
    failing.write_text("#!/bin/sh\necho 'something is wrong' >&2\nexit 7\n")
    failing.chmod(0o755)
    with OpaBackend.local(str(failing)) as backend, pytest.raises(BackendError) as caught:
        backend.load(make_policy_set(modules()), {})
    assert "exited (exit status 7): something is wrong" in str(caught.value)

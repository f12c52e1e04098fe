"""Rego v0 and v1 side by side on one OPA server, and OPA's compile errors with every location."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from govern.engine.backends import create_backend
from govern.engine.backends.opa import pushed_text
from govern.engine.check import Checker
from govern.engine.decision import Result
from govern.engine.errors import PolicyLoadError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set, parse_module
from govern.engine.spec import PolicySource, RegoVersion, load_spec

from .conformance.opa_server import OpaServer, start_server
from .conftest import SPEC, TODAY

V0_RULE = 'package article\n\ndeny[msg] { input.run.metrics.bias_score > 0.1; msg := "bias too high" }\n'

pytestmark = pytest.mark.skipif(
    not os.environ.get("GOVERN_OPA_BIN"), reason="GOVERN_OPA_BIN is not set (tools/opa/build.sh builds it)"
)


@pytest.fixture(scope="module")
def v0_server() -> Iterator[OpaServer]:
    server = start_server(os.environ["GOVERN_OPA_BIN"], "--v0-compatible")
    yield server
    server.stop()


def test_a_v1_module_is_pushed_with_its_version_on_the_package_line() -> None:
    module = parse_module(
        "a.rego", "package a # the pack\n\ndeny contains 1 if { false }\n", RegoVersion.V1, builtin=False
    )
    assert pushed_text(module) == "package a import rego.v1 # the pack\n\ndeny contains 1 if { false }\n"
    v0 = parse_module("b.rego", V0_RULE, RegoVersion.V0, builtin=False)
    assert pushed_text(v0) == V0_RULE


def test_the_v0_article_rule_and_the_v1_library_decide_on_one_server(
    v0_server: OpaServer, tmp_path: Path, example_evidence
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "article.rego").write_text(V0_RULE, encoding="utf-8")
    spec = load_spec(SPEC)
    policy_set = load_policy_set(spec, [PolicySource(path=folder, rego_version=RegoVersion.V0)])
    evidence = copy.deepcopy(example_evidence)
    evidence["run"]["metrics"]["bias_score"] = 0.38
    decisions = []
    for backend in (create_backend("opa", v0_server.url), create_backend("embedded")):
        with backend:
            checker = Checker.for_spec(spec, policy_set, backend)
            decisions.append(checker.decide(evidence_from_value(evidence), today=TODAY))
    opa, embedded = decisions
    assert not opa.errors
    by_id = {r.rule_id: r for r in opa.results}
    assert by_id["article.deny"].result is Result.FAIL
    assert by_id["GOV-PERF-001"].result is Result.PASS  # the v1 library ran too
    assert sorted((r.rule_id, r.result) for r in opa.results) == sorted(
        (r.rule_id, r.result) for r in embedded.results
    )


def test_opa_compile_errors_keep_every_location(v0_server: OpaServer, tmp_path: Path) -> None:
    text = (
        "package team\n\nimport rego.v1\n\n"
        "deny contains 1 if {\n\tx := nosuch.fn(1)\n}\n\n"
        "warn contains 2 if {\n\ty := other.missing(2)\n}\n"
    )
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "team.rego").write_text(text, encoding="utf-8")
    spec = load_spec(SPEC)
    policy_set = load_policy_set(
        spec, [PolicySource(path=folder, rego_version=RegoVersion.V1)], builtin=False
    )
    with create_backend("opa", v0_server.url) as backend, pytest.raises(PolicyLoadError) as caught:
        backend.load(policy_set, {"govern": {"params": {}}})
    message = str(caught.value)
    assert "nosuch.fn" in message
    assert "other.missing" in message
    assert f"{folder / 'team.rego'}:10:" in message  # the second error keeps file:row:col

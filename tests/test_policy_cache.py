"""The policy cache: what is derived from policy text is reused only when it provably matches.

A warm cache must give the same policy set and the same decision as no cache; a corrupt,
tampered or foreign entry is ignored and rewritten; errors are never cached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from govern.engine import policy_cache, policyset, rego_ast
from govern.engine.backends import arith_flow, derived, fidelity
from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.check import Checker
from govern.engine.errors import PolicyLoadError
from govern.engine.evidence import load_evidence
from govern.engine.policy_cache import CACHE_ENV, cache_dir
from govern.engine.policyset import PolicySet, load_policy_set, make_policy_set, parse_module
from govern.engine.spec import RegoVersion, load_spec

from .conftest import EVIDENCE, SPEC, TODAY


def _summary(policy_set: PolicySet) -> list[Any]:
    return [
        (m.path, m.package, m.engine_text, m.parsed.text, m.parsed.heads, m.rules, m.tests)
        for m in policy_set.modules
    ]


def _decide(policy_set: PolicySet) -> list[tuple[str, str, str]]:
    spec = load_spec(SPEC)
    backend = EmbeddedBackend()
    checker = Checker.for_spec(spec, policy_set, backend)
    decision = checker.decide(load_evidence(EVIDENCE), None, TODAY)
    return [(r.rule_id, r.result.value, r.message) for r in decision.results]


def test_cache_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    for off in ("", "off", " OFF "):
        monkeypatch.setenv(CACHE_ENV, off)
        assert cache_dir() is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "govern" / "policies"


def test_a_warm_cache_gives_the_same_policy_set_and_decision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = load_spec(SPEC)
    monkeypatch.setenv(CACHE_ENV, "off")
    uncached = load_policy_set(spec)
    expected = _decide(uncached)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    cold = load_policy_set(spec)
    assert _summary(cold) == _summary(uncached)
    assert _decide(cold) == expected
    entries = sorted(tmp_path.glob("*.json"))
    kinds = {json.loads(p.read_text())["key"] for p in entries}
    # parse, annotations, engine text, facts per module; built-ins and the probe per set
    assert len(kinds) == len(entries) > 4 * len(uncached.modules)

    # warm: nothing is parsed or walked again
    def refuse(*_: object, **__: object) -> Any:
        raise AssertionError("derived again despite a warm cache")

    monkeypatch.setattr(rego_ast, "_parse", refuse)
    monkeypatch.setattr(policyset, "_read_annotations", refuse)
    monkeypatch.setattr(fidelity, "rewrite_module", refuse)
    monkeypatch.setattr(arith_flow, "arith_facts", refuse)
    monkeypatch.setattr(derived, "_compute", refuse)
    warm = load_policy_set(spec)
    assert _summary(warm) == _summary(uncached)
    assert all("tree" not in vars(m.parsed) or m.parsed.tree is None for m in warm.modules)
    assert _decide(warm) == expected
    # the tree is still there for whoever asks (parsed again on demand)
    assert warm.modules[0].parsed.ast == uncached.modules[0].parsed.ast


@pytest.mark.parametrize(
    "damage", ["truncate", "value", "key", "garbage", "shape", "value in place", "digest in place"]
)
def test_a_damaged_entry_is_ignored_and_rewritten(
    damage: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    text = (
        'package team.x\n\n# METADATA\n# title: X\ndeny contains msg if {\n\tinput.x > 1\n\tmsg := "x"\n}\n'
    )
    first = parse_module("x.rego", text, RegoVersion.V1, builtin=False)
    values = {p: json.loads(p.read_text())["value"] for p in tmp_path.glob("*.json")}
    (entry,) = [p for p, value in values.items() if isinstance(value, dict) and "package" in value]
    stored = json.loads(entry.read_text())
    if damage == "truncate":
        entry.write_text(entry.read_text()[:40])
    elif damage == "value":  # a changed value no longer matches its digest
        stored["value"]["package"] = "team.evil"
        entry.write_text(json.dumps(stored))
    elif damage == "key":  # an entry copied under another key
        stored["key"] = "0" * 64
        entry.write_text(json.dumps(stored))
    elif damage == "garbage":
        entry.write_bytes(b"\xff\x00 not json")
    elif damage == "value in place":  # the layout as written, one character of the value changed
        written = entry.read_text()
        assert written.startswith('{"key":"')
        assert '","text_sha256":"' in written
        entry.write_text(written.replace('"team.x"', '"team.y"', 1))
    elif damage == "digest in place":
        written = entry.read_text()
        at = written.index('"text_sha256":"') + len('"text_sha256":"')
        entry.write_text(written[:at] + ("0" if written[at] != "0" else "1") + written[at + 1 :])
    else:  # right digest, wrong shape
        stored["value"]["heads"] = [["deny", "five", False, False]]
        stored["sha256"] = policy_cache._value_digest(stored["value"])
        entry.write_text(json.dumps(stored))
    again = parse_module("x.rego", text, RegoVersion.V1, builtin=False)
    assert again.package == first.package == "team.x"
    assert again.rules == first.rules
    assert json.loads(entry.read_text())["value"]["package"] == "team.x"  # rewritten


def test_errors_are_not_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    bad = "package team.x\n\ndeny contains m if {\n\tm := nope(1)\n}\n"
    messages = []
    for _ in range(2):
        policy_set = make_policy_set([parse_module("bad.rego", bad, RegoVersion.V1, builtin=False)])
        with pytest.raises(PolicyLoadError) as caught:
            EmbeddedBackend().load(policy_set, {})
        messages.append((caught.value.message, caught.value.location))
    assert messages[0] == messages[1]
    assert "nope" in messages[0][0]
    with pytest.raises(PolicyLoadError):
        parse_module("syntax.rego", "package x\n\ndeny contains if {\n", RegoVersion.V1, builtin=False)
    before = sorted(tmp_path.glob("*.json"))
    with pytest.raises(PolicyLoadError):
        parse_module("syntax.rego", "package x\n\ndeny contains if {\n", RegoVersion.V1, builtin=False)
    assert sorted(tmp_path.glob("*.json")) == before


def test_an_unwritable_cache_is_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    module = parse_module("x.rego", "package x\n\nok := 1\n", RegoVersion.V1, builtin=False)
    assert module.package == "x"


def test_regorus_version_without_importlib_metadata() -> None:
    from importlib import metadata

    from govern.engine.rego_ast import regorus_version

    assert regorus_version() == f"regorus {metadata.version('gordon-to-regorus')}"


def test_annotations_that_json_cannot_hold_are_read_every_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    text = (
        "package team.d\n\n# METADATA\n# title: Dated\n# custom:\n#   id: TEAM-D-001\n"
        "# reviewed: 2026-01-01\n# 7: seven\n"
        'deny contains msg if {\n\tinput.x > 1\n\tmsg := "x"\n}\n'
    )
    first = parse_module("d.rego", text, RegoVersion.V1, builtin=False)
    second = parse_module("d.rego", text, RegoVersion.V1, builtin=False)
    assert first.rules == second.rules
    assert first.rules[0].id == "TEAM-D-001"
    stored = [json.loads(p.read_text())["value"] for p in tmp_path.glob("*.json")]
    # no annotations entry (a list of [line, line, YAML] triples)
    assert not any(isinstance(v, list) and v and isinstance(v[0], list) for v in stored)


def test_an_entry_is_read_back_from_its_text_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    value = {"b": [1, 2.5, None, True], "a": "é\u2028", "z": {"y": 1, "x": 2}}
    got = policy_cache.cached("test", ("one",), lambda: value, lambda v: v, lambda v: v)
    assert got is value
    (entry,) = tmp_path.glob("*.json")
    stored = json.loads(entry.read_text(encoding="utf-8"))
    assert stored["sha256"] == policy_cache._value_digest(value)
    assert list(stored) == ["key", "sha256", "text_sha256", "value"]

    def refuse() -> Any:
        raise AssertionError("computed again")

    again = policy_cache.cached("test", ("one",), refuse, lambda v: v, lambda v: v)
    assert again == value
    assert list(again) == ["b", "a", "z"]  # the order as computed, not sorted
    assert list(again["z"]) == ["y", "x"]


def test_the_cache_is_bounded_oldest_written_go_first(tmp_path: Path) -> None:
    import os
    import time

    from govern.engine import policy_cache

    folder = tmp_path / "cache"
    folder.mkdir()
    now = time.time()
    for i in range(40):
        entry = folder / f"{i:064x}.json"
        entry.write_text("{}")
        os.utime(entry, (now - 1000 + i, now - 1000 + i))  # entry 0 written first
    leftover = folder / ".tmp-dead.json"
    leftover.write_text("")
    os.utime(leftover, (now - 7200, now - 7200))
    fresh = folder / ".tmp-writing.json"
    fresh.write_text("")
    policy_cache._prune(folder, limit=20)
    kept = sorted(p.name for p in folder.iterdir())
    assert [n for n in kept if not n.startswith(".tmp-")] == [f"{i:064x}.json" for i in range(25, 40)]
    assert len([n for n in kept if not n.startswith(".tmp-")]) == 15  # three quarters of the limit
    assert f"{39:064x}.json" in kept  # the newest stay
    assert f"{0:064x}.json" not in kept  # the oldest go
    assert ".tmp-dead.json" not in kept  # a killed writer's leftover
    assert ".tmp-writing.json" in kept  # a write under way is left alone
    policy_cache._prune(folder, limit=20)  # within the limit: nothing more goes
    assert len([p for p in folder.iterdir() if not p.name.startswith(".tmp-")]) == 15

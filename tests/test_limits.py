"""Bounded input and bounded evaluation: nothing hostile makes govern hang, crash or pass.

* files: only regular files are read, their size checked before the first byte;
* YAML: alias expansion is bounded by the characters it expands to, not only by node count;
* JSON: the line of a field in a large file is found by the C scanner, in about a load's time;
* Rego: the embedded engine runs in a worker with a deadline and a memory ceiling; a rule that
  exceeds either is an ``error`` result naming the rule (exit 3).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from govern.engine.backends import create_backend
from govern.engine.backends.bounded import (
    BoundedBackend,
    EvalLimits,
    fork_is_safe,
    parse_memory,
    parse_timeout,
)
from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.documents import (
    MAX_EXPANDED_CHARS,
    JsonLocator,
    parse_document,
    read_input,
    with_lines,
)
from govern.engine.errors import BackendError, ConfigError, EvidenceError, PolicyLoadError, SpecError
from govern.engine.policyset import make_policy_set, parse_module
from govern.engine.spec import RegoVersion

from .conftest import EVIDENCE, ROOT, SPEC

GOVERN = Path(sys.executable).parent / "govern"

# --------------------------------------------------------------------------- files


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(SpecError, match="named pipe"):
        read_input(fifo, SpecError)
    assert time.monotonic() - started < 5


def test_devices_are_refused_before_reading() -> None:
    for device in ("/dev/zero", "/dev/urandom"):
        with pytest.raises(SpecError, match="character device"):
            read_input(Path(device), SpecError)


def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(SpecError, match="socket"):
            read_input(path, SpecError)
    finally:
        server.close()


def test_size_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1000)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(EvidenceError, match="1,000 bytes; the limit is 999"):
        read_input(big, EvidenceError, limit=999)
    assert reads == []  # refused from the size alone
    assert read_input(big, EvidenceError, limit=1000) == b" " * 1000


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory"):
        read_input(tmp_path, SpecError)
    with pytest.raises(SpecError, match="no such file"):
        read_input(tmp_path / "nope.yaml", SpecError)


def test_cli_refuses_a_fifo_spec_with_exit_2(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [str(GOVERN), "validate", str(fifo)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "named pipe" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- YAML and JSON


def test_string_alias_bomb_is_bounded_by_expanded_size() -> None:
    """Few nodes, huge expansion: a 1 MB string referenced 100 times is 100 M characters."""
    text = "big: &s " + "x" * 1_000_000 + "\nuses: [" + ", ".join(["*s"] * 100) + "]\n"
    started = time.monotonic()
    with pytest.raises(SpecError, match="expand to more than") as caught:
        parse_document(text.encode(), "bomb.yaml", SpecError)
    assert time.monotonic() - started < 10
    assert caught.value.location is not None
    assert caught.value.location.field is not None
    assert caught.value.location.field.startswith("uses[")


def test_aliases_within_the_bound_still_work() -> None:
    text = "a: &s " + "x" * 1000 + "\nb: [*s, *s]\n"
    doc = parse_document(text.encode(), "ok.yaml", SpecError)
    assert doc.value["b"] == ["x" * 1000] * 2
    assert MAX_EXPANDED_CHARS > 3 * 1000


def _big_json(records: int) -> tuple[str, int]:
    """A large JSON text and the line on which its last record's ``share`` is written."""
    items = [{"feature": f"f{i}", "mean_abs_shap": 0.1, "share": 0.01} for i in range(records)]
    value = {"head": {"x": 1}, "explanations": {"global_importance": items}, "tail": {"y": [1, 2]}}
    text = json.dumps(value, indent=1)
    lines = text.splitlines()
    # the last `"share"` line belongs to the last record
    line = max(i for i, s in enumerate(lines) if s.strip().startswith('"share"')) + 1
    return text, line


def test_json_locator_finds_fields_and_misses_cleanly() -> None:
    text, line = _big_json(50)
    locate = JsonLocator(text)
    assert locate(("explanations", "global_importance", 49, "share")) == line
    assert locate(("tail", "y", 1)) == len(text.splitlines()) - 3
    assert locate(("head",)) == 2
    assert locate(()) == 1
    assert locate(("nope",)) is None
    assert locate(("explanations", "global_importance", 50)) is None
    assert locate(("head", 0)) is None


@pytest.mark.slow
def test_locating_a_field_in_a_60_mb_file_costs_about_one_load() -> None:
    text, line = _big_json(740_000)
    raw = text.encode()
    assert 55_000_000 < len(raw) < 64_000_000
    started = time.monotonic()
    json.loads(raw)
    load = time.monotonic() - started
    doc = parse_document(raw, "big.json", EvidenceError, json_fast_path=True)
    started = time.monotonic()
    doc = with_lines(doc, raw, EvidenceError)
    found = doc.line_of(("explanations", "global_importance", 739_999, "share"))
    locate = time.monotonic() - started
    assert found == line
    assert locate < 3 * load + 1, (locate, load)


def test_duplicate_key_line_on_the_json_fast_path() -> None:
    raw = b'{\n "a": 1,\n "b": {"c": 1},\n "a": 2\n}\n'
    with pytest.raises(EvidenceError, match="duplicate key 'a'") as caught:
        parse_document(raw, "dup.json", EvidenceError, json_fast_path=True)
    assert caught.value.location is not None
    assert caught.value.location.line == 4


# --------------------------------------------------------------------------- bounded evaluation

BOMBS = {
    "comprehension": "xs := [x | some x in numbers.range(1, 25000000)]\n\tcount(xs) > 0",
    "range": "xs := numbers.range(1, 2000000000)\n\tcount(xs) > 0",
    "sprintf": 's := sprintf("%999999999999d", [1])\n\tcount(s) > 0',
}


def _bomb_module(body: str) -> str:
    return (
        "package team.bomb\n\n# METADATA\n# title: Too large\n# custom:\n#   id: TEAM-BOMB-001\n"
        f'#   severity: high\ndeny contains msg if {{\n\t{body}\n\tmsg := "never"\n}}\n\n'
        "ok := 42\n"
    )


def _policy_set(text: str, *, builtin: bool = False) -> object:
    return make_policy_set([parse_module("bomb.rego", text, RegoVersion.V1, builtin=builtin)])


@pytest.mark.parametrize("start", ["fork", "spawn"])
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_runaway_rule_is_a_backend_error_and_the_worker_recovers(bomb: str, start: str) -> None:
    limits = EvalLimits(timeout=3, memory=512 << 20)
    with BoundedBackend(limits, start=start) as backend:  # type: ignore[arg-type]
        # a team's sprintf is Go's formatter, which refuses a width above 10000 before writing
        # anything (test below); regorus' own sprintf, which the built-in library keeps, allocates
        backend.load(_policy_set(_bomb_module(BOMBS[bomb]), builtin=bomb == "sprintf"), {})  # type: ignore[arg-type]
        assert backend.started_by == start
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"data\.team\.bomb\.deny") as caught:
            backend.evaluate_rule({}, "data.team.bomb.deny")
        assert time.monotonic() - started < limits.timeout + 5
        assert "deadline" in caught.value.message or "memory" in caught.value.message
        # a fresh worker, with the same policy set, answers the next call
        assert backend.evaluate_rule({}, "data.team.bomb.ok") == 42


def test_a_huge_sprintf_width_in_a_team_policy_is_refused_at_once() -> None:
    with BoundedBackend(EvalLimits(timeout=3, memory=512 << 20)) as backend:
        backend.load(_policy_set(_bomb_module(BOMBS["sprintf"])), {})  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"data\.team\.bomb\.deny.*width or precision above 10000"):
            backend.evaluate_rule({}, "data.team.bomb.deny")
        assert time.monotonic() - started < 2
        assert backend.evaluate_rule({}, "data.team.bomb.ok") == 42


@pytest.mark.slow
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_cli_reports_a_runaway_rule_as_an_error_result(bomb: str, tmp_path: Path) -> None:
    (tmp_path / "team.rego").write_text(_bomb_module(BOMBS[bomb]))
    argv = [str(GOVERN), "check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27"]
    env = {**os.environ, "GOVERN_EVAL_TIMEOUT": "3", "NO_COLOR": "1"}
    proc = subprocess.run(
        [*argv, "--policies", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    decision = json.loads(proc.stdout)["decision"]
    assert decision["outcome"] == "error"
    errored = [r for r in decision["results"] if r["result"] == "error"]
    assert [r["rule_id"] for r in errored] == ["TEAM-BOMB-001"]
    assert "TEAM-BOMB-001" in proc.stderr


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_load_errors_keep_their_class_and_location(start: str) -> None:
    with BoundedBackend(start=start) as backend, pytest.raises(PolicyLoadError) as caught:  # type: ignore[arg-type]
        backend.load(_policy_set("package team.x\n\ndeny contains m if {\n\tm := nope(1)\n}\n"), {})  # type: ignore[arg-type]
    assert caught.value.location is not None
    assert caught.value.location.file == "bomb.rego"


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_bounded_and_in_process_agree(start: str) -> None:
    text = _bomb_module("input.x > 1")
    inputs = [{"x": 0}, {"x": 5}, {}]
    with BoundedBackend(start=start) as bounded:  # type: ignore[arg-type]
        bounded.load(_policy_set(text), {})  # type: ignore[arg-type]
        inside = EmbeddedBackend()
        inside.load(_policy_set(text), {})  # type: ignore[arg-type]
        for value in inputs:
            assert bounded.evaluate(value, ("team.bomb",)) == inside.evaluate(value, ("team.bomb",))
            assert bounded.evaluate_rule(value, "data.team.bomb.deny") == inside.evaluate_rule(
                value, "data.team.bomb.deny"
            )


def test_the_worker_is_forked_when_safe_and_spawned_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _bomb_module("input.x > 1")
    # A fresh interpreter runs one thread (this test process may not: earlier tests leave
    # threads behind), so there the worker is forked, and closing the backend reaps it.
    script = (
        "from govern.engine.backends.bounded import BoundedBackend, fork_is_safe\n"
        "from govern.engine.policyset import make_policy_set, parse_module\n"
        "from govern.engine.spec import RegoVersion\n"
        f"text = {text!r}\n"
        "assert fork_is_safe()\n"
        "with BoundedBackend() as backend:\n"
        "    module = parse_module('bomb.rego', text, RegoVersion.V1, builtin=False)\n"
        "    backend.load(make_policy_set([module]), {})\n"
        "    assert backend.started_by == 'fork', backend.started_by\n"
        "    assert backend.evaluate_rule({'x': 5}, 'data.team.bomb.deny') == ['never']\n"
        "    worker = backend._process\n"
        "    assert worker is not None and worker.poll() is None\n"
        "assert worker.poll() is not None\n"
        "print('forked and reaped')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "forked and reaped"
    monkeypatch.setenv("GOVERN_EVAL_WORKER", "spawn")
    with BoundedBackend() as backend:
        backend.load(_policy_set(text), {})  # type: ignore[arg-type]
        assert backend.started_by == "spawn"
        assert backend.evaluate_rule({"x": 5}, "data.team.bomb.deny") == ["never"]
    monkeypatch.delenv("GOVERN_EVAL_WORKER")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # a second thread could hold a lock the child would wait on forever: no fork
        assert not fork_is_safe()
        with BoundedBackend() as backend:
            backend.load(_policy_set(text), {})  # type: ignore[arg-type]
            assert backend.started_by == "spawn"
    finally:
        stop.set()
        other.join()


def test_a_forked_worker_exits_when_its_parent_dies(tmp_path: Path) -> None:
    """The worker holds no copy of its parent's pipe ends: the parent gone, it reads EOF and exits."""
    script = (
        "import os, sys\n"
        "from govern.engine.backends.bounded import BoundedBackend\n"
        "from govern.engine.policyset import make_policy_set, parse_module\n"
        "from govern.engine.spec import RegoVersion\n"
        "b = BoundedBackend()\n"
        "m = parse_module('x.rego', 'package x\\n\\nok := 1\\n', RegoVersion.V1, builtin=False)\n"
        "b.load(make_policy_set([m]), {})\n"
        "assert b.started_by == 'fork'\n"
        "print(b._process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(proc.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked worker outlived its parent")


def test_limits_parse_and_reject() -> None:
    assert parse_memory("1GiB") == 1 << 30
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory(str(1 << 30)) == 1 << 30
    assert parse_timeout("2.5") == 2.5
    for bad in ("", "lots", "1XB", "1MiB"):
        with pytest.raises(ConfigError):
            parse_memory(bad)
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError):
            parse_timeout(bad)
    limits = EvalLimits.from_env({"GOVERN_EVAL_TIMEOUT": "4", "GOVERN_EVAL_MEMORY": "256MiB"})
    assert limits == EvalLimits(timeout=4, memory=256 << 20)
    assert EvalLimits.from_env({}) == EvalLimits(timeout=10, memory=1 << 30)


def test_create_backend_bounds_the_embedded_engine_by_default() -> None:
    backend = create_backend("embedded")
    assert isinstance(backend, BoundedBackend)
    assert backend.name == "embedded"
    assert isinstance(create_backend("embedded", bounded=False), EmbeddedBackend)


# --------------------------------------------------------------------------- OPA answers slowly


def test_an_opa_read_timeout_is_not_a_connection_failure() -> None:
    """A server that accepts the connection and never answers is slow, not unreachable."""
    import threading

    from govern.engine.backends.opa import OpaBackend
    from govern.engine.policyset import builtin_modules

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        backend = OpaBackend(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.5, retries=1)
        with pytest.raises(BackendError) as caught:
            backend.load(make_policy_set(builtin_modules()), {})
        assert "did not answer in time" in caught.value.message
        assert "timed out" in caught.value.message
        assert "connection failed" not in caught.value.message
    finally:
        server.close()
        for conn in held:
            conn.close()

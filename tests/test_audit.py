from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.engine.audit import AuditLog
from govern.engine.errors import AuditError


def filled(path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        log.append({"action": "gate.promote", "model": {"name": "m", "version": str(i)}, "outcome": "pass"})
    return log


def test_chain_verifies_and_records_link(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl")
    report = log.verify()
    assert report.ok
    assert report.records == 5
    records = log.records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    assert report.head == records[-1]["hash"]


def test_empty_log_verifies(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "none.jsonl").verify().ok


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_byte_edit_is_detected(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "edit.jsonl"
    path.unlink(missing_ok=True)
    filled(path, 4)
    raw = bytearray(path.read_bytes())
    index = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    raw[index] = value
    path.write_bytes(bytes(raw))
    assert not AuditLog(path).verify().ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_deleted_record_is_detected(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "delete.jsonl"
    path.unlink(missing_ok=True)
    filled(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    victims = data.draw(st.sets(st.integers(0, 4), min_size=1, max_size=4))
    path.write_bytes(b"".join(line for i, line in enumerate(lines) if i not in victims))
    report = AuditLog(path).verify()
    assert not report.ok
    assert report.first_bad == min(min(victims) + 1, 5 - len(victims) + 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(range(5)).filter(lambda p: list(p) != sorted(p)))
def test_any_reordering_is_detected(tmp_path: Path, order: list[int]) -> None:
    path = tmp_path / "reorder.jsonl"
    path.unlink(missing_ok=True)
    filled(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[i] for i in order))
    report = AuditLog(path).verify()
    assert not report.ok
    assert report.first_bad == next(n for n, i in enumerate(order) if i != n) + 1


def test_rewritten_record_with_recomputed_hash_breaks_the_chain(tmp_path: Path) -> None:
    from govern.engine.audit import canonical_line, record_hash

    path = tmp_path / "audit.jsonl"
    filled(path)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["outcome"] = "fail"
    record["hash"] = record_hash(record)
    lines[1] = canonical_line(record)
    path.write_text("\n".join(lines) + "\n")
    report = AuditLog(path).verify()
    assert not report.ok
    assert report.first_bad == 3


def _append_many(path: str, worker: int) -> None:
    log = AuditLog(Path(path))
    for i in range(20):
        log.append({"action": "test", "worker": worker, "i": i})


def test_concurrent_appends_neither_corrupt_nor_lose(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    report = AuditLog(path).verify()
    assert report.ok, report
    assert report.records == 120
    seen = {(r["worker"], r["i"]) for r in AuditLog(path).records()}
    assert len(seen) == 120


def test_unwritable_log_is_an_audit_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "audit.jsonl").mkdir()  # a directory where the file should be
    with pytest.raises(AuditError, match="cannot open the audit log"):
        AuditLog(folder / "audit.jsonl").append({"action": "x"})


# --- a damaged tail is an error, never a fresh chain -------------------------------------------


@pytest.mark.parametrize("tail", [b"{}\n", b"null\n", b"[1]\n", b'{"seq": 3, "ha', b"\xff\xfe\n"])
def test_a_falsy_or_garbled_last_line_refuses_to_append(tmp_path: Path, tail: bytes) -> None:
    log = filled(tmp_path / "audit.jsonl", 2)
    with open(log.path, "ab") as handle:
        handle.write(tail)
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match="last record"):
        log.append({"action": "x"})
    assert log.path.read_bytes() == before  # nothing appended, no seq 1 restart


# --- an append is all or nothing ---------------------------------------------------------------


def test_a_failing_head_write_cuts_the_record_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = filled(tmp_path / "audit.jsonl", 2)
    before = log.path.read_bytes()

    def no_space(_record: dict[str, object]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(log, "_write_head", no_space)
    with pytest.raises(AuditError, match="No space left"):
        log.append({"action": "x"})
    assert log.path.read_bytes() == before
    assert AuditLog(log.path).verify().ok


def test_a_failing_log_write_cuts_the_partial_record_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    log = filled(tmp_path / "audit.jsonl", 2)
    before = log.path.read_bytes()
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync_fails_once(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(27, "File too large")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_once)
    with pytest.raises(AuditError, match="File too large"):
        log.append({"action": "x"})
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    assert log.verify().ok
    assert log.append({"action": "y"})["seq"] == 3


def test_the_head_is_fsynced_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    AuditLog(tmp_path / "audit.jsonl").append({"action": "x"})
    assert synced == ["file", "file", "dir"]  # the record, the head's temporary file, the folder


def test_a_head_one_record_behind_is_an_interrupted_append(tmp_path: Path) -> None:
    log = filled(tmp_path / "audit.jsonl", 3)
    records = log.records()
    log.head_path.write_text(json.dumps({"seq": 2, "hash": records[1]["hash"]}) + "\n")
    report = log.verify()
    assert report.ok
    assert "one record behind" in (report.note or "")
    assert log.append({"action": "x"})["seq"] == 4
    assert log.verify().note is None
    log.head_path.write_text(json.dumps({"seq": 1, "hash": records[0]["hash"]}) + "\n")
    assert not log.verify().ok  # two behind is not an interrupted append


# --- keyed chain -------------------------------------------------------------------------------

KEY = b"k" * 32


def test_a_keyed_chain_verifies_and_needs_the_key(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", KEY)
    for i in range(3):
        log.append({"action": "x", "i": i})
    assert all("mac" in r for r in log.records())
    assert log.verify().ok
    assert log.verify().keyed
    assert not AuditLog(log.path, b"another key").verify().ok


def test_a_forged_append_is_detected_only_with_a_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    keyed = AuditLog(path, KEY)
    keyed.append({"action": "x"})
    AuditLog(path).append({"action": "forged"})  # the chain and head recomputed, without the key
    assert AuditLog(path).verify().ok  # what an unkeyed chain cannot see
    report = keyed.verify()
    assert not report.ok
    assert report.first_bad == 2
    assert "without the key" in str(report.reason)


def test_dropping_the_last_record_and_rewriting_the_head_is_detected_with_a_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    keyed = AuditLog(path, KEY)
    for i in range(3):
        keyed.append({"action": "x", "i": i})
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))
    second = json.loads(lines[1])
    keyed.head_path.write_text(json.dumps({"seq": 2, "hash": second["hash"]}) + "\n")
    assert AuditLog(path).verify().ok  # unkeyed: a consistent shorter history
    report = keyed.verify()
    assert not report.ok
    assert "MAC" in str(report.reason)


def test_the_key_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govern.engine.audit import KEY_ENV, load_key
    from govern.engine.errors import ConfigError

    monkeypatch.delenv(KEY_ENV, raising=False)
    assert load_key() is None
    monkeypatch.setenv(KEY_ENV, "secret")
    assert load_key() == b"secret"
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    assert load_key(key_file) == b"from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_key(tmp_path / "empty")


# --- the command ----------------------------------------------------------------------------


def test_audit_verify_of_a_missing_or_empty_log_is_exit_2(tmp_path: Path) -> None:
    import subprocess

    from .conftest import govern_bin

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [govern_bin(), "audit", "verify", "--audit-log", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )

    missing = verify(tmp_path / "nope.jsonl")
    assert missing.returncode == 2
    assert "no audit log at" in missing.stderr
    (tmp_path / "empty.jsonl").write_text("")
    empty = verify(tmp_path / "empty.jsonl")
    assert empty.returncode == 2
    assert "is empty" in empty.stderr
    log = filled(tmp_path / "audit.jsonl", 2)
    ok = verify(log.path)
    assert ok.returncode == 0
    assert "2 records" in ok.stdout
    log.path.write_text("")  # emptied, head left behind: tampering, not a wrong path
    assert verify(log.path).returncode == 1


def test_undecodable_text_is_recorded_escaped_not_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    record = log.append({"action": "x", "actor": "caf\udce9", "spec": {"path": "/tmp/\udcff.yaml"}})
    assert record["actor"] == "caf\\udce9"
    assert log.verify().ok


def test_audit_verify_checks_macs_with_the_key_file(tmp_path: Path) -> None:
    import subprocess

    from .conftest import govern_bin

    log = AuditLog(tmp_path / "audit.jsonl", KEY)
    log.append({"action": "x"})
    (tmp_path / "key").write_bytes(KEY + b"\n")
    (tmp_path / "wrong").write_bytes(b"wrong key\n")

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [govern_bin(), "audit", "verify", "--audit-log", str(log.path), *extra]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    keyed = verify("--audit-key-file", str(tmp_path / "key"))
    assert keyed.returncode == 0, keyed.stderr
    assert "MACs checked" in keyed.stdout
    assert verify("--audit-key-file", str(tmp_path / "wrong")).returncode == 1
    unkeyed = verify()
    assert unkeyed.returncode == 0
    assert "pass the key" in unkeyed.stderr

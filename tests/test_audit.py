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


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
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

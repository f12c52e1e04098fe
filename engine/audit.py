"""The audit log: append-only JSONL, each record chained to the previous one by sha256.

Every record carries ``seq`` (1, 2, …), ``prev`` (the previous record's hash, 64 zeros for
the first) and ``hash`` (sha256 of the record's canonical JSON without ``hash``). Records are
written in canonical form (sorted keys, no spaces), so any edit of any byte changes a hash or
breaks the form. A sidecar ``<log>.head`` holds the last record's seq and hash, so that cutting
records off the end is detected too.

Appends from concurrent processes are serialized with an exclusive ``flock`` on the log; a
record is written with one ``write`` and ``fsync``-ed before the lock is released.

What a hash chain cannot do: someone who can rewrite the whole file *and* its head can forge a
consistent history. Gates therefore also write the head hash to the model version's tags in
MLflow, an independent place to compare against.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AuditError

__all__ = ["GENESIS", "AuditLog", "VerifyReport", "canonical_line", "record_hash"]

GENESIS = "0" * 64
_CHAIN_FIELDS = ("seq", "prev", "hash")


def canonical_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_line(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    first_bad: int | None = None  # 1-based line number of the first bad record
    reason: str | None = None
    head: str | None = None  # hash of the last good record


class AuditLog:
    """One audit log file (and its ``.head`` sidecar)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+b")  # noqa: SIM115 - held open across the lock
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield handle
        finally:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                handle.close()

    @staticmethod
    def _last_record(handle: Any) -> dict[str, Any] | None:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return None
        block = min(size, 65536)
        while True:
            handle.seek(size - block)
            tail = handle.read(block)
            lines = tail.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or block == size:
                break
            block = min(size, block * 4)
        try:
            last: dict[str, Any] = json.loads(lines[-1])
        except ValueError:
            raise AuditError(
                f"the last record of {self_path(handle)} is not valid JSON; run `govern audit verify`"
            ) from None
        return last

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Chain ``entry`` to the log and return the record as written (with seq, prev, hash)."""
        clash = [k for k in _CHAIN_FIELDS if k in entry]
        if clash:
            raise ValueError(f"audit entries may not set {clash}")
        with self._locked() as handle:
            last = self._last_record(handle)
            record = {
                **entry,
                "seq": (int(last["seq"]) + 1) if last else 1,
                "prev": str(last["hash"]) if last else GENESIS,
                "time": entry.get("time") or _now(),
            }
            record["hash"] = record_hash(record)
            line = (canonical_line(record) + "\n").encode("utf-8")
            try:
                handle.seek(0, os.SEEK_END)
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
                self._write_head(record)
            except OSError as exc:
                raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        return record

    def _write_head(self, record: dict[str, Any]) -> None:
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seq": record["seq"], "hash": record["hash"]}) + "\n", encoding="utf-8")
        os.replace(tmp, self.head_path)

    def records(self) -> list[dict[str, Any]]:
        """Every record (unverified: use :meth:`verify` to trust them)."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    try:
                        out.append(json.loads(raw))
                    except ValueError:
                        continue
        return out

    def verify(self) -> VerifyReport:
        """Check every record's hash, the chain, the sequence, the form and the head."""
        if not self.path.exists():
            return VerifyReport(ok=True, records=0, head=None)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror or exc}") from None
        if data and not data.endswith(b"\n"):
            return VerifyReport(False, 0, data.count(b"\n") + 1, "the last record is cut short (no newline)")
        prev = GENESIS
        count = 0
        for number, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
            bad = _check_line(raw, number, prev)
            if bad is not None:
                return VerifyReport(False, count, number, bad, head=prev if count else None)
            record = json.loads(raw)
            prev = record["hash"]
            count += 1
        head_problem = self._check_head(count, prev)
        if head_problem is not None:
            return VerifyReport(False, count, count + 1 if "missing" in head_problem else count, head_problem)
        return VerifyReport(ok=True, records=count, head=prev if count else None)

    def _check_head(self, count: int, last_hash: str) -> str | None:
        if not self.head_path.exists():
            return None if count == 0 else "the head file is missing: records may have been removed"
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            seq, digest = int(head["seq"]), str(head["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return "the head file is unreadable"
        if seq > count:
            return f"records missing: the head says {seq} records, the log holds {count}"
        if seq != count or digest != last_hash:
            return f"the head (record {seq}) does not match the last record ({count})"
        return None


def _check_line(raw: bytes, number: int, prev: str) -> str | None:
    try:
        text = raw.decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return "not a valid JSON record"
    if not isinstance(record, dict) or not all(k in record for k in _CHAIN_FIELDS):
        return "not an audit record (seq, prev, hash missing)"
    if canonical_line(record) != text:
        return "the record is not in canonical form: it was edited"
    if record["seq"] != number:
        return f"out of sequence: seq {record['seq']} at record {number} (reordered or removed records)"
    if record["prev"] != prev:
        return "the chain is broken: prev does not match the previous record's hash"
    if record_hash(record) != record["hash"]:
        return "the hash does not match the record's content: it was edited"
    return None


def self_path(handle: Any) -> str:
    return str(getattr(handle, "name", "the audit log"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

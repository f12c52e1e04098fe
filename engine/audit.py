"""The audit log: append-only JSONL, each record chained to the previous one by sha256.

Every record carries ``seq`` (1, 2, …), ``prev`` (the previous record's hash, 64 zeros for
the first) and ``hash`` (sha256 of the record's canonical JSON without ``hash`` and ``mac``).
Records are written in canonical form (sorted keys, no spaces), so any edit of any byte changes a
hash or breaks the form. A sidecar ``<log>.head`` holds the last record's seq and hash, so that
cutting records off the end is detected too.

An append is all or nothing: the record is written with one ``write`` and ``fsync``-ed, then the
head is written to a temporary file, ``fsync``-ed, renamed over ``<log>.head`` and the folder
``fsync``-ed. If any of these fails the log is cut back to its previous length and the append
raises :class:`AuditError`. A process killed between the record and the head leaves the head one
record behind; that one state is accepted (the next append rewrites the head), any other
disagreement is reported. Appends from concurrent processes are serialized with an exclusive
``flock`` on the log.

With a key (``GOVERN_AUDIT_KEY`` or a key file) each record also carries ``mac``, an
HMAC-SHA256 of its hash, and the head carries one of its seq and hash: a record appended or a head
rewritten by someone without the key fails verification. Without a key the chain cannot tell a
consistent rewrite of the whole file and its head (or a record appended with a recomputed head, or
the log and head deleted together) from the real history.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AuditError, ConfigError

__all__ = [
    "GENESIS",
    "KEY_ENV",
    "AuditLog",
    "VerifyReport",
    "canonical_line",
    "load_key",
    "open_intents",
    "record_hash",
]

GENESIS = "0" * 64
KEY_ENV = "GOVERN_AUDIT_KEY"
_CHAIN_FIELDS = ("seq", "prev", "hash")
_UNHASHED = ("hash", "mac")


def canonical_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in _UNHASHED}
    return hashlib.sha256(canonical_line(body).encode("utf-8")).hexdigest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _head_message(seq: int, digest: str) -> str:
    return f"govern-audit-head:{seq}:{digest}"


def load_key(key_file: Path | None = None) -> bytes | None:
    """The audit key: the contents of ``key_file`` if given, else ``GOVERN_AUDIT_KEY``, else None."""
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the audit key file {key_file}: {exc.strerror or exc}") from None
        if not key:
            raise ConfigError(f"the audit key file {key_file} is empty")
        return key
    value = os.environb.get(KEY_ENV.encode())
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(f"{KEY_ENV} is set but empty")
    return value.strip()


def open_intents(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intent records no outcome record answers: gates that stopped between the two."""
    answered = {r.get("intent_id") for r in records if r.get("phase") == "outcome" and r.get("intent_id")}
    return [r for r in records if r.get("phase") == "intent" and r.get("intent_id") not in answered]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    first_bad: int | None = None  # 1-based line number of the first bad record
    reason: str | None = None
    head: str | None = None  # hash of the last good record
    keyed: bool = False  # MACs were checked
    note: str | None = None  # something accepted but worth saying (a head one record behind)


class AuditLog:
    """One audit log file (and its ``.head`` sidecar), optionally keyed."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self.key = key

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

    def _last_record(self, handle: Any) -> dict[str, Any] | None:
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
        problem = None
        last: Any = None
        if not tail.endswith(b"\n"):
            problem = "is cut short (no newline)"
        else:
            try:
                last = json.loads(lines[-1])
            except ValueError:
                problem = "is not valid JSON"
        if problem is None and not (
            isinstance(last, dict)
            and isinstance(last.get("seq"), int)
            and isinstance(last.get("hash"), str)
            and len(last["hash"]) == len(GENESIS)
        ):
            problem = "is not an audit record (seq and hash missing)"
        if problem is not None:
            raise AuditError(
                f"the last record of {self.path} {problem}: refusing to append; run `govern audit verify`"
            )
        return dict(last)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Chain ``entry`` to the log and return the record as written (with seq, prev, hash)."""
        clash = [k for k in (*_CHAIN_FIELDS, "mac") if k in entry]
        if clash:
            raise ValueError(f"audit entries may not set {clash}")
        entry = _readable(entry)
        with self._locked() as handle:
            last = self._last_record(handle)
            record = {
                **entry,
                "seq": (int(last["seq"]) + 1) if last else 1,
                "prev": str(last["hash"]) if last else GENESIS,
                "time": entry.get("time") or _now(),
            }
            record["hash"] = record_hash(record)
            if self.key is not None:
                record["mac"] = _mac(self.key, record["hash"])
            line = (canonical_line(record) + "\n").encode("utf-8")
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            try:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
                self._write_head(record)
            except OSError as exc:
                self._cut_back(handle, size)
                raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        return record

    @staticmethod
    def _cut_back(handle: Any, size: int) -> None:
        """Undo a failed append (the lock is held): the record was never written."""
        try:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            pass  # verify will name the cut-short or head-less record

    def _write_head(self, record: dict[str, Any]) -> None:
        head: dict[str, Any] = {"seq": record["seq"], "hash": record["hash"]}
        if self.key is not None:
            head["mac"] = _mac(self.key, _head_message(record["seq"], record["hash"]))
        tmp = self.head_path.with_name(self.head_path.name + f".{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(json.dumps(head) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.head_path)
        except OSError:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        folder = os.open(self.head_path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def records(self) -> list[dict[str, Any]]:
        """Every record (unverified: use :meth:`verify` to trust them)."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        out.append(record)
        return out

    def verify(self) -> VerifyReport:
        """Check every record's hash (and MAC when keyed), the chain, the sequence, the form and the head."""
        keyed = self.key is not None
        if not self.path.exists():
            if self.head_path.exists():
                return VerifyReport(False, 0, 1, "the log is missing but its head file exists", keyed=keyed)
            return VerifyReport(ok=True, records=0, head=None, keyed=keyed)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror or exc}") from None
        if data and not data.endswith(b"\n"):
            return VerifyReport(
                False, 0, data.count(b"\n") + 1, "the last record is cut short (no newline)", keyed=keyed
            )
        prev = GENESIS
        count = 0
        for number, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
            bad = _check_line(raw, number, prev, self.key)
            if bad is not None:
                return VerifyReport(False, count, number, bad, head=prev if count else None, keyed=keyed)
            record = json.loads(raw)
            prev = record["hash"]
            count += 1
        head_problem, note = self._check_head(count, prev)
        if head_problem is not None:
            first_bad = count + 1 if "missing" in head_problem else count
            return VerifyReport(False, count, first_bad, head_problem, keyed=keyed)
        return VerifyReport(ok=True, records=count, head=prev if count else None, keyed=keyed, note=note)

    def _check_head(self, count: int, last_hash: str) -> tuple[str | None, str | None]:
        if not self.head_path.exists():
            if count == 0:
                return None, None
            if count == 1:  # killed between the first record and its head
                return None, "the head file was never written (an interrupted first append)"
            return "the head file is missing: records may have been removed", None
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            seq, digest = int(head["seq"]), str(head["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return "the head file is unreadable", None
        if self.key is not None and not hmac.compare_digest(
            str(head.get("mac", "")), _mac(self.key, _head_message(seq, digest))
        ):
            return "the head file's MAC does not match: it was written without the key", None
        if seq > count:
            return f"records missing: the head says {seq} records, the log holds {count}", None
        if seq == count and digest == last_hash:
            return None, None
        if seq == count - 1 and digest == self._hash_of(seq):
            return None, "the head is one record behind (an interrupted append)"
        return f"the head (record {seq}) does not match the last record ({count})", None

    def _hash_of(self, seq: int) -> str | None:
        for record in self.records():
            if record.get("seq") == seq:
                return str(record.get("hash"))
        return None


def _readable(value: Any) -> Any:
    """Text that came from undecodable bytes (a non-UTF-8 ``USER`` or path) as escaped UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_readable(k): _readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    return value


def _check_line(raw: bytes, number: int, prev: str, key: bytes | None) -> str | None:
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
    if key is not None:
        if "mac" not in record:
            return "the record has no MAC: it was appended without the key"
        if not hmac.compare_digest(str(record["mac"]), _mac(key, str(record["hash"]))):
            return "the record's MAC does not match: it was written without the key"
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""The worker's pipe: plain data crosses marshalled, anything else pickled, both intact."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from govern.engine.backends.bounded import _Channel
from govern.engine.errors import Location, PolicyLoadError


def _round_trip(value: Any) -> tuple[Any, bytes]:
    read_fd, write_fd = os.pipe()
    reader, writer = _Channel(read_fd), _Channel(write_fd)
    seen: list[bytes] = []
    real_read = reader._read

    def spy(size: int) -> bytes:
        data = real_read(size)
        seen.append(data)
        return data

    reader._read = spy  # type: ignore[method-assign]
    sender = threading.Thread(target=writer.send, args=(value,))  # a pipe holds 64 KiB: send aside
    sender.start()
    try:
        received = reader.recv()
    finally:
        sender.join()
        reader.close()
        writer.close()
    return received, seen[1][:1]


@pytest.mark.parametrize(
    "value",
    [
        ("ok", {"govern.fairness": {"deny": ["x"], "warn": []}}),
        ("evaluate_json", ('{"a": 1}', "deploy", ("govern.fairness", "team.x"))),
        ("ok", None),
        {"n": 2**70, "f": -0.0, "b": True, "s": "é\u2028", "l": [1.5, None]},
        "x" * (1 << 20),
    ],
)
def test_plain_data_is_marshalled_and_comes_back_equal(value: Any) -> None:
    received, tag = _round_trip(value)
    assert tag == b"m"
    assert received == value
    assert type(received) is type(value)


def test_other_values_are_pickled() -> None:
    error = ("error", ("load", "bad", Location("x.rego", 3, "deny"), None))
    received, tag = _round_trip(error)
    assert tag == b"p"
    assert received == error
    exc, _ = _round_trip(PolicyLoadError("bad", Location("x.rego", 3)))
    assert isinstance(exc, PolicyLoadError)

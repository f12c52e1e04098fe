"""A worker forked early (``bounded.prestart``) is the same bounded worker: deadline, memory
ceiling, load errors and answers; adopted only by a backend with its memory limit, and stopped
when nobody adopts it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from govern.engine.backends import bounded
from govern.engine.backends.bounded import BoundedBackend, EvalLimits, discard_prestarted, prestart
from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.errors import BackendError, PolicyLoadError
from govern.engine.policyset import PolicySet, make_policy_set, parse_module
from govern.engine.spec import RegoVersion

pytestmark = pytest.mark.skipif(not bounded.fork_is_safe(), reason="forking is not safe here")

MEMORY = 512 << 20
RULES = (
    "package team.early\n\n# METADATA\n# title: Early\n# custom:\n#   id: TEAM-EARLY-001\n"
    '#   severity: high\ndeny contains msg if {\n\tinput.x > 1\n\tmsg := "too big"\n}\n\n'
    "ok := 42\n\n"
    "slow if {\n\tinput.go\n\txs := [x | some x in numbers.range(1, 25000000)]\n\tcount(xs) > 0\n}\n"
)


def _policy_set(text: str = RULES) -> PolicySet:
    return make_policy_set([parse_module("early.rego", text, RegoVersion.V1, builtin=False)])


@pytest.fixture(autouse=True)
def _no_leftover() -> Iterator[None]:
    discard_prestarted()
    yield
    discard_prestarted()


def _address_space_limit(pid: int) -> int | None:
    with open(f"/proc/{pid}/limits", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Max address space"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    return None


def test_a_backend_adopts_the_worker_and_answers_as_in_process() -> None:
    assert prestart(MEMORY)
    worker = bounded._prestarted
    assert worker is not None
    with BoundedBackend(EvalLimits(timeout=10, memory=MEMORY)) as backend:
        backend.load(_policy_set(), {})
        assert bounded._prestarted is None
        assert backend._process is worker[0]
        assert backend.started_by == "fork"
        inside = EmbeddedBackend()
        inside.load(_policy_set(), {})
        for value in ({"x": 0}, {"x": 5}):
            assert backend.evaluate(value, ("team.early",)) == inside.evaluate(value, ("team.early",))
        limit = _address_space_limit(worker[0].pid)
        assert limit is not None
        assert MEMORY < limit < MEMORY + (4 << 30)


def test_the_deadline_holds_in_an_adopted_worker_and_a_fresh_one_follows() -> None:
    assert prestart(MEMORY)
    worker = bounded._prestarted
    assert worker is not None
    with BoundedBackend(EvalLimits(timeout=2, memory=MEMORY)) as backend:
        backend.load(_policy_set(), {})
        assert backend._process is worker[0]
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"deadline|memory"):
            backend.evaluate_rule({"go": True}, "data.team.early.slow")
        assert time.monotonic() - started < 2 + 5
        assert backend.evaluate_rule({}, "data.team.early.ok") == 42


def test_a_load_error_keeps_its_class_and_location() -> None:
    assert prestart(MEMORY)
    bad = "package team.x\n\ndeny contains m if {\n\tm := nope(1)\n}\n"
    with BoundedBackend(EvalLimits(memory=MEMORY)) as backend, pytest.raises(PolicyLoadError) as caught:
        backend.load(_policy_set(bad), {})
    assert caught.value.location is not None
    assert caught.value.location.file == "early.rego"


def test_another_memory_limit_does_not_adopt_it_and_discarding_stops_it() -> None:
    assert prestart(MEMORY)
    worker = bounded._prestarted
    assert worker is not None
    with BoundedBackend(EvalLimits(memory=MEMORY * 2)) as backend:
        backend.load(_policy_set(), {})
        assert backend._process is not worker[0]
        assert backend.evaluate_rule({"x": 5}, "data.team.early.ok") == 42
    assert bounded._prestarted is worker
    discard_prestarted()
    assert bounded._prestarted is None
    assert worker[0].poll() is not None


def test_a_worker_that_died_is_not_adopted() -> None:
    assert prestart(MEMORY)
    worker = bounded._prestarted
    assert worker is not None
    os.kill(worker[0].pid, signal.SIGKILL)
    worker[0].wait()
    with BoundedBackend(EvalLimits(memory=MEMORY)) as backend:
        backend.load(_policy_set(), {})
        assert backend._process is not worker[0]
        assert backend.evaluate_rule({}, "data.team.early.ok") == 42
    assert bounded._prestarted is None


def test_no_early_worker_when_workers_are_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bounded.WORKER_ENV, "spawn")
    assert not prestart(MEMORY)
    assert bounded._prestarted is None

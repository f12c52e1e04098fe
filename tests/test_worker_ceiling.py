"""A forked worker's address-space ceiling is what it inherits plus the memory limit.

regorus' allocator reserves its address space (1 GiB) when regorus is imported. On a warm policy
cache the parent imports regorus only just before forking; a ceiling measured before that import
left the worker a few megabytes of headroom instead of the limit (every allocation beyond them
failed, and a large input read as "exceeded the memory ceiling").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, os, sys
from govern.engine.backends.bounded import BoundedBackend, EvalLimits, _mapped_bytes
from govern.engine.policyset import make_policy_set, parse_module
from govern.engine.spec import RegoVersion

text = "package team.size\n\nn := count(input.blob)\n"
policy_set = make_policy_set([parse_module("size.rego", text, RegoVersion.V1, builtin=False)])
memory = 512 << 20
with BoundedBackend(EvalLimits(timeout=60, memory=memory)) as backend:
    backend.load(policy_set, {})
    assert backend.started_by == "fork", backend.started_by
    limit = None
    with open(f"/proc/{backend._process.pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max address space"):
                limit = int(line.split()[3])
    inherited = _mapped_bytes()
    blob = "x" * (64 << 20)  # a 64 MiB input: far below the limit
    value = backend.evaluate_rule({"blob": blob}, "data.team.size.n")
print(json.dumps({"headroom": limit - inherited, "memory": memory, "n": value}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork: Linux")
def test_the_worker_has_the_limit_beyond_what_it_inherits(tmp_path: Path) -> None:
    env = {**os.environ, "GOVERN_CACHE_DIR": str(tmp_path / "cache")}
    for _run in range(2):  # the second run reads the policy from the cache: regorus not yet imported
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n"] == 64 << 20
    # the parent's own growth after the fork is small next to the limit
    assert report["headroom"] > report["memory"] - (64 << 20), report

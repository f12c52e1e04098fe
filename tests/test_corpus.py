"""The bad-input corpus: every malformed spec, evidence, policy or option fails cleanly.

Each case in ``tests/corpus/cases.yaml`` runs the real ``govern`` console script in a
subprocess and must: exit with the expected code (2 bad input, 3 evaluation error), print a
short paragraph on stderr naming the file, line and field path given in the manifest, print no
Python traceback, and write nothing to stdout that looks like a pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"
MANIFEST = CORPUS / "cases.yaml"
EXAMPLE_SPEC = REPO / "examples" / "adult-income" / "spec.yaml"
EXAMPLE_EVIDENCE = REPO / "examples" / "adult-income" / "evidence.json"
GOVERN = Path(sys.executable).parent / "govern"
AS_OF = "2026-11-27"  # before the example waivers expire (2027-06-30): decisions do not drift
MAX_STDERR_LINES = 6
COMMANDS = ("validate", "check", "test")
CASE_KEYS = {"id", "command", "spec", "evidence", "policies", "args", "expect_exit", "expect_stderr", "xfail"}
# A pass on stdout: the text summary ("PASS  32 rules: …"), a validated spec, a JSON pass.
PASS_ON_STDOUT = re.compile(r'^(PASS\s+\d+ rules|valid:)|"outcome":\s*"pass"', re.MULTILINE)


def _load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for manifest in [MANIFEST, *sorted(CORPUS.glob("cases-*.yaml"))]:  # cases-<topic>.yaml: more
        loaded = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        assert isinstance(loaded, list), f"{manifest} must hold a list of cases"
        cases.extend(loaded)
    return cases


CASES = _load_cases()


def _rel(path: Path) -> str:
    """Paths on the command line are relative to the repository, as a user would type them."""
    return os.path.relpath(path, REPO)


def _command_line(case: dict[str, Any]) -> list[str]:
    command = case["command"]
    spec = CORPUS / case["spec"] if "spec" in case else EXAMPLE_SPEC
    args = [str(a) for a in case.get("args", [])]
    policies = CORPUS / case["policies"] if "policies" in case else None
    if command == "validate":
        return [str(GOVERN), "validate", _rel(spec), *args]
    if command == "test":
        return [str(GOVERN), "test", *([_rel(policies)] if policies else []), *args]
    line = [str(GOVERN), "check", _rel(spec)]
    evidence = case.get("evidence", "")
    if evidence is not None:
        line += ["--evidence", _rel(CORPUS / evidence if evidence else EXAMPLE_EVIDENCE)]
    if policies is not None:
        line += ["--policies", _rel(policies)]
    if "--as-of" not in args:
        line += ["--as-of", AS_OF]
    return line + args


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "RUST_BACKTRACE": "0"}
    env.pop("GOVERN_DEBUG", None)
    return subprocess.run(
        argv,
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(reason=" ".join(str(case["xfail"]).split()), strict=True))
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


def test_manifest_is_well_formed() -> None:
    ids = [c.get("id") for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 40
    for case in CASES:
        assert set(case) <= CASE_KEYS, f"{case.get('id')}: unknown keys {set(case) - CASE_KEYS}"
        assert case["command"] in COMMANDS, case["id"]
        assert case["expect_exit"] in (2, 3), case["id"]
        assert case.get("expect_stderr"), f"{case['id']}: say what stderr must name"


def test_every_corpus_file_has_a_case() -> None:
    """No orphan inputs: each file under spec/ and evidence/, each folder under policies/, is used."""
    used = {
        (CORPUS / case[key]).resolve()
        for case in CASES
        for key in ("spec", "evidence", "policies")
        if case.get(key)
    }
    files = [p for kind in ("spec", "evidence") for p in (CORPUS / kind).iterdir() if p.is_file()]
    folders = [p for p in (CORPUS / "policies").iterdir() if p.is_dir()]
    orphans = sorted(_rel(p) for p in [*files, *folders] if p.resolve() not in used)
    assert not orphans, f"corpus inputs with no case in cases.yaml: {orphans}"


@pytest.mark.slow
@pytest.mark.parametrize("case", _params())
def test_bad_input_fails_cleanly(case: dict[str, Any]) -> None:
    argv = _command_line(case)
    proc = _run(argv)
    shown = (
        f"$ govern {' '.join(argv[1:])}\n--- exit {proc.returncode}\n"
        f"--- stderr:\n{proc.stderr}--- stdout:\n{proc.stdout[-2000:]}"
    )

    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert proc.returncode == case["expect_exit"], shown
    assert not PASS_ON_STDOUT.search(proc.stdout), shown
    if case["expect_exit"] == 2:
        assert proc.stdout == "", shown
    stderr = proc.stderr.strip()
    assert stderr, shown
    assert len(stderr.splitlines()) <= MAX_STDERR_LINES, shown
    missing = [s for s in case["expect_stderr"] if str(s) not in proc.stderr]
    assert not missing, f"stderr lacks {missing}\n{shown}"


# ------------------------------------------------------------------ the positive counterparts


@pytest.mark.slow
def test_example_inputs_pass() -> None:
    """The corpus files are the examples with one thing changed; the examples themselves pass."""
    proc = _run([str(GOVERN), "validate", _rel(EXAMPLE_SPEC)])
    assert proc.returncode == 0, proc.stderr
    proc = _run([str(GOVERN), "check", _rel(EXAMPLE_SPEC), "-e", _rel(EXAMPLE_EVIDENCE), "--as-of", AS_OF])
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert re.search(r"^PASS\s+\d+ rules", proc.stdout, re.MULTILINE)


@pytest.mark.slow
def test_v0_policy_loads_with_v0_compatible() -> None:
    """The v0 policy that is an error without --v0-compatible loads and runs with it."""
    policies = _rel(CORPUS / "policies" / "v0_syntax")
    argv = [str(GOVERN), "check", _rel(EXAMPLE_SPEC), "-e", _rel(EXAMPLE_EVIDENCE), "--as-of", AS_OF]
    proc = _run([*argv, "--policies", policies, "--v0-compatible", "--format", "json"])
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    decision = json.loads(proc.stdout)
    assert decision["outcome"] == "pass"
    ours = [r for r in decision["results"] if r["rule_id"] == "TEAM-V0-001"]
    assert [r["result"] for r in ours] == ["pass"], ours


@pytest.mark.slow
@pytest.mark.parametrize(
    ("folder", "rule_id", "rule_path"),
    [
        ("runtime_error", "TEAM-RT-001", "data.team.runtime.deny_x"),
        ("conflict", "TEAM-CONFLICT-001", "data.team.conflict.deny_conflict"),
    ],
)
def test_runtime_error_is_an_error_decision(folder: str, rule_id: str, rule_path: str) -> None:
    """A rule that fails at run time makes the decision an error (exit 3), never a pass."""
    policies = _rel(CORPUS / "policies" / folder)
    argv = [str(GOVERN), "check", _rel(EXAMPLE_SPEC), "-e", _rel(EXAMPLE_EVIDENCE), "--as-of", AS_OF]
    text = _run([*argv, "--policies", policies])
    assert text.returncode == 3, text.stderr + text.stdout
    assert "Traceback" not in text.stderr + text.stdout
    assert not PASS_ON_STDOUT.search(text.stdout)
    assert re.search(rf"^ERROR\s+│\s+{re.escape(rule_id)}\b", text.stdout, re.MULTILINE), text.stdout
    assert re.search(r"^ERROR\s+\d+ rules", text.stdout, re.MULTILINE), text.stdout

    proc = _run([*argv, "--policies", policies, "--format", "json"])
    assert proc.returncode == 3, proc.stderr
    decision = json.loads(proc.stdout)
    assert decision["outcome"] == "error"
    errored = [r for r in decision["results"] if r["result"] == "error"]
    assert [r["rule_id"] for r in errored] == [rule_id]
    assert rule_path in errored[0]["message"]
    assert f"{folder}/team.rego:" in errored[0]["message"]

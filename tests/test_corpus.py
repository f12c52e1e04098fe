"""The bad-input corpus: every malformed spec, evidence, policy or option fails cleanly.

Each case in ``tests/corpus/cases.yaml`` and ``tests/corpus/hostile.yaml`` runs the real
``govern`` console script in a subprocess and must: exit with the expected code (2 bad input,
3 evaluation error), print a short paragraph on stderr naming the file, line and field path
given in the manifest, print no Python traceback nor "internal error", and write nothing to
stdout that looks like a pass. Cases that may pass (exit 0 or 1) check what they print:
no escape sequence and no workflow command but govern's own (``clean_output``).
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
HOSTILE = CORPUS / "hostile.yaml"
EXAMPLE_SPEC = REPO / "examples" / "adult-income" / "spec.yaml"
EXAMPLE_EVIDENCE = REPO / "examples" / "adult-income" / "evidence.json"
GOVERN = Path(sys.executable).parent / "govern"
AS_OF = "2026-11-27"  # before the example waivers expire (2027-06-30): decisions do not drift
MAX_STDERR_LINES = 6
COMMANDS = ("validate", "check", "test", "raw")
CASE_KEYS = {
    "id",
    "command",
    "spec",
    "evidence",
    "policies",
    "args",
    "argv",
    "setup",
    "env",
    "expect_exit",
    "expect_stderr",
    "forbid_stderr",
    "clean_output",
    "xfail",
}
NON_UTF8 = b"r\xe9port\xff"
#: govern's own workflow commands in the github format; any other line starting `::` is injected
OWN_COMMAND = re.compile(r"::(error|warning|notice) (file|title)=|::group::govern: |::endgroup::$")
# A pass on stdout: the text summary ("PASS  32 rules: …"), a validated spec, a JSON pass.
PASS_ON_STDOUT = re.compile(r'^(PASS\s+\d+ rules|valid:)|"outcome":\s*"pass"', re.MULTILINE)


def _load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for manifest in [MANIFEST, HOSTILE, *sorted(CORPUS.glob("cases-*.yaml"))]:  # cases-<topic>.yaml: more
        loaded = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        assert isinstance(loaded, list), f"{manifest} must hold a list of cases"
        cases.extend(loaded)
    return cases


CASES = _load_cases()


def _rel(path: Path) -> str:
    """Paths on the command line are relative to the repository, as a user would type them."""
    return os.path.relpath(path, REPO)


def _expand(arg: str, tmp: Path) -> str | bytes:
    out = (
        arg.replace("{tmp}", str(tmp))
        .replace("{spec}", _rel(EXAMPLE_SPEC))
        .replace("{evidence}", _rel(EXAMPLE_EVIDENCE))
    )
    if "{nonutf8}" in out:
        return out.encode().replace(b"{nonutf8}", NON_UTF8)
    return out


def _setup(case: dict[str, Any], tmp: Path) -> None:
    """Create the files a case needs in its own folder: pipes, sockets, links, sparse files."""
    import socket

    for item in case.get("setup", []):
        path = tmp / item["path"]
        kind = item["kind"]
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(path))  # left bound until the process ends: a live socket file
            _SOCKETS.append(server)
        elif kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "file":
            path.write_text(item.get("content", ""), encoding="utf-8")
        elif kind == "sparse":
            with open(path, "wb") as handle:
                handle.truncate(int(item["size"]))
        elif kind == "symlink":
            path.symlink_to(item["target"])
        elif kind == "spec":
            text = EXAMPLE_SPEC.read_text(encoding="utf-8")
            assert item["old"] in text, item
            path.write_text(text.replace(item["old"], item["new"], 1), encoding="utf-8")
        else:
            raise AssertionError(f"{case['id']}: unknown setup kind {kind!r}")


_SOCKETS: list[Any] = []


def _command_line(case: dict[str, Any], tmp: Path | None = None) -> list[Any]:
    command = case["command"]
    if command == "raw":
        assert tmp is not None
        return [str(GOVERN), *(_expand(str(a), tmp) for a in case["argv"])]
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


def _run(argv: list[Any], extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "RUST_BACKTRACE": "0", **(extra_env or {})}
    env.pop("GOVERN_DEBUG", None)
    for name in ("GOVERN_ALLOW_ROOT", "GOVERN_EVAL_TIMEOUT", "GOVERN_EVAL_MEMORY"):
        if name not in (extra_env or {}):
            env.pop(name, None)
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
    assert len(CASES) >= 250
    for case in CASES:
        assert set(case) <= CASE_KEYS, f"{case.get('id')}: unknown keys {set(case) - CASE_KEYS}"
        assert case["command"] in COMMANDS, case["id"]
        assert (case["command"] == "raw") == ("argv" in case), case["id"]
        # `govern test` follows `opa test`: a load error is exit 1
        errors = (1, 2, 3) if case["command"] == "test" else (2, 3)
        if case["expect_exit"] in errors:
            assert case.get("expect_stderr"), f"{case['id']}: say what stderr must name"
        else:  # a case that may pass must at least check what it prints
            assert case["expect_exit"] in (0, 1), case["id"]
            assert case.get("clean_output") or case["command"] in ("validate", "raw", "check"), case["id"]


def test_hostile_manifest_is_current() -> None:
    """hostile.yaml is written by make_hostile.py: every case there names an input that exists."""
    for case in CASES:
        for key in ("spec", "evidence", "policies"):
            if case.get(key) and "/h_" in case[key]:
                assert (CORPUS / case[key]).exists(), f"{case['id']}: {case[key]} is missing"


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
def test_bad_input_fails_cleanly(case: dict[str, Any], tmp_path: Path) -> None:
    _setup(case, tmp_path)
    argv = _command_line(case, tmp_path)
    proc = _run(argv, case.get("env"))
    shown = (
        f"$ govern {' '.join(os.fsdecode(a) for a in argv[1:])}\n--- exit {proc.returncode}\n"
        f"--- stderr:\n{proc.stderr[-3000:]}--- stdout:\n{proc.stdout[-2000:]}"
    )

    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert "internal error" not in proc.stderr, shown
    assert proc.returncode == case["expect_exit"], shown
    for forbidden in case.get("forbid_stderr", []):
        assert forbidden not in proc.stderr, f"stderr shows {forbidden!r}\n{shown}"
    if case.get("clean_output"):
        for stream in (proc.stdout, proc.stderr):
            assert "\x1b" not in stream, shown
            assert "\x9b" not in stream, shown
            for line in stream.splitlines():
                if line.lstrip().startswith("::"):
                    assert OWN_COMMAND.match(line), f"injected workflow command {line!r}\n{shown}"
    missing = [s for s in case.get("expect_stderr", []) if str(s) not in proc.stderr]
    assert not missing, f"stderr lacks {missing}\n{shown}"
    if case["expect_exit"] not in (2, 3):
        return
    assert not PASS_ON_STDOUT.search(proc.stdout), shown
    if case["expect_exit"] == 2:
        assert proc.stdout == "", shown
    stderr = proc.stderr.strip()
    assert stderr, shown
    assert len(stderr.splitlines()) <= MAX_STDERR_LINES, shown


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
    decision = json.loads(proc.stdout)["decision"]
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
    decision = json.loads(proc.stdout)["decision"]
    assert decision["outcome"] == "error"
    errored = [r for r in decision["results"] if r["result"] == "error"]
    assert [r["rule_id"] for r in errored] == [rule_id]
    assert rule_path in errored[0]["message"]
    assert f"{folder}/team.rego:" in errored[0]["message"]

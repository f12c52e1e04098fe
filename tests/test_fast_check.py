"""``govern check`` read without typer gives ``check`` exactly what typer gives it, or declines.

The fast path reads a table derived from typer's own command. On every command line here, and
on random ones, either it declines (typer reads the line: its errors, its exit codes) or typer
accepts the same line and passes ``check`` the same values. The console script then runs a
plain check without importing typer, with the output and exit code of the typer path.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govern.cli import fast_check
from govern.cli import main as cli_main

from .conftest import EVIDENCE, ROOT, SPEC

_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z"
)
_ENV = ("GOVERN_OPA_URL", "GOVERN_DECISION_LOG", "GOVERN_EVAL_TIMEOUT", "GOVERN_EVAL_MEMORY")


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    derived = fast_check.derive(cli_main.build_app(only_check=True))
    assert derived is not None
    return derived


def _typer_kwargs(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[int, dict[str, Any] | None]:
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> int:
        seen.append(kwargs)
        return 0

    monkeypatch.setattr(cli_main, "run_check", record)
    result = CliRunner().invoke(cli_main.build_app(only_check=True), ["check", *args])
    return result.exit_code, (seen[0] if seen else None)


def test_the_table_names_every_option_of_check(table: dict[str, Any]) -> None:
    names = [entry["name"] for entry in table["params"]]
    assert names[0] == "spec"
    assert {"evidence", "output_format", "report", "color", "eval_memory"} <= set(names)
    flags = {flag for entry in table["params"] for flag in entry.get("opts", ()) + entry.get("secondary", ())}
    assert {"-e", "--evidence", "-f", "--no-color", "--policies", "-p"} <= flags


LINES = {
    "plain": [str(SPEC), "--evidence", str(EVIDENCE)],
    "short and equals": [str(SPEC), "-e", str(EVIDENCE), "--as-of=2026-11-27", "-f", "json"],
    "spec last": ["-e", str(EVIDENCE), "--stage", "register", str(SPEC)],
    "repeated": [str(SPEC), "--param", "a.b=1", "--param", "c=2", "-p", "policies", "-p", "examples"],
    "reports": [str(SPEC), "--report", "junit=out.xml", "--report=sarif=out.sarif"],
    "flags": [str(SPEC), "--fail-on-warn", "--no-fail", "--no-builtin", "--v0-compatible", "--allow-empty"],
    "color": [str(SPEC), "--color", "--no-color"],
    "choices": [str(SPEC), "--backend", "opa", "--opa-url", "http://x", "--format", "markdown"],
    "last wins": [str(SPEC), "-f", "json", "-f", "sarif", "--as-of", "a", "--as-of", "b"],
    "limits": [str(SPEC), "--eval-timeout", "3", "--eval-memory", "1GiB", "--allow-root", "."],
    "output": [str(SPEC), "-o", "out.txt", "--decision-log", "log.jsonl", "--tracking-uri", "sqlite:///x"],
    # typer refuses these: the fast path must decline them all
    "unknown option": [str(SPEC), "--evidnce", str(EVIDENCE)],
    "bad choice": [str(SPEC), "-f", "yaml"],
    "case of a choice": [str(SPEC), "--stage", "Deploy"],
    "no spec": ["-e", str(EVIDENCE)],
    "two specs": [str(SPEC), str(SPEC)],
    "missing value": [str(SPEC), "--evidence"],
    "flag with a value": [str(SPEC), "--fail-on-warn=yes"],
    "double dash": ["--", str(SPEC)],
    "combined shorts": [str(SPEC), "-ef", str(EVIDENCE)],
    "attached short": [str(SPEC), f"-e{EVIDENCE}"],
    "value like an option": [str(SPEC), "--as-of", "-1"],
    "empty path": [str(SPEC), "--evidence", ""],
}


@pytest.mark.parametrize("name", sorted(LINES))
def test_the_fast_parse_is_typers_or_declines(
    name: str, table: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    args = LINES[name]
    fast = fast_check.parse(args, table)
    code, slow = _typer_kwargs(monkeypatch, args)
    if fast is not None:
        assert code == 0
        assert fast == slow
        assert [type(v) for v in fast.values()] == [type(v) for v in (slow or {}).values()]
    if code != 0:
        assert fast is None
    if name in ("plain", "short and equals", "repeated", "flags", "choices", "last wins"):
        assert fast is not None  # the common lines do take the fast path


def test_random_lines_agree(table: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    rng = random.Random(14)
    pieces = [
        [str(SPEC)],
        ["-e", str(EVIDENCE)],
        ["--evidence=" + str(EVIDENCE)],
        ["-s", "deploy"],
        ["--stage", "nope"],
        ["-f", "github"],
        ["--format", "JSON"],
        ["--report", "json=x.json"],
        ["--fail-on-warn"],
        ["--color"],
        ["--no-color"],
        ["--param", "x=1"],
        ["-p", "policies"],
        ["--backend", "embedded"],
        ["--as-of"],
        ["--bogus"],
        ["extra"],
        ["-o", "-"],
        ["-x"],
        ["--eval-timeout", "2"],
    ]
    agreed = declined = 0
    for _ in range(150):
        args = [token for piece in rng.sample(pieces, rng.randint(0, 6)) for token in piece]
        fast = fast_check.parse(args, table)
        code, slow = _typer_kwargs(monkeypatch, args)
        if fast is None:
            declined += 1
            continue
        assert code == 0, args
        assert fast == slow, args
        agreed += 1
    assert agreed > 10
    assert declined > 10


def test_an_option_set_in_the_environment_is_left_to_typer(
    table: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [str(SPEC), "-e", str(EVIDENCE)]
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    assert fast_check.parse(args, table) is not None
    monkeypatch.setenv("GOVERN_EVAL_TIMEOUT", "5")
    assert fast_check.parse(args, table) is None


def test_an_unreadable_path_is_left_to_typer(table: dict[str, Any], tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    locked = tmp_path / "spec.yaml"
    locked.write_text("x", encoding="utf-8")
    locked.chmod(0)
    assert fast_check.parse([str(locked)], table) is None


def test_no_table_without_a_cache_or_for_another_command_line_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVERN_CACHE_DIR", "off")
    assert fast_check.table() is None
    monkeypatch.setenv("GOVERN_CACHE_DIR", str(tmp_path))
    assert fast_check.table() is None
    fast_check.remember(cli_main.build_app(only_check=True))
    assert fast_check.table() == fast_check.derive(cli_main.build_app(only_check=True))
    real = fast_check._key_parts
    monkeypatch.setattr(fast_check, "_key_parts", lambda: (*real(), "another typer"))
    assert fast_check.table() is None


_PROBE = (
    "import sys\n"
    "from govern.cli import main\n"
    "sys.argv = ['govern', *sys.argv[1:]]\n"
    "try:\n"
    "    main.main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print('RESULT', code, 'typer' in sys.modules, file=sys.stderr)\n"
    "print('LOADED', sorted(m for m in ('yaml', 'jsonschema_rs', 'click', 'rich') if m in sys.modules), "
    "file=sys.stderr)\n"
)


def _console(args: list[str], cache: Path) -> tuple[str, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env["GOVERN_CACHE_DIR"] = str(cache)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    result = next(ln for ln in proc.stderr.splitlines() if ln.startswith("RESULT"))
    loaded = next(ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED"))
    stderr = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith(("RESULT", "LOADED")))
    return f"{result} {loaded}", _ID.sub("<id>", proc.stdout), stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27"], 0),
        (["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2028-01-01", "-f", "json"], 1),
        (["check", str(SPEC), "-e", "nowhere.json"], 2),
    ],
    ids=["pass", "denied", "bad input"],
)
def test_the_console_script_decides_without_typer_as_with_it(
    args: list[str], code: int, tmp_path: Path
) -> None:
    first = _console(args, tmp_path)  # no table yet: typer reads the line, the table is kept
    second = _console(args, tmp_path)
    assert first[0].startswith(f"RESULT {code} True")
    assert second[1:] == first[1:]
    if code != 2:  # a warm check: no typer, no YAML parser, no validator
        assert second[0] == f"RESULT {code} False LOADED []"
    else:  # an error message is printed with rich
        assert second[0] == f"RESULT {code} False LOADED ['rich']"


GOVERN = Path(sys.executable).parent / "govern"


@pytest.mark.skipif(not GOVERN.is_file(), reason="the console script is not installed here")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27"], 0),
        (["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2028-01-01", "-f", "json"], 1),
        (["check", str(SPEC), "-e", "nowhere.json"], 2),
    ],
    ids=["pass", "denied", "bad input"],
)
def test_the_installed_script_ends_as_the_typer_path_does(args: list[str], code: int, tmp_path: Path) -> None:
    """Through the console script, the fast path ends the process itself: same output, errors
    and exit code as the typer path (the first run, before the table exists)."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env["GOVERN_CACHE_DIR"] = str(tmp_path)
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", str(GOVERN), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=ROOT,
            env=env,
        )
        imported = {
            ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if ln.startswith("import time:")
        }
        stderr = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith("import time:"))
        runs.append((proc.returncode, _ID.sub("<id>", proc.stdout), stderr, "typer" in imported))
    (first_code, first_out, first_err, first_typer), (code2, out2, err2, typer2) = runs
    assert first_typer
    assert not typer2
    assert (code2, out2, err2) == (first_code, first_out, first_err)
    assert code2 == code

"""``govern check`` starts on a check-only command: the same output, errors and exit codes.

The console script builds only the ``check`` command when the command line is ``govern check``
without a help flag; everything else gets the whole command. Both are run here on the same
command lines (a pass, a denial, bad options, a missing argument, bad input) and must agree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govern.cli import main as cli_main

from .conftest import EVIDENCE, ROOT, SPEC

_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z"
)

CASES = {
    "pass": ["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27"],
    "denied": ["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2028-01-01"],
    "json": ["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27", "-f", "json"],
    "unknown option": ["check", str(SPEC), "--evidnce", str(EVIDENCE)],
    "bad format": ["check", str(SPEC), "-e", str(EVIDENCE), "-f", "yaml"],
    "missing argument": ["check"],
    "missing spec": ["check", "nowhere.yaml", "-e", str(EVIDENCE)],
    "bad as-of": ["check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "tomorrow"],
    "version after check": ["check", "--version"],
}


def _run(app: object, args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)  # type: ignore[arg-type]
    stdout = _ID.sub("<id>", result.stdout)
    return result.exit_code, stdout, _ID.sub("<id>", result.stderr)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_check_only_command_behaves_as_the_whole_command(case: str) -> None:
    args = CASES[case]
    assert cli_main._checks_only(args)
    whole = _run(cli_main.build_app(), args)
    alone = _run(cli_main.build_app(only_check=True), args)
    assert alone == whole
    if case == "pass":
        assert whole[0] == 0
    elif case in ("unknown option", "bad format", "missing argument", "missing spec", "bad as-of"):
        assert whole[0] == 2


def test_only_check_without_help_takes_the_short_path() -> None:
    assert cli_main._checks_only(["check", "spec.yaml"])
    assert not cli_main._checks_only(["check", "spec.yaml", "--help"])
    assert not cli_main._checks_only(["check", "-h"])
    assert not cli_main._checks_only(["validate", "spec.yaml"])
    assert not cli_main._checks_only(["--version"])
    assert not cli_main._checks_only([])


def test_the_console_script_on_check_builds_nothing_else(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from govern.cli import main\n"
        f"sys.argv = ['govern', 'check', {str(SPEC)!r}, '-e', {str(EVIDENCE)!r}, '--as-of', '2026-11-27']\n"
        "try:\n"
        "    main.main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "others = sorted(m for m in sys.modules if m.startswith('govern.cli.') and m.endswith(('_command', "
        "'_commands')))\n"
        "print('RESULT', code, main._full_app is None, others, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("RESULT"))
    assert line == "RESULT 0 True []", proc.stderr
    assert "GOV-FAIR-001" in proc.stdout

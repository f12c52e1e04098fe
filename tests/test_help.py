"""One spelling of options, and a --help that teaches, on every command."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from govern.cli.main import app

runner = CliRunner()


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for command in group.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        out.append((*prefix, name.replace("_", "-")))
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        out.extend(_commands(sub.typer_instance, (*prefix, str(sub.name))))
    return out


COMMANDS = _commands(app)


def test_every_command_is_listed() -> None:
    names = {" ".join(c) for c in COMMANDS}
    expected = {"check", "collect", "card", "replay", "validate", "test", "version", "watch"}
    expected |= {"gate register", "gate promote", "gate rollback", "audit verify", "audit show"}
    expected |= {"bundle build", "input", "params"}
    assert expected <= names, expected - names


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example_and_one_spelling_of_format_and_output(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = result.output
    if command != ("version",):
        assert re.search(r"Examples?:", text), f"govern {' '.join(command)} --help has no example"
    # -f is the format and -o the output file, wherever they appear
    rows = [line for line in text.splitlines() if re.match(r"^[\s│|]*--[a-z]", line)]  # option rows
    assert rows or command == ("version",)
    for line in rows:
        match = re.match(r"^[\s│|]*--([a-z][\w-]*)(?:,\s*|\s+)-([a-zA-Z])\b", line)
        if match is None:
            continue
        long_name, short = match.groups()
        if short == "o":
            assert long_name == "output", f"govern {' '.join(command)}: -o is --{long_name}"
        if short == "f":
            assert long_name == "format", f"govern {' '.join(command)}: -f is --{long_name}"


@pytest.mark.parametrize(
    "argv",
    [
        ("check", "examples/adult-income/spec.yaml", "-e", "examples/adult-income/evidence.json", "-o"),
        ("bundle", "build", "examples/adult-income/spec.yaml", "-o"),
        ("card", "examples/adult-income/spec.yaml", "-e", "examples/adult-income/evidence.json", "-o"),
    ],
    ids=["check", "bundle", "card"],
)
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    """Writing atomically renames over the target: over a device or a FIFO that would replace it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = runner.invoke(app, [*argv, str(fifo)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "not a regular file" in result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)

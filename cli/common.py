"""Helpers every command shares: error mapping, stderr messages, atomic writes, and the
checks of option values (aliases, versions, output paths, allowed roots) that make a bad
value an input error (exit 2) naming the option, before anything is evaluated."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from govern.engine.errors import ConfigError, GovernError

__all__ = [
    "allowed_roots",
    "check_alias",
    "check_output_path",
    "check_version",
    "error_exit_code",
    "handle_errors",
    "stderr",
    "write_atomic",
]

#: Folders besides a spec's own that its data and policy paths may name (os.pathsep-separated).
ALLOW_ROOT_ENV = "GOVERN_ALLOW_ROOT"
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")

P = ParamSpec("P")
R = TypeVar("R")


def stderr(message: str, style: str = "bold red") -> None:
    """A message for people on stderr: neutralized (no escapes, no `::` commands), never markup."""
    from rich.console import Console
    from rich.text import Text

    from govern.engine.formats.sanitize import clean

    Console(stderr=True, highlight=False, soft_wrap=True).print(Text(clean(message), style=style))


def _shown(value: str) -> str:
    from govern.engine.formats.sanitize import one_line

    return one_line(repr(value))


def check_alias(value: str | None, option: str = "--alias") -> str | None:
    """An MLflow alias as given on the command line: None (the default) or a valid name."""
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(f"{option}: an empty alias names nothing; give the alias, e.g. {option} champion")
    from govern.engine.spec import ALIAS_RULE, is_valid_alias

    if not is_valid_alias(value):
        raise ConfigError(f"{option} {_shown(value)} is not a valid alias: use {ALIAS_RULE}")
    return value


def check_version(value: str | None, option: str = "--version") -> str | None:
    """A model version as given on the command line: None or a positive integer."""
    if value is None:
        return None
    if not _VERSION_RE.fullmatch(value.strip()):
        raise ConfigError(f"{option} {_shown(value)} is not a model version (a positive integer)")
    return value.strip()


def check_output_path(path: Path | None, option: str = "--output") -> Path | None:
    """A file the command will write: not a directory, a UTF-8 name, its folder not a file."""
    if path is None:
        return None
    name = os.fsdecode(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option}: the path {_shown(name)} is not valid UTF-8") from None
    if path.is_dir():
        raise ConfigError(f"{option} {name}: is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{option} {name}: is not a regular file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {name}: {parent} is a file, not a folder")
            break
    return path


def allowed_roots(option: list[Path] | None = None) -> tuple[Path, ...]:
    """``--allow-root`` folders and those of GOVERN_ALLOW_ROOT; each must be an existing folder."""
    roots = list(option or [])
    roots += [Path(p) for p in os.environ.get(ALLOW_ROOT_ENV, "").split(os.pathsep) if p]
    for root in roots:
        if not root.is_dir():
            raise ConfigError(f"--allow-root {root}: not an existing folder")
    return tuple(roots)


def error_exit_code(exc: Exception) -> int | None:
    """Say on stderr, in one paragraph, what went wrong, and give the exit code: the error's own
    for a govern error, 3 for anything else. None with ``GOVERN_DEBUG`` set: re-raise it."""
    if isinstance(exc, GovernError):
        kind = "error" if exc.exit_code == 2 else "evaluation error"
        stderr(f"{kind}: {exc}")
        return exc.exit_code
    if os.environ.get("GOVERN_DEBUG"):
        return None
    stderr(
        f"internal error: {type(exc).__name__}: {exc}. No decision was made (exit 3). "
        "Re-run with GOVERN_DEBUG=1 for a traceback and report it."
    )
    return 3


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map engine errors to exit codes with a one-paragraph message; no tracebacks."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import typer

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            code = error_exit_code(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper


def write_atomic(text: str, output: Path | None) -> None:
    """Write to ``output`` atomically (temp file + rename), or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    import tempfile

    check_output_path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {os.fsdecode(output)}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, output)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {os.fsdecode(output)}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

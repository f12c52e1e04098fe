"""Helpers every command shares: error mapping, stderr messages, atomic writes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer

from govern.engine.errors import GovernError

__all__ = ["handle_errors", "stderr", "write_atomic"]

P = ParamSpec("P")
R = TypeVar("R")


def stderr(message: str, style: str = "bold red") -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message, style=style, markup=False)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map engine errors to exit codes with a one-paragraph message; no tracebacks."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GovernError as exc:
            kind = "error" if exc.exit_code == 2 else "evaluation error"
            stderr(f"{kind}: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("GOVERN_DEBUG"):
                raise
            stderr(
                f"internal error: {type(exc).__name__}: {exc}. No decision was made (exit 3). "
                "Re-run with GOVERN_DEBUG=1 for a traceback and report it."
            )
            raise typer.Exit(3) from None

    return wrapper


def write_atomic(text: str, output: Path | None) -> None:
    """Write to ``output`` atomically (temp file + rename), or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    import tempfile

    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

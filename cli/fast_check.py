"""``govern check`` without typer: the same command, read from a table typer itself produced.

Importing typer and building the command costs a cold ``govern check`` more than deciding. The
options of ``check`` are declared once, in ``main.check``'s signature, for typer; this module
reads a *table* of them (flags, types, choices, defaults, environment variables) that is derived
from the click command typer builds, the first time a plain ``govern check`` line runs, and kept
in the policy cache (keyed by the source of the command-line modules and by the installed typer).
With a table, a command line made only of what the table knows (the spec; ``--opt value``,
``--opt=value`` or ``-o value``; flags; repeated options) is parsed here and ``check`` runs
directly, with the values typer would have passed. Anything else — an unknown or misspelled
option, a missing or extra argument, a value typer would refuse or that starts with ``-``, an
option also set through its environment variable, shell completion, no table — is left to typer,
so ``--help``, every error message and every exit code are typer's own.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["parse", "remember", "run", "table"]

_KIND = "cli-check-table"
_FORMAT = 1
#: The command-line modules whose source decides the table (with typer's own files).
_SOURCES = ("main.py", "options.py", "check_run.py", "pipeline_options.py", "fast_check.py")
_PATH_KEYS = ("exists", "file_okay", "dir_okay", "readable", "writable", "resolve_path", "allow_dash")

Table = dict[str, Any]


def _files_identity(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    parts = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(suffixes):
            info = os.stat(os.path.join(folder, name))
            parts.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    return parts


def _key_parts() -> tuple[str, ...]:
    """What the table depends on: this package's command-line sources and the installed typer."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256(f"{_FORMAT}\0{sys.version}".encode())
    for name in _SOURCES:
        with open(os.path.join(here, name), "rb") as fh:
            h.update(fh.read())
    found = importlib.util.find_spec("typer")
    if found is None or found.origin is None:  # pragma: no cover - a declared dependency
        raise ImportError("typer is not installed")
    typer_dir = os.path.dirname(found.origin)
    typer_files = [
        *_files_identity(typer_dir, (".py", ".so")),
        *_files_identity(os.path.join(typer_dir, "_click"), (".py", ".so")),
    ]
    return (h.hexdigest(), *typer_files)


def table() -> Table | None:
    """The table for the installed command, if one was remembered (None: the cache is off,
    empty or stale)."""
    from govern.engine.policy_cache import cache_dir, cached

    if cache_dir() is None:
        return None
    try:
        parts = _key_parts()
    except (OSError, ImportError, ValueError):
        return None

    def missing() -> Table | None:
        return None

    def decode(value: Any) -> Table:
        if not isinstance(value, dict) or value.get("format") != _FORMAT:
            raise TypeError("not a command table")
        return value

    def refuse(value: Table | None) -> Any:
        raise ValueError("only remember() writes a table")

    found: Table | None = cached(_KIND, parts, missing, refuse, decode)
    return found


def remember(app: typer.Typer) -> None:
    """Derive the table from the command typer builds for ``app`` and keep it (when the command
    holds only what :func:`parse` understands; otherwise nothing is kept)."""
    from govern.engine.policy_cache import cache_dir, cached

    if cache_dir() is None:
        return
    try:
        parts = _key_parts()
        derived = derive(app)
    except (OSError, ImportError, ValueError):
        return
    if derived is None:
        return

    def decode(value: Any) -> Table:
        if value != derived:
            raise TypeError("another table")
        return derived

    cached(_KIND, parts, lambda: derived, lambda value: value, decode)


def _enum_name(annotation: Any) -> str | None:
    """``module:qualname`` of the Enum in ``X``, ``X | None`` or ``list[X] | None``, else None."""
    import typing
    from enum import Enum

    candidates = [annotation]
    while candidates:
        item = candidates.pop()
        if isinstance(item, type) and issubclass(item, Enum):
            return f"{item.__module__}:{item.__qualname__}"
        candidates.extend(typing.get_args(item))
    return None


def _default(value: Any) -> Any:
    from enum import Enum

    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | str | int):
        return value
    raise ValueError(f"a default the table cannot hold: {value!r}")


_UNREAD_SETTINGS = (
    "ignore_unknown_options",
    "allow_extra_args",
    "token_normalize_func",
    "auto_envvar_prefix",
)


def derive(app: typer.Typer) -> Table | None:
    """The table of ``check`` in ``app``'s command, or None if it holds something :func:`parse`
    does not read (then typer reads every line)."""
    import typer.main
    from typer.utils import get_params_from_function

    from . import main

    group: Any = typer.main.get_command(app)
    command = group.commands.get("check")
    if command is None or not command.allow_interspersed_args:
        return None
    settings = {**group.context_settings, **command.context_settings}
    if any(settings.get(name) for name in _UNREAD_SETTINGS):
        return None
    metas = get_params_from_function(main.check)
    params: list[dict[str, Any]] = []
    for param in command.params:
        meta = metas.get(param.name or "")
        entry = _entry(param, meta) if meta is not None else None
        if entry is None:
            return None
        params.append(entry)
    if [entry["kind"] for entry in params].count("argument") != 1:
        return None
    return {"format": _FORMAT, "params": params}


def _entry(param: Any, meta: Any) -> dict[str, Any] | None:
    """One parameter of the table, or None if :func:`parse` could not read it as typer does."""
    from enum import Enum

    from typer import _types, models
    from typer._click import types

    if param.callback is not None or param.is_eager or param.nargs != 1 or not param.expose_value:
        return None
    kind = param.param_type_name
    envvar = list(param.envvar) if isinstance(param.envvar, list | tuple) else param.envvar
    entry: dict[str, Any] = {"name": param.name, "kind": kind, "envvar": envvar}
    ptype = param.type
    if isinstance(ptype, models.TyperPath):
        if getattr(ptype, "type", None) not in (None, Path):
            return None
        entry["type"] = "path"
        entry["path"] = {key: bool(getattr(ptype, key)) for key in _PATH_KEYS}
    elif isinstance(ptype, _types.TyperChoice) and ptype.case_sensitive:
        entry["type"] = "choice"
        entry["choices"] = [c.value if isinstance(c, Enum) else str(c) for c in ptype.choices]
    elif isinstance(ptype, types.BoolParamType):
        entry["type"] = "bool"
    elif isinstance(ptype, types.StringParamType):
        entry["type"] = "str"
    else:
        return None
    entry["enum"] = _enum_name(meta.annotation)
    if entry["type"] == "choice" and entry["enum"] is None:
        return None
    default = meta.default
    if isinstance(default, models.ParameterInfo):
        if default.default_factory is not None:
            return None
        default = default.default
    entry["default"] = None if default is ... else _default(default)
    if kind == "argument":
        return entry if param.required and not envvar else None
    if kind != "option" or param.required or param.prompt is not None or param.count:
        return None
    flag_value = getattr(param, "flag_value", getattr(param, "_depr_flag_value", None))
    if getattr(param, "is_bool_flag", False) != param.is_flag or (
        param.is_flag and (entry["type"] != "bool" or flag_value is not True)
    ):
        return None
    entry["opts"] = list(param.opts)
    entry["secondary"] = list(param.secondary_opts)
    entry["flag"] = bool(param.is_flag)
    entry["multiple"] = bool(param.multiple)
    return entry


class _Decline(Exception):
    """This command line is for typer to read."""


def _path_value(text: str, rules: dict[str, bool]) -> Path:
    """``text`` as typer's path type converts it; declines where typer would complain."""
    if not text or rules["resolve_path"] or (rules["allow_dash"] and text == "-"):
        raise _Decline
    try:
        st = os.stat(text)
    except OSError:
        if rules["exists"]:
            raise _Decline from None
        return Path(text)
    if (not rules["file_okay"] and stat.S_ISREG(st.st_mode)) or (
        not rules["dir_okay"] and stat.S_ISDIR(st.st_mode)
    ):
        raise _Decline
    if (rules["readable"] and not os.access(text, os.R_OK)) or (
        rules["writable"] and not os.access(text, os.W_OK)
    ):
        raise _Decline
    return Path(text)


def _enum(name: str) -> Any:
    module, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _convert(entry: dict[str, Any], text: str) -> Any:
    kind = entry["type"]
    if kind == "path":
        return _path_value(text, entry["path"])
    if kind == "choice":
        if text not in entry["choices"]:
            raise _Decline
        cls = _enum(entry["enum"])
        if [member.value for member in cls] != entry["choices"]:
            raise _Decline  # the enum changed since the table was made
        return cls(text)
    if kind == "str":
        return text
    raise _Decline


def _value_default(entry: dict[str, Any]) -> Any:
    default = entry["default"]
    if entry.get("multiple"):
        if default is not None:
            raise _Decline
        return None
    if default is not None and entry["enum"] is not None:
        return _enum(entry["enum"])(default)
    return default


def parse(args: list[str], tab: Table) -> dict[str, Any] | None:
    """The keyword arguments typer would pass ``check`` for ``args`` (without the leading
    ``check``), or None when the line is for typer to read."""
    try:
        return _parse(args, tab)
    except _Decline:
        return None


def _parse(args: list[str], tab: Table) -> dict[str, Any]:
    entries: list[dict[str, Any]] = tab["params"]
    by_flag: dict[str, tuple[dict[str, Any], bool]] = {}
    for entry in entries:
        if entry["envvar"]:
            names = entry["envvar"] if isinstance(entry["envvar"], list) else [entry["envvar"]]
            if any(name in os.environ for name in names):
                raise _Decline  # typer reads the environment: let it
        for flag in entry.get("opts", ()):
            by_flag[flag] = (entry, True)
        for flag in entry.get("secondary", ()):
            by_flag[flag] = (entry, False)
    given: dict[str, Any] = {}
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in {"--", "-"}:
            raise _Decline
        if not arg.startswith("-"):
            positional.append(arg)
            continue
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in by_flag:
            raise _Decline
        entry, on = by_flag[name]
        if entry["flag"]:
            if eq:
                raise _Decline
            given[entry["name"]] = on
            continue
        if eq:
            text = attached
        elif rest and not rest[0].startswith("-"):
            text = rest.pop(0)
        else:
            raise _Decline
        value = _convert(entry, text)
        if entry["multiple"]:
            given.setdefault(entry["name"], []).append(value)
        else:
            given[entry["name"]] = value
    arguments = [entry for entry in entries if entry["kind"] == "argument"]
    if len(positional) != len(arguments):
        raise _Decline
    out: dict[str, Any] = {}
    for entry in entries:
        if entry["kind"] == "argument":
            out[entry["name"]] = _convert(entry, positional.pop(0))
        elif entry["name"] in given:
            out[entry["name"]] = given[entry["name"]]
        else:
            out[entry["name"]] = _value_default(entry)
    return out


def _completing() -> bool:
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def run(args: list[str]) -> bool:
    """Run ``govern check`` for ``args`` (which start with ``check``) without typer, and exit.

    Returns only when typer must read the line: False when no table is known yet (the caller
    then remembers one), True when the table does not take this line."""
    if _completing():
        return True
    tab = table()
    if tab is None:
        return False
    kwargs = parse(args[1:], tab)
    if kwargs is None:
        return True
    from .check_run import run_check
    from .common import error_exit_code

    # A check with its evidence at hand is short and makes little garbage: the collections its
    # imports and objects would trigger are skipped (collecting from MLflow keeps them).
    threshold = gc.get_threshold()
    if kwargs.get("evidence") is not None:
        gc.set_threshold(max(threshold[0], 100_000), *threshold[1:])
    try:
        code = run_check(**kwargs)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # what typer makes of an interrupt
    except Exception as exc:
        mapped = error_exit_code(exc)
        if mapped is None:
            raise
        code = mapped
    finally:
        gc.set_threshold(*threshold)
    # The process ends here: what is alive now is never collected again, so the interpreter's
    # last collection at exit does not walk every object of the engine (a tenth of a check).
    gc.freeze()
    if _run_by_the_console_script():
        _end_process(code)
    raise SystemExit(code)


def _run_by_the_console_script() -> bool:
    """Whether ``main()`` was called by the ``govern`` console script itself (``sys.exit(main())``
    in its ``__main__``), which ends the process with main's exit code whatever happens next."""
    script = sys.modules.get("__main__")
    path = getattr(script, "__file__", None)
    if script is None or not isinstance(path, str) or os.path.basename(path) not in ("govern", "govern.exe"):
        return False
    caller = sys._getframe(3)  # _run_by_the_console_script < run < main < the script
    return caller.f_globals is script.__dict__


def _end_process(code: int) -> None:
    """End the process now, as the interpreter would after ``sys.exit(code)``, without tearing
    down every module first (a few milliseconds): only when that teardown has nothing left to do
    that anyone could see: the output flushed, no exit handler registered, no other thread."""
    import atexit

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # a closed or broken stream: the interpreter's own exit reports it
    threading = sys.modules.get("threading")
    if getattr(atexit, "_ncallbacks", lambda: 1)() or (
        threading is not None and threading.active_count() > 1
    ):
        return
    os._exit(code)

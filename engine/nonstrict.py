"""``opa test``'s non-strict built-in errors, for ``govern test`` on the embedded engine only.

``opa test`` evaluates built-ins non-strictly: a built-in that fails (``object.get`` on ``null``,
``to_number("x")``) makes its expression undefined and evaluation goes on; regorus always raises.
``govern test`` reads the failing call's place from the engine's error, replaces that one call by
:data:`NONSTRICT_EXT` (``f(a, b)`` becomes ``govern_nonstrict_call("f", [a, b])[0]``: the
built-in's value, or undefined when it fails) and runs the test again. Decisions never load this
rewrite: there an erroring built-in is an error.

``sprintf`` never fails in OPA on a string and an array (Go writes ``%!v(MISSING)`` for a
missing argument): the extension writes Go's text, and where that text cannot be reproduced
(how a number was written is unknown here) the call stays an error.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final

from .rego_ast import Spanned, as_spanned, import_regorus, iter_spanned, ref_name

__all__ = ["NONSTRICT_EXT", "call_at", "enabled", "error_place", "nonstrict_call"]

NONSTRICT_EXT: Final = "govern_nonstrict_call"

_LOCATION_RE = re.compile(r":(?P<line>\d+): .*\(column (?P<col>\d+)\)", re.S)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_local = threading.local()


class enabled:
    """Within this block (``govern test``), :data:`NONSTRICT_EXT` evaluates; anywhere else it
    raises, so a decision never treats a failing built-in as undefined."""

    def __enter__(self) -> None:
        _local.depth = getattr(_local, "depth", 0) + 1

    def __exit__(self, *_: object) -> None:
        _local.depth -= 1


def _engine() -> Any:
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = import_regorus().Engine()
        _local.engine = engine
    return engine


class _Unknown:
    """Nothing is known here of how the numbers were written: any integer may be a float."""

    def ambiguous(self, value: int) -> bool:
        return True

    def opa_float(self, value: float) -> float:
        return value


def _sprintf(args: list[Any]) -> list[Any]:
    """``sprintf`` as OPA writes it (Go never fails on a string and an array; a missing argument
    is ``%!v(MISSING)``); a text that cannot be reproduced stays an error; other operands are
    OPA's type error: undefined."""
    from .backends.gofmt import go_sprintf  # only govern test's reruns need it

    if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], list):
        return []
    return [go_sprintf(args[0], args[1], _Unknown())]


def nonstrict_call(name: Any, args: Any) -> list[Any]:
    """``[value]`` of the built-in ``name`` on ``args``, or ``[]`` when the built-in fails."""
    if not getattr(_local, "depth", 0):
        raise RuntimeError(f"{NONSTRICT_EXT} is for govern test only; a decision never calls it")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or not isinstance(args, list):
        return []
    if name == "sprintf":
        return _sprintf(args)
    engine = _engine()
    try:
        engine.set_input(args)
        result = engine.eval_query(f"__v := {name}({', '.join(f'input[{i}]' for i in range(len(args)))})")
    except Exception:  # the built-in failed: undefined, as opa test's non-strict evaluation
        return []
    rows = result.get("result") or []
    if not rows or "__v" not in rows[0].get("bindings", {}):
        return []
    return [rows[0]["bindings"]["__v"]]


def _call_name(node: Spanned) -> str | None:
    return ref_name(node.body.get("fcn"))


def error_place(message: str) -> tuple[int, int] | None:
    """(line, column) of an engine error message."""
    match = _LOCATION_RE.search(message)
    return (int(match.group("line")), int(match.group("col"))) if match else None


def call_at(text: str, ast: dict[str, Any], message: str, is_builtin: Any) -> tuple[str, str] | None:
    """``text`` with the built-in call the engine's error ``message`` points at made non-strict,
    and the built-in's name; None when the error names no such call.

    regorus puts the error at the offending argument (or at the call): the innermost built-in
    call with that argument, or at that place, is the one that failed."""
    place = error_place(message)
    if place is None:
        return None
    line, col = place
    best: tuple[int, Spanned, str] | None = None
    for node in iter_spanned(ast.get("rules", [])):
        if node.kind != "Call":
            continue
        name = _call_name(node)
        if name is None or name == NONSTRICT_EXT or not is_builtin(name):
            continue
        params = [p for p in (as_spanned(a) for a in node.body.get("params") or []) if p is not None]
        here = (node.line, node.col) == (line, col) or any((p.line, p.col) == (line, col) for p in params)
        if here and (best is None or node.end - node.start < best[0]):
            best = (node.end - node.start, node, name)
    if best is None:
        return None
    _, node, name = best
    data = text.encode("utf-8")
    fcn = as_spanned(node.body.get("fcn"))
    call_text = data[node.start : node.end]
    opening = data.find(b"(", fcn.end if fcn is not None else node.start, node.end)
    if opening < 0 or not call_text.endswith(b")"):
        return None
    args = data[opening + 1 : node.end - 1]  # the argument list as written
    replacement = f'{NONSTRICT_EXT}("{name}", ['.encode() + args + b"])[0]"
    return (data[: node.start] + replacement + data[node.end :]).decode("utf-8"), name

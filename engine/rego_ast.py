"""Rego read through the engine's own parser: rule heads from the AST, never from regular expressions.

regorus parses each module (``Engine.get_ast_as_json``); govern reads the package, every rule
head (indented, spread over lines, or a ref head such as ``deny.always := ...``) and the tests from
that tree. Only ``# METADATA`` comments are read as text, by ``policyset``.

OPA accepts a function with no body (``allowed("x")``, meaning ``allowed("x") := true``); regorus
does not, so such a head is given its implied ``:= true`` before parsing. The module keeps its
original text; the completed text is what the embedded engine loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from .errors import BackendError, Location, PolicyLoadError
from .policy_cache import cached

__all__ = [
    "Head",
    "ParsedModule",
    "Spanned",
    "import_regorus",
    "iter_spanned",
    "parse_rego",
    "split_engine_error",
]

_BODILESS = "rule must have a body or assignment"
_CHAINED = "else cannot be used with set rules"
_LOCATION_RE = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_MAX_REPAIRS = 10_000


def import_regorus() -> Any:
    """Import regorus without Rust backtraces appended to every error message."""
    import os

    os.environ["RUST_LIB_BACKTRACE"] = "0"
    import regorus

    return regorus


_DIST = "gordon_to_regorus"


@cache
def regorus_version() -> str:
    """regorus' version (``regorus 0.13.0``), from the ``<name>-<version>.dist-info`` folder beside
    the package, which a wheel installation names so; ``importlib.metadata`` (slow to import)
    only when that folder is not there or not alone. Read once per process (every decision
    records it)."""
    import os
    import sys

    for entry in sys.path:
        folder = entry or "."
        if not os.path.isdir(os.path.join(folder, "regorus")):
            continue
        try:
            found = [n for n in os.listdir(folder) if n.startswith(_DIST + "-") and n.endswith(".dist-info")]
        except OSError:
            break
        if len(found) == 1:
            return f"regorus {found[0][len(_DIST) + 1 : -len('.dist-info')]}"
        break
    from importlib import metadata

    try:
        return f"regorus {metadata.version('gordon-to-regorus')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - installed some other way
        return "regorus (unknown version)"


def _generic(message: str) -> bool:
    """An engine heading with no detail (regorus nests "Compilation error:" around the cause)."""
    return message.rstrip(": ").strip() in ("", "Compilation error")


def split_engine_error(text: str) -> tuple[str, Location | None]:
    """Reduce a multi-line engine diagnostic to one sentence and its location.

    The first error line that says something is taken, with the location just before it.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Stack backtrace", "at /"))]
    message: str | None = None
    match = _LOCATION_RE.search(text)
    last: re.Match[str] | None = None
    for line in lines:
        found = _LOCATION_RE.search(line)
        if found:
            last = found
        elif line.startswith("error:"):
            candidate = line[len("error:") :].strip()
            if message is None or (_generic(message) and not _generic(candidate)):
                message = candidate
                match = last or match
    location = Location(match.group("file"), int(match.group("line"))) if match else None
    if message is None:
        message = lines[-1] if lines else "unknown engine error"
    if match:
        message = f"{message} (column {match.group('col')})"
    return message, location


@dataclass(frozen=True)
class Head:
    """One rule head: its name (the first part of its reference), line, and shape."""

    name: str
    line: int
    is_function: bool
    is_default: bool


@dataclass(frozen=True)
class ParsedModule:
    """A module as regorus parsed it: the text it loads (bodiless heads completed), its package,
    its rule heads and (:attr:`ast`) its syntax tree.

    When the facts come from the cache, the tree is parsed again only if something asks for it.
    """

    text: str
    package: str
    heads: tuple[Head, ...]
    path: str = ""
    v0: bool = False
    tree: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def ast(self) -> dict[str, Any]:
        """The syntax tree (``Engine.get_ast_as_json``) of :attr:`text`."""
        if self.tree is not None:
            return self.tree
        regorus = import_regorus()
        engine = regorus.Engine()
        engine.set_rego_v0(self.v0)
        try:
            engine.add_policy(self.path, self.text)
        except Exception as exc:  # pragma: no cover - this text parsed before
            message, location = split_engine_error(str(exc))
            raise PolicyLoadError(message, location or Location(self.path)) from None
        return syntax_tree(engine, self.text)


@dataclass(frozen=True)
class Spanned:
    """An AST element with a source span: ``kind`` is its node type ('' for plain elements)."""

    kind: str
    body: dict[str, Any]

    @property
    def start(self) -> int:
        return int(self.body["span"]["start"])

    @property
    def end(self) -> int:
        return int(self.body["span"]["end"])

    @property
    def line(self) -> int:
        return int(self.body["span"]["line"])

    @property
    def col(self) -> int:
        return int(self.body["span"]["col"])


def as_spanned(value: Any) -> Spanned | None:
    """The element ``value`` is, when it is one (``{"Kind": {"span": ...}}`` or ``{"span": ...}``)."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("span"), dict) and "start" in value["span"]:
        return Spanned("", value)
    if len(value) == 1:
        kind, body = next(iter(value.items()))
        if isinstance(body, dict) and isinstance(body.get("span"), dict):
            return Spanned(kind, body)
    return None


def ref_name(node: Any) -> str | None:
    """The dotted name a reference spells (``a.b.c`` for a call's function or a rule head), or
    None when it is not a plain dotted reference."""
    parts: list[str] = []
    current = as_spanned(node)
    while current is not None:
        if current.kind == "RefDot":
            parts.append(str(current.body["field"][1]))
            current = as_spanned(current.body["refr"])
        elif current.kind == "Var":
            parts.append(str(current.body["value"]))
            current = None
        else:
            return None
    return ".".join(reversed(parts))


def iter_spanned(value: Any) -> Iterator[Spanned]:
    """Every spanned element under ``value``, outermost first."""
    node = as_spanned(value)
    if node is not None:
        yield node
        children: Any = node.body
    else:
        children = value
    if isinstance(children, dict):
        for key, child in children.items():
            if key != "span":
                yield from iter_spanned(child)
    elif isinstance(children, list):
        for child in children:
            yield from iter_spanned(child)


def _ref_root(node: Any) -> str | None:
    """The first name of a head reference (``deny`` for ``deny.always`` and ``deny[x]``)."""
    spanned = as_spanned(node)
    while spanned is not None and spanned.kind in ("RefDot", "RefBrack"):
        spanned = as_spanned(spanned.body["refr"])
    if spanned is not None and spanned.kind == "Var":
        return str(spanned.body["value"])
    return None


def _heads(ast: dict[str, Any]) -> tuple[Head, ...]:
    out: list[Head] = []
    for rule in ast.get("rules", []):
        spanned = as_spanned(rule)
        if spanned is None:
            continue
        if spanned.kind == "Default":
            name = _ref_root(spanned.body.get("refr"))
            if name:
                out.append(Head(name, spanned.line, bool(spanned.body.get("args")), True))
            continue
        head = as_spanned(spanned.body.get("head"))
        if head is None:
            continue
        name = _ref_root(head.body.get("refr"))
        if name:
            out.append(Head(name, head.line, head.kind == "Func", False))
    return tuple(out)


def _package(ast: dict[str, Any]) -> str:
    parts: list[str] = []
    node = as_spanned(ast["package"]["refr"])
    while node is not None:
        if node.kind == "RefDot":
            parts.append(str(node.body["field"][1]))
            node = as_spanned(node.body["refr"])
        elif node.kind == "RefBrack":
            index = as_spanned(node.body["index"])
            parts.append(str(index.body.get("value")) if index is not None else "?")
            node = as_spanned(node.body["refr"])
        elif node.kind == "Var":
            parts.append(str(node.body["value"]))
            node = None
        else:  # pragma: no cover - the parser accepts no other package shape
            node = None
    return ".".join(reversed(parts))


def _code(data: bytes, start: int) -> Iterator[tuple[int, int]]:
    """Each (offset, byte) of Rego source from ``start`` on that is code: not inside a string, a
    raw string or a comment."""
    i = start
    quote: int | None = None
    while i < len(data):
        c = data[i]
        if quote is not None:
            if c == ord("\\") and quote == ord('"'):
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in (ord('"'), ord("`")):
            quote = c
        elif c == ord("#"):
            while i < len(data) and data[i] != ord("\n"):
                i += 1
            continue
        else:
            yield i, c
        i += 1


def _close_paren(data: bytes, start: int) -> int | None:
    """The offset just past the ')' that closes the first '(' at or after ``start``."""
    depth = 0
    for i, c in _code(data, start):
        if c == ord("("):
            depth += 1
        elif c == ord(")"):
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _line_offset(data: bytes, line: int, col: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = data.index(b"\n", offset) + 1
    return offset + col - 1


_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_V0_HINT = (
    "this looks like Rego v0: declare `rego_version: v0` for its path under policies.paths in the "
    "spec, or pass --v0-compatible"
)


def _encode(parsed: ParsedModule) -> dict[str, Any]:
    return {
        "text": parsed.text,
        "package": parsed.package,
        "heads": [[h.name, h.line, h.is_function, h.is_default] for h in parsed.heads],
    }


def _decoder(path: str, v0: bool) -> Callable[[Any], ParsedModule]:
    def decode(value: Any) -> ParsedModule:
        text, package, heads = value["text"], value["package"], value["heads"]
        if not isinstance(text, str) or not isinstance(package, str) or not isinstance(heads, list):
            raise TypeError("not a parsed module")
        out = []
        for name, line, is_function, is_default in heads:
            if not (isinstance(name, str) and type(line) is int):
                raise TypeError("not a head")
            if not (isinstance(is_function, bool) and isinstance(is_default, bool)):
                raise TypeError("not a head")
            out.append(Head(name, line, is_function, is_default))
        return ParsedModule(text=text, package=package, heads=tuple(out), path=path, v0=v0)

    return decode


def parse_rego(path: str, text: str, *, v0: bool) -> ParsedModule:
    """Parse one module with regorus; a syntax error is a PolicyLoadError with file and line.

    What the parse yields (the loaded text, the package, the heads) is cached on disk by the
    module's text (:mod:`govern.engine.policy_cache`); the tree is then parsed only on demand."""
    return cached(
        "parse",
        (text, "v0" if v0 else "v1"),
        lambda: _parse(path, text, v0=v0),
        _encode,
        _decoder(path, v0),
    )


#: The deepest nesting of ``[`` and ``{`` a module may have: regorus' parser takes time that
#: doubles with each level (measured: 14 levels 0.4-0.7 s, 20 levels 31 s, 22 levels 133 s).
MAX_NESTING = 16


def _check_nesting(path: str, text: str) -> None:
    """Refuse a module whose brackets nest deeper than :data:`MAX_NESTING` (outside strings and
    comments), before regorus would hang on it."""
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            i = text.find("\n", i)
            if i < 0:
                return
            continue
        elif c == '"':
            i += 1
            while i < n and text[i] != '"' and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                return
            line += text.count("\n", i, end)
            i = end
        elif c in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise PolicyLoadError(
                    f"brackets nested more than {MAX_NESTING} deep (the embedded parser's time doubles"
                    " with each level); split the value into rules or locals",
                    Location(path, line),
                )
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1


def _parse(path: str, text: str, *, v0: bool) -> ParsedModule:
    _check_nesting(path, text)
    regorus = import_regorus()
    current = text
    for _ in range(_MAX_REPAIRS):
        engine = regorus.Engine()
        engine.set_rego_v0(v0)
        try:
            engine.add_policy(path, current)
        except BaseException as exc:  # regorus raises RuntimeError; a Rust panic is a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            if not isinstance(exc, Exception):  # a panic is the engine's failure, not the file's
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                raise BackendError(f"the embedded engine crashed while parsing {path}: {first}") from None
            message, location = split_engine_error(str(exc))
            repaired = None
            if _BODILESS in message:
                repaired = _complete_bodiless(current, str(exc))
            elif _CHAINED in message:
                repaired = _split_chained_bodies(current, str(exc))
            if repaired is None:
                hint = _V0_HINT if not v0 and any(marker in message for marker in _V0_MARKERS) else None
                raise PolicyLoadError(message, location or Location(path), hint) from None
            current = repaired
            continue
        ast = syntax_tree(engine, current)
        split = (
            _split_calls_across_lines(current, ast)
            or _split_chained_definitions(current, ast)
            or _bind_self_indexed_unifications(current, ast)
            or _bind_iterated_set_keys(current, ast, v0=v0)
        )
        if split is not None:
            current = split
            continue
        return ParsedModule(
            text=current, package=_package(ast), heads=_heads(ast), path=path, v0=v0, tree=ast
        )
    raise PolicyLoadError("too many bodiless function heads", Location(path))  # pragma: no cover


def syntax_tree(engine: Any, text: str) -> dict[str, Any]:
    """The tree of the one module ``engine`` holds (parsed from ``text``), its object spans
    repaired (:func:`repair_object_spans`)."""
    raw = engine.get_ast_as_json()
    tree: dict[str, Any] = json.loads(raw)[0]["ast"]
    return repair_object_spans(tree, text) if '"Object"' in raw else tree


def repair_object_spans(tree: dict[str, Any], text: str) -> dict[str, Any]:
    """``tree`` (of ``text``) with regorus' object spans repaired, in place; idempotent.

    regorus 0.13.0 starts the span of an object literal of two or more fields at its last key
    (``{"a": 1 + 2, "b": 3}`` spans ``b": 3}``): whatever rewrites the module by spans would copy
    the fields before it as written, their arithmetic, calls and comparisons included. Each such
    span (with its line and column) is moved back to the object's opening brace. Every tree
    govern reads is repaired when regorus gives it (:func:`syntax_tree`)."""
    data = text.encode("utf-8")
    stack: list[Any] = [tree.get("rules") or []]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
        elif type(item) is dict:
            body = item.get("Object")
            if type(body) is dict and len(body.get("fields") or ()) > 1 and "span" in body:
                _repair_object(body, data)  # one field: regorus' span is right
            stack.extend(item.values())
    return tree


def _repair_object(body: dict[str, Any], data: bytes) -> None:
    span = body["span"]
    starts = [
        int(entry[0]["start"])
        for entry in body["fields"]
        if isinstance(entry, list) and entry and isinstance(entry[0], dict) and "start" in entry[0]
    ]
    if not starts or min(starts) >= int(span["start"]):
        return
    brace = _opening_brace(data, min(starts))
    if brace is not None:
        line = data.count(b"\n", 0, brace) + 1
        col = brace - (data.rfind(b"\n", 0, brace) + 1) + 1
        span.update(start=brace, line=line, col=col)


def _opening_brace(data: bytes, first_key: int) -> int | None:
    """Where the ``{`` before an object's first key is: back over blanks, comments, opening
    parentheses and at most one quote (a string key's span starts after its quote); None if
    something else is there."""
    i = first_key - 1
    quote_seen = False
    while i >= 0:
        c = data[i]
        if c == ord("{"):
            return i
        if c in b'"`' and not quote_seen:
            quote_seen = True
        elif c not in b" \t\r\n(":
            comment = data.find(b"#", data.rfind(b"\n", 0, i) + 1, i)
            if comment < 0:
                return None  # not a comment: not an object's opening as expected
            i = comment  # a comment: go on before it
        i -= 1
    return None


def _split_calls_across_lines(text: str, ast: dict[str, Any]) -> str | None:
    """``x`` on one line and ``(y)`` on the next are two expressions in OPA; regorus reads a call.

    A ``;`` after the first line's expression restores OPA's reading (columns and lines kept)."""
    data = text.encode("utf-8")
    cuts: list[int] = []
    for node in iter_spanned(ast.get("rules", [])):
        if node.kind != "Call":
            continue
        fcn = as_spanned(node.body.get("fcn"))
        if fcn is None:
            continue
        i = fcn.end
        while i < len(data) and data[i : i + 1] in (b" ", b"\t", b"\r", b"\n"):
            i += 1
        if data[i : i + 1] == b"(" and b"\n" in data[fcn.end : i]:
            cuts.append(fcn.end)
    if not cuts:
        return None
    for cut in sorted(set(cuts), reverse=True):
        data = data[:cut] + b";" + data[cut:]
    return data.decode("utf-8")


def _split_chained_definitions(text: str, ast: dict[str, Any]) -> str | None:
    """``f(x) = y { a } { b }`` (v0: two definitions) as ``f(x) = y { a } f(x) = y { b }``.

    regorus parses the second body without an error but never evaluates it for functions and
    complete rules; OPA reads two rules. The head is repeated on the same line (no line moves)."""
    data = text.encode("utf-8")
    inserts: list[tuple[int, bytes]] = []
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        if node is None or node.kind != "Spec":
            continue
        bodies = [b for b in node.body.get("bodies") or [] if isinstance(b, dict)]
        if len(bodies) < 2 or any(b.get("is_else") for b in bodies):
            continue
        starts = [int(b["span"]["start"]) for b in bodies if isinstance(b.get("span"), dict)]
        if len(starts) != len(bodies) or data[starts[0] : starts[0] + 1] != b"{":
            continue
        head = data[node.start : starts[0]].strip()
        if head.endswith(b" if"):
            head = head[:-3].rstrip()
        inserts.extend((start, head + b" ") for start in starts[1:] if data[start : start + 1] == b"{")
    if not inserts:
        return None
    for at, head in sorted(inserts, reverse=True):
        data = data[:at] + head + data[at:]
    return data.decode("utf-8")


def _iter_queries(value: Any) -> Iterator[list[Any]]:
    """Every statement list (rule bodies, comprehension and ``every`` bodies) under ``value``."""
    if isinstance(value, dict):
        stmts = value.get("stmts")
        if isinstance(stmts, list):
            yield stmts
        for item in value.values():
            yield from _iter_queries(item)
    elif isinstance(value, list):
        for item in value:
            yield from _iter_queries(item)


def _self_indexed(stmt: Any) -> Spanned | None:
    """The reference of ``x = r[x]`` / ``r[x] = x`` (plain unification, no modifiers), if so."""
    if not isinstance(stmt, dict) or stmt.get("with_mods"):
        return None
    literal = stmt.get("literal")
    expr = as_spanned(literal.get("Expr", {}).get("expr")) if isinstance(literal, dict) else None
    if expr is None or expr.kind != "AssignExpr" or expr.body.get("op") != "Eq":
        return None
    for var_side, ref_side in (("lhs", "rhs"), ("rhs", "lhs")):
        var = as_spanned(expr.body.get(var_side))
        ref = as_spanned(expr.body.get(ref_side))
        if var is None or ref is None or var.kind != "Var" or ref.kind != "RefBrack":
            continue
        index = as_spanned(ref.body.get("index"))
        if index is not None and index.kind == "Var" and index.body.get("value") == var.body.get("value"):
            return ref
    return None


def _bind_self_indexed_unifications(text: str, ast: dict[str, Any]) -> str | None:
    """``c = s[c]`` as ``s[c]; c = s[c]``: OPA binds ``c`` by iterating ``s``; regorus calls
    ``c`` unsafe (or, after ``some c``, finds no value). The reference alone binds ``c`` first;
    the unification then only compares. Inserted on the same line (no line moves)."""
    data = text.encode("utf-8")
    inserts: list[tuple[int, bytes]] = []
    for stmts in _iter_queries(ast.get("rules", [])):
        for i, stmt in enumerate(stmts):
            ref = _self_indexed(stmt)
            start = as_spanned(stmt)
            if ref is None or start is None:
                continue
            binding = data[ref.start : ref.end]
            before = as_spanned(stmts[i - 1]) if i else None
            if before is not None and data[before.start : before.end].strip() == binding:
                continue
            inserts.append((start.start, binding + b"; "))
    if not inserts:
        return None
    for at, binding in sorted(inserts, reverse=True):
        data = data[:at] + binding + data[at:]
    return data.decode("utf-8")


_KEY_VAR = "__govern_key"


def _bind_iterated_set_keys(text: str, ast: dict[str, Any], *, v0: bool) -> str | None:
    """``p contains r.items[_]`` as ``p contains k if { k := r.items[_] }``.

    A set rule whose key iterates (``[_]``) over a value that is undefined is an empty set in
    OPA; regorus raises "item cannot be indexed". The same iteration in the body is undefined
    there too, so the key is bound at the end of the body (or of a body added to a bodiless
    rule). Edits stay on the head's and the body's own lines (no line moves)."""
    data = text.encode("utf-8")
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement)
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        head = as_spanned(node.body.get("head")) if node is not None and node.kind == "Spec" else None
        if node is None or head is None or head.kind != "Set":
            continue
        key = as_spanned(head.body.get("key"))
        if key is None or key.kind not in ("RefBrack", "RefDot"):
            continue
        names = (n.body.get("value") for n in iter_spanned(head.body.get("key")) if n.kind == "Var")
        if "_" not in names:
            continue
        term = data[key.start : key.end]
        bodies = [b for b in node.body.get("bodies") or [] if isinstance(b, dict)]
        closes = [int(b["span"]["end"]) - 1 for b in bodies if isinstance(b.get("span"), dict)]
        if len(closes) != len(bodies) or any(data[c : c + 1] != b"}" for c in closes):
            continue
        edits.append((key.start, key.end, _KEY_VAR.encode()))
        binding = _KEY_VAR.encode() + b" := " + term
        if not bodies:
            edits.append((head.end, head.end, (b" { " if v0 else b" if { ") + binding + b" }"))
        for close in closes:
            edits.append((close, close, b"; " + binding + b" "))
    if not edits:
        return None
    for start, end, replacement in sorted(edits, reverse=True):
        data = data[:start] + replacement + data[end:]
    return data.decode("utf-8")


def _body_open(data: bytes, start: int) -> int | None:
    """The offset of the '{' opening the first body after ``start`` (outside brackets, strings
    and comments)."""
    depth = 0
    for i, c in _code(data, start):
        if c in (ord("("), ord("[")):
            depth += 1
        elif c in (ord(")"), ord("]")):
            depth -= 1
        elif c == ord("{"):
            if depth == 0:
                return i
            depth += 1
        elif c == ord("}"):
            depth -= 1
    return None


def _split_chained_bodies(text: str, diagnostic: str) -> str | None:
    """``p[x] { a } { b }`` (v0: two definitions of a partial set) as ``p[x] { a } p[x] { b }``.

    regorus reads the second body as an ``else``, which set rules cannot have; OPA reads two
    rules. The head is repeated on the same line, so no line moves."""
    match = _LOCATION_RE.search(diagnostic)
    if match is None:
        return None
    data = text.encode("utf-8")
    try:
        at = _line_offset(data, int(match.group("line")), int(match.group("col")))
    except ValueError:
        return None
    if at >= len(data) or data[at : at + 1] != b"{":
        return None
    head_start = data.rfind(b"\n", 0, at) + 1
    while head_start > 0:
        line = data[head_start : data.find(b"\n", head_start)]
        if line[:1] not in (b"", b" ", b"\t", b"}", b"#"):
            break
        head_start = data.rfind(b"\n", 0, head_start - 1) + 1
    opener = _body_open(data, head_start)
    if opener is None or opener >= at:
        return None
    head = data[head_start:opener].strip()
    return (data[:at] + head + b" " + data[at:]).decode("utf-8")


def _complete_bodiless(text: str, diagnostic: str) -> str | None:
    match = _LOCATION_RE.search(diagnostic)
    if match is None:
        return None
    data = text.encode("utf-8")
    try:
        start = _line_offset(data, int(match.group("line")), int(match.group("col")))
    except ValueError:
        return None
    end = _close_paren(data, start)
    if end is None:
        return None
    return (data[:end] + b" := true" + data[end:]).decode("utf-8")

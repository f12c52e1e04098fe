"""What makes regorus give OPA's answer: a source rewrite at load, exact arithmetic, refusals.

The embedded engine loads each module through :func:`rewrite_module`, which works on regorus' own
AST (spans into the source) and keeps every line where it was, so errors still point at the
user's file and line:

* **Negation over a call.** OPA binds every reference, call and composite argument of a call to
  a fresh variable *before* the call, outside the ``not`` (``not f(input.a)`` is
  ``__local0__ = input.a; not f(__local0__)``), so an undefined argument makes the whole
  expression undefined. regorus evaluates ``not`` over the undefined call and succeeds. The
  rewrite hoists those arguments exactly as OPA does.
* **Arithmetic.** OPA computes ``+ - * / %`` exactly on integers and otherwise on ``big.Float``
  (a 64-bit mantissa); regorus on ``f64`` (``0.93 - 0.91 > 0.02`` is true in regorus, false in
  OPA). Every arithmetic operator, unary minus (which regorus accepts only on literals),
  ``floor``/``ceil``/``round``/``sum``/``product``, and every comparison an arithmetic result may
  reach (:mod:`.arith_flow` follows it through the policy set) become calls to helpers whose
  extensions compute and compare as OPA does (:mod:`.opa_numbers`), or fail when the embedded
  engine cannot tell OPA's answer. A number literal regorus cannot hold is refused.
* **Built-ins.** ``time.add_date`` follows Go's normalisation (31 Jan + 1 month = 2 or 3 Mar) via
  an extension; built-ins regorus lists but evaluates to undefined (``http.send``,
  ``opa.runtime``) are refused at load with the line and column and the fix, and so is
  ``json.match_schema`` unless its error list (a string in regorus, objects in OPA) is discarded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from ..errors import Location, PolicyLoadError
from ..rego_ast import Spanned, as_spanned, iter_spanned, ref_name
from .arith_flow import (
    ArithFacts,
    FlowContext,
    FlowModule,
    arith_facts,
    function_scope,
    has_seeds,
    mentions,
    module_imports,
    statement_bindings,
    static_path,
)
from .exact import ADD_DATE_EXT, AGGREGATES, COMPARISONS, EXACT_PACKAGE, ROUNDING

__all__ = ["rewrite_module"]

#: Built-ins regorus knows by name but evaluates to undefined: refused at load.
_REFUSED_CALLS: Final = {
    "http.send": "regorus evaluates it to undefined",
    "opa.runtime": "regorus evaluates it to undefined",
    "net.lookup_ip_addr": "regorus does not perform network lookups",
}
#: Built-ins whose second result (the error list) differs in shape from OPA's: allowed only when
#: that result is discarded (``[ok, _] := json.match_schema(...)``).
_ERRORS_DIFFER: Final = {"json.match_schema"}
#: Built-ins replaced by an extension that computes OPA's answer.
_REPLACED_CALLS: Final = {"time.add_date": ADD_DATE_EXT}
_HOIST_ALWAYS: Final = {"RefDot", "RefBrack", "Call", "ArithExpr", "BinExpr", "UnaryExpr"}
_HOIST_IF_DYNAMIC: Final = {"Array", "Object", "Set"}
_EQUALITY: Final = {"Eq"}
#: Literals that are never numbers: a comparison with one is decided by types alone.
_NOT_NUMBERS: Final = {"String", "RawString", "Bool", "Null"}
#: Comprehensions (their `some … in` may declare a variable anew).
_COMPREHENSIONS: Final = {"ArrayCompr", "SetCompr", "ObjectCompr"}
#: Nodes that make set elements or object keys (literals, comprehensions, rule heads).
_KEYED: Final = {"Set", "Object", "SetCompr", "ObjectCompr", "Spec"}


def _call_name(node: Spanned) -> str | None:
    return ref_name(node.body.get("fcn"))


def _is_dynamic(node: Spanned) -> bool:
    return any(child.kind in (*_HOIST_ALWAYS, "Var") for child in iter_spanned(node.body))


def _hoistable(node: Spanned) -> bool:
    if node.kind in _HOIST_ALWAYS:
        return True
    if node.kind == "Var":
        return node.body.get("value") != "_"
    return node.kind in _HOIST_IF_DYNAMIC and _is_dynamic(node)


def _is_call(node: Spanned) -> bool:
    return node.kind in ("Call", "ArithExpr", "BinExpr", "UnaryExpr")


def _hoisted_operands(expr: Spanned) -> list[Spanned]:
    """The operands OPA binds before a negated expression (its rewriteDynamics compiler stage)."""
    operands: list[Any]
    wanted: Callable[[Spanned], bool]
    if expr.kind == "Call":
        operands = list(expr.body.get("params") or [])
        wanted = _hoistable
    elif expr.kind in ("BoolExpr", "AssignExpr"):
        operands = [expr.body.get("lhs"), expr.body.get("rhs")]
        if expr.kind == "AssignExpr" or expr.body.get("op") in _EQUALITY:
            # unification: references stay in place, only calls are bound first
            def wanted(n: Spanned) -> bool:
                return n.kind in ("Call", "ArithExpr", "BinExpr", "UnaryExpr")
        else:
            wanted = _hoistable
    elif expr.kind == "Membership":
        operands = [expr.body.get("key"), expr.body.get("value"), expr.body.get("collection")]
        wanted = _hoistable
    elif expr.kind in ("ArithExpr", "BinExpr"):
        operands = [expr.body.get("lhs"), expr.body.get("rhs")]
        wanted = _hoistable
    else:
        return []
    out: list[Spanned] = []
    for operand in operands:
        node = as_spanned(operand)
        if node is not None and wanted(node):
            out.append(node)
    return out


@dataclass
class _Rewriter:
    path: str
    src: bytes
    ctx: FlowContext
    arithmetic: bool = True
    #: whether anything in the module may carry arithmetic (it computes, or names what does)
    follow: bool = True
    counter: int = 0
    changed: bool = False
    discarded: set[int] = field(default_factory=set)  # calls whose error list is thrown away
    hoisted: dict[int, bytes] = field(default_factory=dict)
    #: per enclosing query: its locals → the value each is bound from when that value may be an
    #: arithmetic result, else None
    arith_locals: list[dict[str, Spanned | None]] = field(default_factory=list)
    #: set elements and object keys that may be an arithmetic result: checked as they are made
    keyed: set[int] = field(default_factory=set)
    #: per enclosing comprehension: the variables its `some … in` declares anew, and their names
    renamed: list[dict[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ctx.local = self.local
        self.ctx.local_certain = self.local_certain

    def local_certain(self, name: str) -> bool | None:
        """Whether a local in scope is certainly an arithmetic result (None: not a local)."""
        for scope in reversed(self.arith_locals):
            if name in scope:
                bound = scope[name]
                return bound is not None and self.ctx.certain(bound)
        return None

    def local(self, name: str) -> bool | None:
        """Whether a local in scope may hold an arithmetic result (None: not a local)."""
        for scope in reversed(self.arith_locals):
            if name in scope:
                return scope[name] is not None
        return None

    def carries_arithmetic(self, node: Spanned) -> bool:
        """Whether the operand may hold an arithmetic result (see :mod:`.arith_flow`)."""
        return self.follow and self.ctx.carries(node)

    def children(self, value: Any) -> list[Spanned]:
        """The outermost spanned elements under ``value`` (not ``value`` itself), by position."""
        out: list[Spanned] = []

        def walk(item: Any) -> None:
            node = as_spanned(item)
            if node is not None and node.kind != "SomeIn":
                out.append(node)
                return
            if node is not None:  # regorus' span of `some x in xs` covers `some` alone
                item = node.body
            if isinstance(item, dict):
                for key, child in item.items():
                    if key != "span":
                        walk(child)
            elif isinstance(item, list):
                for child in item:
                    walk(child)

        if isinstance(value, dict):
            for key, child in value.items():
                if key != "span":
                    walk(child)
        return sorted(out, key=lambda n: (n.start, -n.end))

    def render(self, node: Spanned) -> bytes:
        """The node's source with every rewritten descendant substituted."""
        pieces: list[bytes] = []
        pos = node.start
        for child in self.children(node.body):
            if child.start < pos or child.end > node.end or child.end <= child.start:
                continue  # elements without a source extent of their own (e.g. a field name)
            pieces.append(self.src[pos : child.start])
            pieces.append(self.emit(child))
            pos = child.end
        pieces.append(self.src[pos : node.end])
        return b"".join(pieces)

    def check_with(self, stmt: Spanned) -> None:
        """`with ... as <arithmetic result>` is refused: the replaced value is read where the
        analysis cannot follow it."""
        for modifier in stmt.body.get("with_mods") or []:
            value = as_spanned(modifier.get("as")) if isinstance(modifier, dict) else None
            if self.arithmetic and value is not None and self.carries_arithmetic(value):
                raise self.refuse(
                    value,
                    "`with ... as` an arithmetic result",
                    "bind the result to a rule or a local and read it there, or run it with --backend opa",
                )

    def check_literal(self, node: Spanned) -> None:
        """A number literal regorus cannot hold as written (more digits than its binary float
        keeps, out of range) is refused: OPA would compare the digits regorus drops."""
        text = self.src[node.start : node.end].decode("utf-8", "replace").strip()
        if not any(c in text for c in ".eE"):
            return  # an integer: regorus holds it exactly
        try:
            written = Decimal(text)
            held = float(text)
            exact = math.isfinite(held) and Decimal(repr(held)) == written
        except (ArithmeticError, ValueError):
            held, exact = math.nan, False
        if not exact:
            holds = f"regorus holds {held!r}" if math.isfinite(held) else "regorus cannot hold it"
            raise self.refuse(
                node,
                f"the number {text} ({holds}, and OPA compares every digit written)",
                "write it as the number regorus holds if that is what you mean, or run it with --backend opa",
            )

    def refuse(self, node: Spanned, what: str, fix: str) -> PolicyLoadError:
        return PolicyLoadError(
            f"{what} (column {node.col}) would not give OPA's answer on the embedded engine; {fix}",
            Location(self.path, node.line),
        )

    def emit(self, node: Spanned) -> bytes:
        first = self.emit_first(node)
        if first is not None:
            return first
        if node.kind == "Number" and self.arithmetic:
            self.check_literal(node)
        if node.kind == "ArithExpr" and self.arithmetic:
            self.changed = True
            op = str(node.body["op"])
            lhs_node, rhs_node = _spanned(node.body["lhs"]), _spanned(node.body["rhs"])
            lhs, rhs = self.emit(lhs_node), self.emit(rhs_node)
            modes = f", {self.ctx.mode(lhs_node)}, {self.ctx.mode(rhs_node)})".encode()
            return f"data.{EXACT_PACKAGE}.{op.lower()}(".encode() + lhs + b", " + rhs + modes
        if node.kind == "BoolExpr" and self.arithmetic and str(node.body.get("op")) in COMPARISONS:
            lhs_node, rhs_node = _spanned(node.body["lhs"]), _spanned(node.body["rhs"])
            # against a literal that is not a number (a string, ...), types alone decide
            literal = lhs_node.kind in _NOT_NUMBERS or rhs_node.kind in _NOT_NUMBERS
            if not literal and (self.carries_arithmetic(lhs_node) or self.carries_arithmetic(rhs_node)):
                return self.emit_comparison(node, str(node.body["op"]), lhs_node, rhs_node)
        if node.kind == "AssignExpr" and self.arithmetic and node.body.get("op") == "Eq":
            # `a - b = 0.02` tests equality when neither side can bind a variable
            lhs_node, rhs_node = _spanned(node.body["lhs"]), _spanned(node.body["rhs"])
            sides = ((lhs_node, rhs_node), (rhs_node, lhs_node))
            if any(self.carries_arithmetic(a) and _ground(b) for a, b in sides):
                return self.emit_comparison(node, "Eq", lhs_node, rhs_node)
        if node.kind == "Membership" and self.arithmetic:
            membership = self.emit_membership(node)
            if membership is not None:
                return membership
        if node.kind == "Call" and self.arithmetic and _call_name(node) in ROUNDING | AGGREGATES:
            # computed as OPA computes them (its floor(-0.5) is 0), on OPA's value of the operand
            name = _call_name(node)
            self.changed = True
            fcn = _spanned(node.body["fcn"])
            prefix = "rounding" if name in ROUNDING else "agg"
            helper = f"data.{EXACT_PACKAGE}.{prefix}_{name}".encode()
            rest = self.render_after(node, fcn.end)
            args = [n for n in map(as_spanned, node.body.get("params") or []) if n is not None]
            if name in ROUNDING and len(args) == 1 and rest.rstrip().endswith(b")"):
                rest = rest.rstrip()[:-1] + f", {self.ctx.mode(args[0])})".encode()
            elif name in ROUNDING:  # pragma: no cover - regorus refuses another arity at load
                return self.render(node)
            return self.src[node.start : fcn.start] + helper + rest
        if node.kind == "UnaryExpr" and (self.arithmetic or _spanned(node.body["expr"]).kind != "Number"):
            self.changed = True
            operand_node = _spanned(node.body["expr"])
            operand = self.emit(operand_node)
            mode = f", 0, {self.ctx.mode(operand_node)})".encode()
            return f"data.{EXACT_PACKAGE}.sub(0, ".encode() + operand + mode
        if node.kind == "Call":
            name = _call_name(node)
            if name in _REFUSED_CALLS:
                raise self.refuse(node, f"{name} ({_REFUSED_CALLS[name]})", "run it with --backend opa")
            if name in _ERRORS_DIFFER and id(node.body) not in self.discarded:
                raise self.refuse(
                    node,
                    f"{name}'s error list (it differs in shape from OPA's)",
                    f"destructure it as `[ok, _] := {name}(...)`, or run it with --backend opa",
                )
            params = node.body.get("params") or []
            if name == "sprintf" and len(params) in (2, 3):
                return self.emit_sprintf(node, [_spanned(p) for p in params])
            if name in _REPLACED_CALLS:
                self.changed = True
                fcn = _spanned(node.body["fcn"])
                return (
                    self.src[node.start : fcn.start]
                    + _REPLACED_CALLS[name].encode()
                    + self.render_after(node, fcn.end)
                )
        if node.kind == "" and "stmts" in node.body:
            return self.emit_query(node)
        return self.render(node)

    def emit_first(self, node: Spanned) -> bytes | None:
        """What replaces ``node`` whatever its kind: the variable a negation's operand was bound
        to, a set element or key through the helper, a variable a comprehension declares anew
        under its new name, such a comprehension; else None (after marking the keys it makes)."""
        if id(node.body) in self.hoisted:
            return self.hoisted[id(node.body)]
        if id(node.body) in self.keyed:
            return self.emit_key(node)
        if node.kind == "Var" and self.renamed:
            name = str(node.body.get("value"))
            for scope in reversed(self.renamed):
                if name in scope:
                    return scope[name]
        if self.arithmetic and self.follow and node.kind in _KEYED:
            self.mark_keys(node)
        if node.kind in _COMPREHENSIONS:
            return self.emit_shadowing(node)
        return None

    def emit_shadowing(self, node: Spanned) -> bytes | None:
        """A comprehension whose `some x in xs` declares a variable already bound around it.

        OPA reads a new variable, local to the comprehension; regorus refuses the module ("var `x`
        used before definition below"). The comprehension's own variable is renamed throughout
        it (None: nothing to rename)."""
        query = as_spanned(node.body.get("query"))
        declared: set[str] = set()
        for stmt in map(_spanned, (query.body.get("stmts") or []) if query is not None else []):
            literal = as_spanned(stmt.body.get("literal"))
            if literal is not None and literal.kind == "SomeIn":
                for part in ("key", "value"):
                    declared.update(
                        str(var.body.get("value"))
                        for var in iter_spanned(literal.body.get(part))
                        if var.kind == "Var"
                    )
        outer = {n for n in declared if n != "_" and (self.local(n) is not None or self.ctx.is_param(n))}
        if not outer:
            return None
        scope: dict[str, bytes] = {}
        for name in sorted(outer):
            scope[name] = f"__govern_{name}{self.counter}__".encode()
            self.counter += 1
        self.changed = True
        self.renamed.append(scope)
        try:
            return self.render(node)
        finally:
            self.renamed.pop()

    def emit_key(self, node: Spanned) -> bytes:
        """A set element or object key made through the helper (:meth:`mark_keys`)."""
        self.keyed.discard(id(node.body))
        self.changed = True
        return f"data.{EXACT_PACKAGE}.key(".encode() + self.emit(node) + b")"

    def mark_keys(self, node: Spanned) -> None:
        """Mark the set elements and object keys under ``node`` that may hold an arithmetic
        result, to be made through the helper that refuses two numbers OPA holds apart and
        regorus as one float (a set would count them once, an object keep one key)."""
        keys: list[Spanned] = []
        scopes: list[Spanned] = []  # the queries that bind the keys' variables
        if node.kind == "Set" and "items" in node.body:  # a set literal
            keys = [n for n in map(as_spanned, node.body["items"] or []) if n is not None]
        elif node.kind == "Object" and "fields" in node.body:  # an object literal
            for entry in node.body["fields"] or []:
                key = as_spanned(entry[1]) if isinstance(entry, list) and len(entry) == 3 else None
                if key is not None:
                    keys.append(key)
        elif node.kind in ("SetCompr", "ObjectCompr"):
            key = as_spanned(node.body.get("term" if node.kind == "SetCompr" else "key"))
            query = as_spanned(node.body.get("query"))
            keys = [key] if key is not None else []
            scopes = [query] if query is not None else []
        elif node.kind == "Spec":  # a rule: `s contains x`, `o[x] := v`, `p[x]` (v0)
            head = as_spanned(node.body.get("head"))
            if head is not None and head.kind == "Set":
                key = as_spanned(head.body.get("key"))
                keys = [key] if key is not None else []
            elif head is not None and head.kind == "Compr":
                ref = as_spanned(head.body.get("refr"))
                while ref is not None and ref.kind in ("RefBrack", "RefDot"):
                    index = as_spanned(ref.body.get("index")) if ref.kind == "RefBrack" else None
                    if index is not None:
                        keys.append(index)
                    ref = as_spanned(ref.body.get("refr"))
            for body in node.body.get("bodies") or []:
                query = as_spanned(body.get("query")) if isinstance(body, dict) else None
                if query is not None:
                    scopes.append(query)
        if not keys:
            return
        scope: dict[str, Spanned | None] = {}
        for query in scopes:
            self.bind(query, scope)
        self.arith_locals.append(scope)
        try:
            self.keyed.update(id(key.body) for key in keys if self.carries_arithmetic(key))
        finally:
            self.arith_locals.pop()

    def bind(self, query: Spanned, bound: dict[str, Spanned | None]) -> None:
        """Add the locals the query binds to ``bound``, each with the value it is bound from
        when that value may be an arithmetic result (else None)."""
        statements = list(map(_spanned, query.body.get("stmts") or []))
        for _ in range(len(statements) + 1):  # a binding may use one made further down
            before = dict(bound)
            for stmt in statements:
                for name, value in statement_bindings(stmt, self.src):
                    if bound.get(name) is None:
                        bound[name] = value if self.carries_arithmetic(value) else None
            if bound == before:
                break

    def emit_membership(self, node: Spanned) -> bytes | None:
        """``v in xs`` through the helper that compares numbers as OPA does, when an arithmetic
        result may be in it (None: left as it is)."""
        value, collection = _spanned(node.body["value"]), _spanned(node.body["collection"])
        if not (self.carries_arithmetic(value) or self.carries_arithmetic(collection)):
            return None
        if as_spanned(node.body.get("key")) is not None:
            raise self.refuse(
                node,
                "`k, v in xs` over arithmetic results",
                "compare the element with `==` (xs[k] == v), or run it with --backend opa",
            )
        self.changed = True
        helper = f"data.{EXACT_PACKAGE}.member(".encode()
        before = b"\n" * self.src.count(b"\n", node.start, value.start)
        between = b"\n" * self.src.count(b"\n", value.end, collection.start)
        after = b"\n" * self.src.count(b"\n", min(collection.end, node.end), node.end)
        element = self.emit_within(value, collection.start)
        rest = self.emit_within(collection, node.end)
        modes = f", {self.ctx.mode(value)}, {self.ctx.mode(collection)}".encode()
        return before + helper + element + b"," + between + b" " + rest + modes + b")" + after

    def emit_comparison(self, node: Spanned, op: str, lhs_node: Spanned, rhs_node: Spanned) -> bytes:
        """``lhs op rhs`` through the checking helper, each operand on the line it was on."""
        self.changed = True
        helper = f"data.{EXACT_PACKAGE}.cmp_{op.lower()}(".encode()
        lhs = self.emit_within(lhs_node, rhs_node.start)
        rhs = self.emit_within(rhs_node, node.end)
        # the line breaks around and between the operands stay, so lines do not move
        before = b"\n" * self.src.count(b"\n", node.start, lhs_node.start)
        between = b"\n" * self.src.count(b"\n", lhs_node.end, rhs_node.start)
        after = b"\n" * self.src.count(b"\n", min(rhs_node.end, node.end), node.end)
        rhs += f", {self.ctx.mode(lhs_node)}, {self.ctx.mode(rhs_node)}".encode()
        return before + helper + lhs + b"," + between + b" " + rhs + b")" + after

    def emit_within(self, node: Spanned, limit: int) -> bytes:
        """``emit(node)``, or its raw source up to ``limit`` when its span reaches past it (regorus
        gives ``set()`` a span running on past the expression), as :meth:`render` treats it."""
        if node.end <= limit:
            return self.emit(node)
        return self.src[node.start : limit]

    def emit_sprintf(self, node: Spanned, params: list[Spanned]) -> bytes:
        """``sprintf(f, a)`` → ``format(f, a)`` (the helper calling ``govern_sprintf``); the output
        form ``sprintf(f, a, x)`` → ``format(f, a) = x``. Lines stay put.

        The built-in library (``arithmetic=False``) calls ``message`` instead, which gives OPA's
        text where regorus' differs and can be told, and regorus' own text otherwise: a refusal
        there would make every decision that states that message an error."""
        self.changed = True
        fcn = _spanned(node.body["fcn"])
        helper = "format" if self.arithmetic else "message"
        head = self.src[node.start : fcn.start] + f"data.{EXACT_PACKAGE}.{helper}".encode()
        if len(params) == 2:
            return head + self.render_after(node, fcn.end)
        rest = self.src[params[1].end : node.end]
        return (
            head
            + self.render_after(node, fcn.end, stop=params[1].end)
            + b"\n" * rest.count(b"\n")
            + b") = "
            + self.emit(params[2])
        )

    def render_after(self, node: Spanned, start: int, stop: int | None = None) -> bytes:
        end = node.end if stop is None else stop
        pieces: list[bytes] = []
        pos = start
        for child in self.children(node.body):
            if child.start < pos or child.end > end or child.end <= child.start:
                continue
            pieces.append(self.src[pos : child.start])
            pieces.append(self.emit(child))
            pos = child.end
        pieces.append(self.src[pos:end])
        return b"".join(pieces)

    def emit_query(self, query: Spanned) -> bytes:
        """A query; negated calls get their arguments bound first, on the same line."""
        bound: dict[str, Spanned | None] = {}
        self.arith_locals.append(bound)
        try:
            return self._emit_query(query, bound)
        finally:
            self.arith_locals.pop()

    def _emit_query(self, query: Spanned, bound: dict[str, Spanned | None]) -> bytes:
        self.bind(query, bound)
        pieces: list[bytes] = []
        pos = query.start
        any_hoist = False
        for child in self.children(query.body):
            if child.start < pos or child.end > query.end or child.end <= child.start:
                continue
            pieces.append(self.src[pos : child.start])
            self.check_with(child)
            prefix = self.hoist(child) if "literal" in child.body else b""
            any_hoist = any_hoist or bool(prefix)
            pieces.append(prefix + self.emit(child))
            pos = child.end
        pieces.append(self.src[pos : query.end])
        text = b"".join(pieces)
        opener = self.src[query.start : query.start + 1]
        if any_hoist and opener not in (b"{", b"|"):
            return b"{ " + text + b" }"  # `p if not f(x)`: one literal became several
        return text

    def hoist(self, stmt: Spanned) -> bytes:
        negation = as_spanned(stmt.body["literal"])
        if negation is None or negation.kind != "NotExpr":
            return b""
        inner = as_spanned(negation.body.get("expr"))
        if inner is None:
            return b""
        operands = _hoisted_operands(inner)
        if not operands:
            return b""
        modifiers = self.src[negation.end : stmt.end] if stmt.body.get("with_mods") else b""
        prefix: list[bytes] = []
        for operand in operands:
            name = f"__govern_neg{self.counter}__".encode()
            self.counter += 1
            prefix.append(name + b" = " + self.emit(operand) + modifiers + b"; ")
            self.hoisted[id(operand.body)] = name
        self.changed = True
        return b"".join(prefix)


def _check_bodies(rule: Spanned, src: bytes, path: str) -> None:
    """Refuse a rule body ``{ a | … }``: OPA reads it as a set comprehension, a term that is
    always defined, so the rule holds whatever its conditions (regorus reads the union)."""
    if rule.kind != "Spec":
        return
    for body in rule.body.get("bodies") or []:
        query = as_spanned(body.get("query")) if isinstance(body, dict) else None
        stmts = (query.body.get("stmts") or []) if query is not None else []
        if query is None or not stmts or src[query.start : query.start + 1] != b"{":
            continue
        literal = as_spanned(_spanned(stmts[0]).body.get("literal"))
        is_expr = literal is not None and literal.kind == "Expr"
        expr = as_spanned(literal.body.get("expr")) if literal is not None and is_expr else None
        parent, leaf = None, expr
        while leaf is not None and isinstance(leaf.body.get("lhs"), dict):
            parent, leaf = leaf, as_spanned(leaf.body["lhs"])
        if parent is None or leaf is None or src[query.start + 1 : leaf.start].strip():
            continue  # not a term first in the braces (`({1} | {2}) == …` is a body)
        if parent.kind == "BinExpr" and parent.body.get("op") == "Union":
            term = src[leaf.start : leaf.end].decode("utf-8", "replace").rstrip(" \t|")  # set() spans its |
            raise PolicyLoadError(
                f"a rule body that starts with `{term} |` "
                f"(column {leaf.col}) is a set comprehension to OPA, which holds whatever its conditions; "
                "put the union in parentheses or move it after another expression",
                Location(path, leaf.line),
            )


def _spanned(value: Any) -> Spanned:
    node = as_spanned(value)
    if node is None:  # pragma: no cover - the parser always gives operands a span
        raise PolicyLoadError("unexpected policy syntax tree")
    return node


def _ground(node: Spanned) -> bool:
    """A side of ``=`` that can bind no variable: a number, or a plain dotted reference."""
    return node.kind == "Number" or (node.kind == "RefDot" and ref_name(node) is not None)


def module_package(ast: dict[str, Any]) -> str:
    package = ast.get("package")
    return (static_path(package.get("refr")) if isinstance(package, dict) else None) or ""


def rewrite_module(
    path: str,
    text: str,
    ast: dict[str, Any],
    *,
    arithmetic: bool = True,
    facts: ArithFacts | None = None,
) -> str:
    """The module's text as regorus must load it to give OPA's answers (same lines).

    ``facts`` say which rules, functions and parameters of the whole policy set may hold an
    arithmetic result (:func:`.arith_flow.arith_facts`); without them, the module alone is
    analysed. ``arithmetic=False`` keeps ``+ - * / %`` native (negation, built-ins and unary
    minus on references are still rewritten)."""
    src = text.encode("utf-8")
    package = module_package(ast)
    if facts is None:
        facts = arith_facts([FlowModule(package, text, ast)]) if arithmetic else ArithFacts()
    ctx = FlowContext(package, module_imports(ast, src), facts)
    follow = arithmetic and (has_seeds(ast, text) or mentions(text, package, facts))
    rewriter = _Rewriter(path, src, ctx, arithmetic=arithmetic, follow=follow)
    # the calls whose error list is thrown away (only the built-ins of _ERRORS_DIFFER need it)
    errors_differ = any(name.rsplit(".", 1)[-1] in text for name in _ERRORS_DIFFER)
    for assign in iter_spanned(ast.get("rules", [])) if errors_differ else ():
        if assign.kind != "AssignExpr":
            continue
        lhs, rhs = as_spanned(assign.body.get("lhs")), as_spanned(assign.body.get("rhs"))
        items = lhs.body.get("items") if lhs is not None and lhs.kind == "Array" else None
        second = as_spanned(items[1]) if isinstance(items, list) and len(items) == 2 else None
        wildcard = second is not None and second.kind == "Var" and second.body.get("value") == "_"
        if rhs is not None and rhs.kind == "Call" and wildcard:
            rewriter.discarded.add(id(rhs.body))
    pieces: list[bytes] = []
    pos = 0
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        if node is None or node.start < pos:
            continue
        pieces.append(src[pos : node.start])
        _check_bodies(node, src, path)
        ctx.function, ctx.params = function_scope(node, package)
        pieces.append(rewriter.emit(node))
        pos = node.end
    pieces.append(src[pos:])
    if not rewriter.changed:
        return text
    return b"".join(pieces).decode("utf-8")

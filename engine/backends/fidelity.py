"""What makes regorus give OPA's answer: a source rewrite at load, exact arithmetic, refusals.

The embedded engine loads each module through :func:`rewrite_module`, which works on regorus' own
AST (spans into the source) and keeps every line where it was, so errors still point at the
user's file and line:

* **Negation over a call.** OPA binds every reference, call and composite argument of a call to
  a fresh variable *before* the call, outside the ``not`` (``not f(input.a)`` is
  ``__local0__ = input.a; not f(__local0__)``), so an undefined argument makes the whole
  expression undefined. regorus evaluates ``not`` over the undefined call and succeeds. The
  rewrite hoists those arguments exactly as OPA does.
* **Arithmetic.** OPA computes ``+ - * / %`` in decimal; regorus in binary floating point
  (``0.93 - 0.91 > 0.02`` is true in regorus, false in OPA). Every arithmetic operator, and unary
  minus (which regorus accepts only on literals), becomes a call to a helper that, for two
  numbers, computes in :class:`decimal.Decimal` and for anything else (set difference) uses the
  native operator.
* **Built-ins.** ``time.add_date`` follows Go's normalisation (31 Jan + 1 month = 2 or 3 Mar) via
  an extension; built-ins regorus lists but evaluates to undefined (``http.send``,
  ``opa.runtime``) are refused at load with the line and column and the fix, and so is
  ``json.match_schema`` unless its error list (a string in regorus, objects in OPA) is discarded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any, Final

from ..errors import Location, PolicyLoadError
from ..rego_ast import Spanned, as_spanned, iter_spanned, ref_name

__all__ = ["EXACT_MODULE", "EXACT_MODULE_PATH", "extensions", "rewrite_module"]

EXACT_PACKAGE: Final = "govern_exact_internal"
EXACT_MODULE_PATH: Final = "govern/internal/exact.rego"
_ARITH_EXT: Final = "govern_exact_arith"
_ADD_DATE_EXT: Final = "govern_time_add_date"
_CMP_EXT: Final = "govern_exact_cmp"
#: 2^53: beyond it regorus holds big integers the extension cannot receive; they stay native.
_EXACT_LIMIT: Final = 9_007_199_254_740_992
_OPS: Final = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Mod": "%"}
_CMPS: Final = {"Lt": "<", "Le": "<=", "Gt": ">", "Ge": ">=", "Eq": "==", "Ne": "!="}
#: Two non-integer numbers closer than this (relative to the larger) are not compared: OPA's
#: 64-bit-mantissa values may order them differently from the f64 values regorus holds.
_CMP_MARGIN: Final = 2.0**-32


def _exact_module() -> str:
    functions = [
        f"{name.lower()}(a, b) := {_ARITH_EXT}({json.dumps(name)}, a, b) if {{\n"
        "\tis_number(a)\n\tis_number(b)\n"
        f"\tabs(a) < {_EXACT_LIMIT}\n\tabs(b) < {_EXACT_LIMIT}\n"
        f"}} else := a {symbol} b\n"
        for name, symbol in _OPS.items()
    ]
    functions += [
        f"cmp_{name.lower()}(a, b, leaves) := {_CMP_EXT}({json.dumps(name)}, a, b, leaves) if {{\n"
        "\tis_number(a)\n\tis_number(b)\n"
        f"\tabs(a) < {_EXACT_LIMIT}\n\tabs(b) < {_EXACT_LIMIT}\n"
        f"}} else := a {symbol} b\n"
        for name, symbol in _CMPS.items()
    ]
    return f"package {EXACT_PACKAGE}\n\n" + "\n".join(functions)


#: The helpers rewritten arithmetic calls: decimal for two numbers, the native operator otherwise.
EXACT_MODULE: Final = _exact_module()

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
_REPLACED_CALLS: Final = {"time.add_date": _ADD_DATE_EXT}
_HOIST_ALWAYS: Final = {"RefDot", "RefBrack", "Call", "ArithExpr", "BinExpr", "UnaryExpr"}
_HOIST_IF_DYNAMIC: Final = {"Array", "Object", "Set"}
_EQUALITY: Final = {"Eq"}


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("operand is not a number")
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _from_decimal(value: Decimal) -> int | float:
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    return float(value)


def exact_arith(op: str, a: Any, b: Any) -> int | float:
    """``a op b`` computed in decimal, as OPA does; division by zero is an error, as in OPA."""
    x, y = _to_decimal(a), _to_decimal(b)
    with localcontext() as ctx:
        ctx.prec = 34
        ctx.traps[DivisionByZero] = True
        ctx.traps[InvalidOperation] = True
        if op == "Add":
            result = x + y
        elif op == "Sub":
            result = x - y
        elif op == "Mul":
            result = x * y
        elif op == "Div":
            if y == 0:
                raise ValueError("divide by zero")
            result = x / y
        elif op == "Mod":
            if y == 0:
                raise ValueError("modulo by zero")
            if x != x.to_integral_value() or y != y.to_integral_value():
                raise ValueError("modulo on floating-point number")
            result = x % y  # Decimal's remainder keeps the dividend's sign, like Go's
        else:
            raise ValueError(f"unknown arithmetic operator {op}")
    return _from_decimal(result)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def exact_cmp(op: str, a: Any, b: Any, leaves: Any) -> bool:
    """``a op b`` for two numbers, one of which may be an arithmetic result: OPA's answer, or an
    error when the answer depends on digits beyond ``f64``.

    OPA holds an arithmetic result with a 64-bit mantissa; regorus receives the nearest ``f64``.
    ``leaves`` are the operands the arithmetic started from (``+ - *`` and unary minus only), or
    ``None`` when they are not known (a rule, a function, a division). When they are all integers,
    OPA's result is the exact integer, so two integers compare exactly; an integer computed from
    fractions (``(0.3 - 0.1) * 10``) may not be one in OPA. Otherwise the ``f64`` answer is OPA's
    unless the two values are within :data:`_CMP_MARGIN` of each other (equal included), where it
    is refused."""
    for value in (a, b):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("operand is not a number")
    if op not in _CMPS:
        raise ValueError(f"unknown comparison operator {op}")
    exact = isinstance(leaves, list) and all(_integer(leaf) for leaf in leaves)
    if not (exact and _integer(a) and _integer(b)):
        x, y = float(a), float(b)
        if abs(x - y) <= _CMP_MARGIN * max(abs(x), abs(y)):
            raise ValueError(
                f"comparison {a!r} {_CMPS[op]} {b!r} on an arithmetic result is at the precision limit:"
                " OPA computes with a 64-bit mantissa and its answer may differ; run it with --backend opa"
            )
    if op == "Lt":
        return bool(a < b)
    if op == "Le":
        return bool(a <= b)
    if op == "Gt":
        return bool(a > b)
    if op == "Ge":
        return bool(a >= b)
    if op == "Eq":
        return bool(a == b)
    return bool(a != b)


def add_date(ns: Any, years: Any, months: Any, days: Any) -> int:
    """``time.add_date`` with Go's ``Time.AddDate`` normalisation (day overflow rolls forward)."""
    for value in (ns, years, months, days):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("time.add_date takes integers")
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    month_index = base.month - 1 + months
    year = base.year + years + month_index // 12
    month = month_index % 12 + 1
    first = dt.datetime(year, month, 1, base.hour, base.minute, base.second, tzinfo=dt.UTC)
    moved = first + dt.timedelta(days=base.day - 1 + days)
    delta = moved - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return int((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + nanos)


def extensions() -> dict[str, tuple[int, Callable[..., Any]]]:
    """The Python extensions the rewritten modules call: name → (arity, function)."""
    from ..nonstrict import NONSTRICT_EXT, nonstrict_call  # loaded only by govern test's rewrite

    return {
        _ARITH_EXT: (3, exact_arith),
        _CMP_EXT: (4, exact_cmp),
        _ADD_DATE_EXT: (4, add_date),
        NONSTRICT_EXT: (2, nonstrict_call),
    }


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
    arithmetic: bool = True
    counter: int = 0
    changed: bool = False
    discarded: set[int] = field(default_factory=set)  # calls whose error list is thrown away
    hoisted: dict[int, bytes] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)  # functions of the module that compute
    arith_rules: set[str] = field(default_factory=set)  # rules whose value is an arithmetic result
    #: per enclosing query: locals bound from a value that may be an arithmetic result → that value
    arith_locals: list[dict[str, Spanned]] = field(default_factory=list)
    params: set[str] = field(default_factory=set)  # the current function's parameters
    modified: bool = False  # inside a statement with `with` (leaves would read other data)

    def carries_arithmetic(self, node: Spanned) -> bool:
        """Whether the operand may hold an arithmetic result (never for literals, input, params)."""
        if node.kind == "ArithExpr":
            return True
        if node.kind == "UnaryExpr":
            return _spanned(node.body["expr"]).kind != "Number"
        if node.kind == "Call":
            name = _call_name(node)
            return name is not None and name in self.functions
        if node.kind == "Var":
            name = str(node.body.get("value"))
            return name in self.arith_rules or any(name in scope for scope in self.arith_locals)
        return False

    def binding(self, name: str) -> Spanned | None:
        for scope in reversed(self.arith_locals):
            if name in scope:
                return scope[name]
        return None

    def leaves(self, node: Spanned, depth: int = 0) -> list[Spanned] | None:
        """The operands an arithmetic value starts from, when ``+ - *`` and unary minus alone reach
        it from them (then integer operands give an exact integer in OPA); ``None`` when unknown."""
        if depth > 32:
            return None
        if node.kind == "ArithExpr":
            if node.body.get("op") not in ("Add", "Sub", "Mul"):
                return None
            lhs = self.leaves(_spanned(node.body["lhs"]), depth + 1)
            rhs = self.leaves(_spanned(node.body["rhs"]), depth + 1)
            return None if lhs is None or rhs is None else lhs + rhs
        if node.kind == "UnaryExpr":
            return self.leaves(_spanned(node.body["expr"]), depth + 1)
        if node.kind == "Var":
            name = str(node.body.get("value"))
            innermost = self.arith_locals[-1] if self.arith_locals else {}
            if name in innermost:  # its operands are in scope here, not shadowed
                return self.leaves(innermost[name], depth + 1)
            if self.binding(name) is not None or name in self.arith_rules or name in self.params:
                return None
            return [node]
        if node.kind in ("Number", "RefDot", "RefBrack") or (
            node.kind == "Call" and not self.carries_arithmetic(node)
        ):
            arithmetic = ("ArithExpr", "UnaryExpr")
            if any(child.kind in arithmetic for child in iter_spanned(node.body)):
                return None  # `abs(x - y)`: an integer computed from fractions
            return (
                [node]
                if node.kind != "Number"
                else ([] if isinstance(node.body.get("value"), int) else [node])
            )
        return None

    def children(self, value: Any) -> list[Spanned]:
        """The outermost spanned elements under ``value`` (not ``value`` itself), by position."""
        out: list[Spanned] = []

        def walk(item: Any) -> None:
            node = as_spanned(item)
            if node is not None:
                out.append(node)
                return
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

    def refuse(self, node: Spanned, what: str, fix: str) -> PolicyLoadError:
        return PolicyLoadError(
            f"{what} (column {node.col}) would not give OPA's answer on the embedded engine; {fix}",
            Location(self.path, node.line),
        )

    def emit(self, node: Spanned) -> bytes:
        if id(node.body) in self.hoisted:
            return self.hoisted[id(node.body)]
        if node.kind == "ArithExpr" and self.arithmetic:
            self.changed = True
            op = str(node.body["op"])
            lhs = self.emit(_spanned(node.body["lhs"]))
            rhs = self.emit(_spanned(node.body["rhs"]))
            return f"data.{EXACT_PACKAGE}.{op.lower()}(".encode() + lhs + b", " + rhs + b")"
        if node.kind == "BoolExpr" and self.arithmetic and str(node.body.get("op")) in _CMPS:
            lhs_node, rhs_node = _spanned(node.body["lhs"]), _spanned(node.body["rhs"])
            if self.carries_arithmetic(lhs_node) or self.carries_arithmetic(rhs_node):
                self.changed = True
                helper = f"data.{EXACT_PACKAGE}.cmp_{str(node.body['op']).lower()}(".encode()
                lhs = self.emit_within(lhs_node, rhs_node.start)
                rhs = self.emit_within(rhs_node, node.end)
                # the line breaks around and between the operands stay, so lines do not move
                before = b"\n" * self.src.count(b"\n", node.start, lhs_node.start)
                between = b"\n" * self.src.count(b"\n", lhs_node.end, rhs_node.start)
                after = b"\n" * self.src.count(b"\n", min(rhs_node.end, node.end), node.end)
                leaves = self.emit_leaves(lhs_node, rhs_node)
                return before + helper + lhs + b"," + between + b" " + rhs + b", " + leaves + b")" + after
        if node.kind == "UnaryExpr" and (self.arithmetic or _spanned(node.body["expr"]).kind != "Number"):
            self.changed = True
            operand = self.emit(_spanned(node.body["expr"]))
            return f"data.{EXACT_PACKAGE}.sub(0, ".encode() + operand + b")"
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

    def emit_leaves(self, lhs: Spanned, rhs: Spanned) -> bytes:
        """The array of both operands' leaves (on one line), or ``null`` when not known."""
        left, right = self.leaves(lhs), self.leaves(rhs)
        if left is None or right is None or self.modified:
            return b"null"
        texts = [self.emit(leaf) for leaf in left + right]
        if any(b"\n" in text for text in texts):
            return b"null"  # kept off the line so that lines do not move
        return b"[" + b", ".join(texts) + b"]"

    def emit_within(self, node: Spanned, limit: int) -> bytes:
        """``emit(node)``, or its raw source up to ``limit`` when its span reaches past it (regorus
        gives ``set()`` a span running on past the expression), as :meth:`render` treats it."""
        if node.end <= limit:
            return self.emit(node)
        return self.src[node.start : limit]

    def render_after(self, node: Spanned, start: int) -> bytes:
        pieces: list[bytes] = []
        pos = start
        for child in self.children(node.body):
            if child.start < pos or child.end > node.end or child.end <= child.start:
                continue
            pieces.append(self.src[pos : child.start])
            pieces.append(self.emit(child))
            pos = child.end
        pieces.append(self.src[pos : node.end])
        return b"".join(pieces)

    def emit_query(self, query: Spanned) -> bytes:
        """A query; negated calls get their arguments bound first, on the same line."""
        bound: dict[str, Spanned] = {}
        self.arith_locals.append(bound)
        try:
            return self._emit_query(query, bound)
        finally:
            self.arith_locals.pop()

    def _emit_query(self, query: Spanned, bound: dict[str, Spanned]) -> bytes:
        for stmt in map(_spanned, query.body.get("stmts") or []):
            literal = as_spanned(stmt.body.get("literal"))
            expr = as_spanned(literal.body.get("expr")) if literal is not None else None
            if expr is None or expr.kind != "AssignExpr":
                continue
            lhs, rhs = as_spanned(expr.body.get("lhs")), as_spanned(expr.body.get("rhs"))
            if lhs is not None and rhs is not None and lhs.kind == "Var" and self.carries_arithmetic(rhs):
                bound[str(lhs.body.get("value"))] = rhs
        pieces: list[bytes] = []
        pos = query.start
        any_hoist = False
        for child in self.children(query.body):
            if child.start < pos or child.end > query.end or child.end <= child.start:
                continue
            pieces.append(self.src[pos : child.start])
            prefix = self.hoist(child) if "literal" in child.body else b""
            any_hoist = any_hoist or bool(prefix)
            outer, self.modified = self.modified, self.modified or bool(child.body.get("with_mods"))
            try:
                pieces.append(prefix + self.emit(child))
            finally:
                self.modified = outer
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


def _spanned(value: Any) -> Spanned:
    node = as_spanned(value)
    if node is None:  # pragma: no cover - the parser always gives operands a span
        raise PolicyLoadError("unexpected policy syntax tree")
    return node


def _computes(node: Spanned) -> bool:
    if node.kind == "ArithExpr":
        return True
    return node.kind == "UnaryExpr" and _spanned(node.body["expr"]).kind != "Number"


def _parameters(rule: Spanned) -> set[str]:
    """The variables of a function's parameters (a caller may pass an arithmetic result)."""
    head_holder = rule.body.get("head")
    head = head_holder.get("Func") if isinstance(head_holder, dict) else None
    if not isinstance(head, dict):
        return set()
    return {str(n.body.get("value")) for n in iter_spanned(head.get("args") or []) if n.kind == "Var"}


def _find_arithmetic_rules(ast: dict[str, Any], rewriter: _Rewriter) -> None:
    """The module's functions that may return an arithmetic result (one computes, or calls one
    that does), and its rules whose value (in the head or a body) may be one."""
    rules = [node for node in map(as_spanned, ast.get("rules", [])) if node is not None]
    heads: list[tuple[str, dict[str, Any], Spanned]] = []
    functions: list[tuple[str, Spanned]] = []
    for rule in rules:
        head_holder = rule.body.get("head")
        if not isinstance(head_holder, dict) or len(head_holder) != 1:
            continue
        kind, head = next(iter(head_holder.items()))
        refr = as_spanned(head.get("refr")) if isinstance(head, dict) else None
        if refr is None or refr.kind != "Var" or not isinstance(head, dict):
            continue
        name = str(refr.body.get("value"))
        if kind == "Func":
            functions.append((name, rule))
        else:
            heads.append((name, head, rule))
    changed = True
    while changed:
        changed = False
        for name, rule in functions:
            if name not in rewriter.functions and any(
                _computes(node) or (node.kind == "Call" and rewriter.carries_arithmetic(node))
                for node in iter_spanned(rule.body)
            ):
                rewriter.functions.add(name)
                changed = True
    for name, head, rule in heads:
        assigns = [head.get("assign")] + [
            body.get("assign") for body in rule.body.get("bodies") or [] if isinstance(body, dict)
        ]
        for assign in assigns:
            value = as_spanned(assign.get("value")) if isinstance(assign, dict) else None
            if value is not None and rewriter.carries_arithmetic(value):
                rewriter.arith_rules.add(name)


def rewrite_module(path: str, text: str, ast: dict[str, Any], *, arithmetic: bool = True) -> str:
    """The module's text as regorus must load it to give OPA's answers (same lines).

    ``arithmetic=False`` keeps ``+ - * / %`` native (negation, built-ins and unary minus on
    references are still rewritten)."""
    src = text.encode("utf-8")
    rewriter = _Rewriter(path, src, arithmetic=arithmetic)
    _find_arithmetic_rules(ast, rewriter)
    for assign in iter_spanned(ast.get("rules", [])):
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
        rewriter.params = _parameters(node)
        pieces.append(rewriter.emit(node))
        pos = node.end
    pieces.append(src[pos:])
    if not rewriter.changed:
        return text
    return b"".join(pieces).decode("utf-8")

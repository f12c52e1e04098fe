"""Where an arithmetic result can travel in a policy set: the values whose comparisons are checked.

OPA computes ``+ - * / %`` (and ``sum``, ``product``) on ``big.Float`` with a 64-bit mantissa;
regorus on ``f64``. A comparison, a rounding or an equality on such a result can therefore differ
at its exact boundary, and :mod:`~govern.engine.backends.fidelity` rewrites each one that an
arithmetic result may reach. This module says which those are. A value *carries* arithmetic when
it is:

* an arithmetic expression, unary minus on a reference, or a call to ``sum`` / ``product``;
* a local bound from one (``:=``, ``=``, ``some v in xs``, ``every v in xs``, destructuring);
* a collection or comprehension holding one, or a reference into such a local or rule
  (``r.drop``, ``xs[i]``);
* a rule or function, of any module or package, whose value may be one (``data.p.drop``, an
  imported alias, a rule of the same package in another file);
* a parameter of a function that some call site, anywhere in the policy set, passes one at that
  position;
* a built-in call with such an argument, unless the built-in never returns a number taken from
  its arguments (``count``, ``sprintf`` …); ``floor``/``ceil``/``round`` are checked at their own
  boundary instead, and their (integer) result then carries nothing.

The analysis over-approximates: a value wrongly said to carry arithmetic only makes its
comparison go through the checking helper, which answers as the native operator except at the
precision limit. Facts about other modules (:class:`ArithFacts`) come from a fixed point over
every user module of the set (:func:`arith_facts`); the built-in library is exact by construction
and takes no part. Not followed: values replaced by ``with``, and references whose path is
computed (``data[x]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..rego_ast import Spanned, as_spanned, iter_spanned, ref_name
from .exact import AGGREGATES, MAYBE, RESULT, ROUNDING, WRITTEN

__all__ = [
    "AGGREGATES",
    "ROUNDING",
    "ArithFacts",
    "FlowContext",
    "FlowModule",
    "arith_facts",
    "computes",
    "function_scope",
    "has_seeds",
    "mentions",
    "module_imports",
    "statement_bindings",
    "static_path",
]

#: Built-ins whose result never holds a number taken from their arguments.
OPAQUE: Final = frozenset(
    {
        "count",
        "type_name",
        "is_number",
        "is_string",
        "is_boolean",
        "is_array",
        "is_set",
        "is_object",
        "is_null",
        "sprintf",
        "concat",
        "contains",
        "startswith",
        "endswith",
        "format_int",
        "json.marshal",
        "json.is_valid",
        "regex.match",
        "strings.any_prefix_match",
        "strings.any_suffix_match",
    }
)
_MAX_ROUNDS: Final = 64


@dataclass(frozen=True)
class ArithFacts:
    """What a module's rewrite needs to know about the rest of the policy set.

    ``carrying``: paths under ``data`` (``data.p.drop``) of rules and functions whose value may be
    an arithmetic result. ``params``: ``(function path, position)`` of parameters some call site
    passes one."""

    carrying: frozenset[str] = frozenset()
    params: frozenset[tuple[str, int]] = frozenset()
    #: paths whose value, in every definition, is certainly an arithmetic result
    certain: frozenset[str] = frozenset()
    #: ``(function path, position)`` of parameters every call site passes such a result
    certain_params: frozenset[tuple[str, int]] = frozenset()

    def key(self) -> str:
        """A canonical text of the facts (a cache key part; :meth:`from_key` reads it back)."""
        params = sorted([name, index] for name, index in self.params)
        certain_params = sorted([name, index] for name, index in self.certain_params)
        return json.dumps([sorted(self.carrying), params, sorted(self.certain), certain_params])

    @classmethod
    def from_key(cls, text: Any) -> ArithFacts:
        value = json.loads(text) if isinstance(text, str) else None
        if not (isinstance(value, list) and len(value) == 4):
            raise TypeError("not arithmetic facts")
        carrying, params, certain, certain_params = value
        if not (isinstance(certain_params, list) and all(_is_param(p) for p in certain_params)):
            raise TypeError("not arithmetic facts")
        if not (isinstance(certain, list) and all(isinstance(c, str) for c in certain)):
            raise TypeError("not arithmetic facts")
        if not (isinstance(carrying, list) and all(isinstance(c, str) for c in carrying)):
            raise TypeError("not arithmetic facts")
        if not (isinstance(params, list) and all(_is_param(p) for p in params)):
            raise TypeError("not arithmetic facts")
        return cls(frozenset(carrying), frozenset((str(p[0]), int(p[1])) for p in params), frozenset(certain))


def _is_param(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def computes(node: Spanned) -> bool:
    """An arithmetic expression, or unary minus on anything but a number literal."""
    if node.kind == "ArithExpr":
        return True
    if node.kind == "UnaryExpr":
        inner = as_spanned(node.body.get("expr"))
        return inner is None or inner.kind != "Number"
    return False


def static_path(node: Any) -> str | None:
    """The dotted name of a reference up to its first computed part (``o`` for ``o[k]``,
    ``a.b`` for ``a.b[x].c``), or None when it does not start with a name."""
    current = node if isinstance(node, Spanned) else as_spanned(node)
    parts: list[str] = []
    while current is not None and current.kind in ("RefDot", "RefBrack"):
        if current.kind == "RefDot":
            parts.append(str(current.body["field"][1]))
        else:
            index = as_spanned(current.body.get("index"))
            if index is not None and index.kind == "String":
                parts.append(str(index.body.get("value")))
            else:
                parts = []  # everything after a computed part is dropped
        current = as_spanned(current.body.get("refr"))
    if current is None or current.kind != "Var":
        return None
    parts.append(str(current.body["value"]))
    return ".".join(reversed(parts))


def _ref_root(node: Spanned) -> Spanned:
    current = node
    while current.kind in ("RefDot", "RefBrack"):
        inner = as_spanned(current.body.get("refr"))
        if inner is None:
            break
        current = inner
    return current


def module_imports(ast: dict[str, Any], src: bytes) -> dict[str, str | None]:
    """A module's import aliases → the path under ``data`` they name (None for ``input``)."""
    out: dict[str, str | None] = {}
    for item in ast.get("imports") or []:
        if not isinstance(item, dict):
            continue
        name = ref_name(item.get("refr"))
        if not name:
            continue
        alias_span = item.get("as")
        if isinstance(alias_span, dict) and "start" in alias_span:
            alias = src[int(alias_span["start"]) : int(alias_span["end"])].decode("utf-8")
        else:
            alias = name.rsplit(".", 1)[-1]
        root = name.split(".", 1)[0]
        if root == "data":
            out[alias] = name
        elif root == "input":
            out[alias] = None
    return out


@dataclass
class FlowContext:
    """One module's view: its package and imports, the set's facts, and the locals in scope
    (given by ``local``: True when the name is bound to a value that may carry arithmetic,
    False when it is bound otherwise, None when it is not a local)."""

    package: str
    imports: dict[str, str | None]
    facts: ArithFacts
    local: Callable[[str], bool | None] = field(default=lambda name: None)
    #: for a local in scope, whether it is certainly an arithmetic result (None: not a local)
    local_certain: Callable[[str], bool | None] = field(default=lambda name: None)
    function: str | None = None  # the path of the function whose body this is
    #: per parameter position of that function, the variables it binds
    params: tuple[tuple[str, ...], ...] = ()

    def is_param(self, name: str) -> bool:
        return any(name in names for names in self.params)

    def qualify(self, dotted: str) -> str | None:
        """The path under ``data`` a name refers to outside any local (None for ``input``)."""
        root, _, rest = dotted.partition(".")
        if root == "data":
            return dotted
        if root == "input":
            return None
        if root in self.imports:
            base = self.imports[root]
            return None if base is None else (f"{base}.{rest}" if rest else base)
        return f"data.{self.package}.{dotted}"

    def path_carries(self, path: str) -> bool:
        """Whether a value at ``path`` may hold an arithmetic result (a carrying rule above it,
        at it, or under it)."""
        for carrying in self.facts.carrying:
            if path == carrying or path.startswith(carrying + ".") or carrying.startswith(path + "."):
                return True
        return False

    def param_carries(self, name: str) -> bool:
        if self.function is None:
            return False
        return any(
            name in names and (self.function, index) in self.facts.params
            for index, names in enumerate(self.params)
        )

    def name_carries(self, name: str) -> bool:
        bound = self.local(name)
        if bound is not None:
            return bound
        if self.is_param(name):
            return self.param_carries(name)
        if name in ("input", "data", "_"):
            return False
        path = self.qualify(name)
        return path is not None and path in self.facts.carrying

    def call_carries(self, node: Spanned) -> bool:
        name = ref_name(node.body.get("fcn"))
        if name in AGGREGATES:
            return True
        if name in ROUNDING or name in OPAQUE:
            return False
        if name is not None and self.local(name.split(".", 1)[0]) is None:
            path = self.qualify(name)
            if path is not None and path in self.facts.carrying:
                return True
        return any(self.carries(arg) for arg in _nodes(node.body.get("params") or []))

    def certain(self, node: Spanned) -> bool:
        """Whether the value of ``node`` is certainly an arithmetic result (an under-estimate:
        an arithmetic expression, ``sum``/``product``, a local bound to one, a rule or function
        every definition of which gives one)."""
        kind = node.kind
        if kind in ("ArithExpr", "UnaryExpr"):
            return computes(node)
        if kind == "Call":
            name = ref_name(node.body.get("fcn"))
            if name in AGGREGATES:
                return True
            if name == "abs":
                args = list(_nodes(node.body.get("params") or []))
                return len(args) == 1 and self.certain(args[0])
            if name is None or self.local(name.split(".", 1)[0]) is not None:
                return False
            path = self.qualify(name)
            return path is not None and path in self.facts.certain
        if kind == "Var":
            name = str(node.body.get("value"))
            bound = self.local_certain(name)
            if bound is not None:
                return bound
            if self.is_param(name) and self.local(name) is None:
                return self.function is not None and any(
                    name in names and (self.function, index) in self.facts.certain_params
                    for index, names in enumerate(self.params)
                )
            if self.local(name) is not None or name in ("input", "data", "_"):
                return False
            path = self.qualify(name)
            return path is not None and path in self.facts.certain
        if kind in ("RefDot", "RefBrack"):
            root = _ref_root(node)
            if root.kind != "Var":
                return False
            name = str(root.body.get("value"))
            if self.local(name) is not None or self.is_param(name):
                return node is not root and self.local_certain(name) is True
            dotted = static_path(node)
            path = self.qualify(dotted) if dotted else None
            return path is not None and path in self.facts.certain
        if kind in ("Array", "Set", "Object"):  # its elements (what a reference into it reads)
            elements = list(_children(node))
            if kind == "Object":
                elements = elements[1::2]
            return bool(elements) and all(self.certain(element) for element in elements)
        return False

    def mode(self, node: Spanned) -> int:
        """What an arithmetic helper is told of an operand (see :mod:`.opa_numbers`)."""
        return RESULT if self.certain(node) else MAYBE if self.carries(node) else WRITTEN

    def carries(self, node: Spanned) -> bool:
        """Whether the value of ``node`` may hold an arithmetic result."""
        kind = node.kind
        if kind in ("ArithExpr", "UnaryExpr"):
            return computes(node)
        if kind == "Call":
            return self.call_carries(node)
        if kind == "Var":
            return self.name_carries(str(node.body.get("value")))
        if kind in ("RefDot", "RefBrack"):
            root = _ref_root(node)
            if root.kind != "Var":
                return self.carries(root)
            name = str(root.body.get("value"))
            if self.local(name) is not None or self.is_param(name):
                return self.name_carries(name)
            dotted = static_path(node)
            path = self.qualify(dotted) if dotted else None
            return path is not None and self.path_carries(path)
        if kind == "BinExpr":
            return any(self.carries(n) for n in _nodes([node.body.get("lhs"), node.body.get("rhs")]))
        if kind in ("Array", "Set", "Object"):
            return any(self.carries(n) for n in _children(node))
        if kind in ("ArrayCompr", "SetCompr", "ObjectCompr"):
            # the term may be a local of the comprehension's own query: any carrying value in it
            return any(
                self.carries(n)
                for n in iter_spanned(node.body)
                if n.kind in ("ArithExpr", "UnaryExpr", "Call", "Var")
            )
        return False


def _nodes(values: Iterable[Any]) -> Iterator[Spanned]:
    for value in values:
        node = as_spanned(value)
        if node is not None:
            yield node


def _children(node: Spanned) -> Iterator[Spanned]:
    """The elements of a collection literal (object keys and values alike)."""
    if node.kind == "Object":
        for pair in node.body.get("fields") or []:
            if isinstance(pair, list):
                yield from _nodes(pair)
    else:
        yield from _nodes(node.body.get("items") or [])


def _bound_names(stmt_expr: Spanned, src: bytes) -> Iterator[tuple[str, Spanned]]:
    """The names a statement binds, each with the value it is bound from."""
    if stmt_expr.kind == "AssignExpr":
        lhs, rhs = as_spanned(stmt_expr.body.get("lhs")), as_spanned(stmt_expr.body.get("rhs"))
        if lhs is None or rhs is None:
            return
        for target, value in ((lhs, rhs), (rhs, lhs)) if stmt_expr.body.get("op") == "Eq" else ((lhs, rhs),):
            if target.kind == "Var":
                yield str(target.body.get("value")), value
            elif target.kind in ("Array", "Object"):
                for var in iter_spanned(target.body):
                    if var.kind == "Var":
                        yield str(var.body.get("value")), value
    elif stmt_expr.kind in ("SomeIn", "Every"):
        collection = as_spanned(stmt_expr.body.get("collection") or stmt_expr.body.get("domain"))
        if collection is None:
            return
        for key in ("key", "value"):
            item = stmt_expr.body.get(key)
            node = as_spanned(item)
            if node is not None:
                for var in iter_spanned(node.body) if node.kind != "Var" else [node]:
                    if var.kind == "Var":
                        yield str(var.body.get("value")), collection
            elif isinstance(item, dict) and "start" in item:  # `every v in xs`: a bare span
                yield src[int(item["start"]) : int(item["end"])].decode("utf-8"), collection


def statement_bindings(node: Spanned, src: bytes) -> Iterator[tuple[str, Spanned]]:
    """The bindings of one query statement (``{"literal": ...}``)."""
    literal = as_spanned(node.body.get("literal"))
    if literal is None:
        return
    if literal.kind == "Expr":
        expr = as_spanned(literal.body.get("expr"))
        if expr is not None:
            yield from _bound_names(expr, src)
    else:
        yield from _bound_names(literal, src)


@dataclass
class _Rule:
    path: str
    kind: str  # Compr, Set, Func
    rule: Spanned
    head: dict[str, Any]
    params: tuple[tuple[str, ...], ...]


def _rules(ast: dict[str, Any], package: str) -> Iterator[_Rule]:
    for rule in _nodes(ast.get("rules") or []):
        holder = rule.body.get("head")
        if not isinstance(holder, dict) or len(holder) != 1:
            continue
        kind, head = next(iter(holder.items()))
        if not isinstance(head, dict):
            continue
        name = static_path(head.get("refr"))
        if name is None:
            continue
        yield _Rule(f"data.{package}.{name}", kind, rule, head, _param_names(head) if kind == "Func" else ())


def function_scope(rule: Spanned, package: str) -> tuple[str | None, tuple[tuple[str, ...], ...]]:
    """A function's path and parameter names (``(None, ())`` for any other rule)."""
    holder = rule.body.get("head")
    head = holder.get("Func") if isinstance(holder, dict) else None
    name = static_path(head.get("refr")) if isinstance(head, dict) else None
    if not isinstance(head, dict) or name is None:
        return None, ()
    return f"data.{package}.{name}", _param_names(head)


def _param_names(head: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    """Per parameter position, the variables it binds (one, or several in a pattern)."""
    return tuple(
        tuple(str(var.body.get("value")) for var in iter_spanned(arg.body) if var.kind == "Var")
        if arg.kind != "Var"
        else (str(arg.body.get("value")),)
        for arg in _nodes(head.get("args") or [])
    )


def _head_values(entry: _Rule) -> Iterator[Spanned]:
    assigns = [entry.head.get("assign")] + [
        body.get("assign") for body in entry.rule.body.get("bodies") or [] if isinstance(body, dict)
    ]
    for assign in assigns:
        if isinstance(assign, dict):
            value = as_spanned(assign.get("value"))
            if value is not None:
                yield value
    if entry.kind == "Set":
        key = as_spanned(entry.head.get("key"))
        if key is not None:
            yield key


@dataclass
class _Walked:
    """What the fixed point reads of one rule, walked once: the names its statements bind (with
    the values they are bound from), its calls and its head values."""

    entry: _Rule
    bindings: list[tuple[str, Spanned]]
    calls: list[tuple[str, list[Spanned]]]
    values: list[Spanned]

    @property
    def bound(self) -> set[str]:
        return {name for name, _ in self.bindings}


def _walk(entry: _Rule, src: bytes) -> _Walked:
    bindings: list[tuple[str, Spanned]] = []
    calls: list[tuple[str, list[Spanned]]] = []
    for node in iter_spanned(entry.rule.body):
        if "literal" in node.body:
            bindings.extend(statement_bindings(node, src))
        elif node.kind == "Call":
            name = ref_name(node.body.get("fcn"))
            if name:
                calls.append((name, list(_nodes(node.body.get("params") or []))))
    return _Walked(entry, bindings, calls, list(_head_values(entry)))


def _rule_context(base: FlowContext, walked: _Walked) -> FlowContext:
    """``base`` inside one rule: every local of any of its bodies that may carry arithmetic
    (over-approximated: a name bound from such a value anywhere in the rule carries everywhere)."""
    carrying: set[str] = set()
    bound = walked.bound
    ctx = FlowContext(
        base.package,
        base.imports,
        base.facts,
        local=lambda name: (name in carrying) if name in bound else None,
        function=walked.entry.path if walked.entry.kind == "Func" else None,
        params=walked.entry.params,
    )
    for _ in range(_MAX_ROUNDS):
        before = len(carrying)
        for name, value in walked.bindings:
            if name not in carrying and ctx.carries(value):
                carrying.add(name)
        if len(carrying) == before:
            break
    return ctx


_QUOTED: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_OPERATOR: Final = re.compile(r"[-+*/%]|\b(?:sum|product)\s*\(")


def has_seeds(ast: dict[str, Any], text: str | None = None) -> bool:
    """Whether a module computes at all (arithmetic, unary minus on a value, sum, product).
    Given its text, a module with no operator outside its strings and comments is answered
    without walking the tree."""
    if text is not None and not _OPERATOR.search(_QUOTED.sub("", text)):
        return False
    for node in iter_spanned(ast.get("rules") or []):
        if computes(node) or (node.kind == "Call" and ref_name(node.body.get("fcn")) in AGGREGATES):
            return True
    return False


@dataclass(frozen=True)
class FlowModule:
    """What :func:`arith_facts` reads of one user module."""

    package: str
    text: str
    ast: dict[str, Any]


def mentions(text: str, package: str, facts: ArithFacts) -> bool:
    """Whether a module's text may name anything that may carry arithmetic: a rule or function
    the facts list, by its name within its own package, by its package's path elsewhere (an
    import or a ``data.`` reference), or through a computed path (``data[``). A module that
    neither computes nor names one has nothing to follow."""
    if facts.carrying and "data[" in text:
        return True
    own = f"data.{package}."
    for path in facts.carrying:
        if path.startswith(own):
            if path[len(own) :].split(".", 1)[0] in text:
                return True
        elif path[len("data.") :].rpartition(".")[0] in text:
            return True
    return False


def arith_facts(modules: list[FlowModule]) -> ArithFacts:
    """The facts of a set of user modules: a fixed point over the modules that compute, and
    those that name what they compute (found again after each round, by name in the text)."""
    facts = ArithFacts()
    active = [module for module in modules if has_seeds(module.ast, module.text)]
    if not active:
        return facts  # nothing computes: no value can carry arithmetic
    taken = {id(module) for module in active}
    while True:
        facts = _fixed_point(active, facts)
        joining = [m for m in modules if id(m) not in taken and mentions(m.text, m.package, facts)]
        if not joining:
            return facts
        active += joining
        taken.update(id(module) for module in joining)


def _fixed_point(modules: list[FlowModule], facts: ArithFacts) -> ArithFacts:
    prepared = []
    functions: set[str] = set()
    for module in modules:
        src = module.text.encode("utf-8")
        entries = list(_rules(module.ast, module.package))
        functions.update(e.path for e in entries if e.kind == "Func")
        prepared.append((module, module_imports(module.ast, src), [_walk(entry, src) for entry in entries]))
    for _ in range(_MAX_ROUNDS):
        carrying, params = set(facts.carrying), set(facts.params)
        defined: dict[str, bool] = {}  # path → every definition so far certainly a result
        passed: dict[tuple[str, int], bool] = {}  # parameter → every call site so far passes one
        for module, imports, walked_rules in prepared:
            base = FlowContext(module.package, imports, facts)
            for rule in walked_rules:
                entry, values = rule.entry, rule.values
                ctx = _rule_context(base, rule)
                if any(ctx.carries(value) for value in values):
                    carrying.add(entry.path)
                sure = entry.kind != "Set" and bool(values) and all(ctx.certain(v) for v in values)
                defined[entry.path] = defined.get(entry.path, True) and sure
                for name, args in rule.calls:
                    if ctx.local(name.split(".", 1)[0]) is not None:
                        continue
                    path = ctx.qualify(name)
                    if path not in functions:
                        continue
                    for index, arg in enumerate(args):
                        if ctx.carries(arg):
                            params.add((str(path), index))
                        key = (str(path), index)
                        passed[key] = passed.get(key, True) and ctx.certain(arg)
        certain = frozenset(path for path, sure in defined.items() if sure)
        certain_params = frozenset(key for key, sure in passed.items() if sure)
        new = ArithFacts(frozenset(carrying), frozenset(params), certain, certain_params)
        if new == facts:
            break
        facts = new
    return facts

"""What the embedded engine derives from one module's text, cached on disk by that text.

Loading a policy set into regorus needs, per module, the text rewritten for OPA's answers
(:func:`~govern.engine.backends.fidelity.rewrite_module`), the functions it defines and calls
(to refuse an unknown function at load) and its rule names (for the load-time probe). All of
them are walks over the syntax tree; with the cache (:mod:`govern.engine.policy_cache`) a
policy set read before is loaded without parsing a tree at all. Errors are never cached: a
module that fails is rewritten again, and fails again, with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..policy_cache import cached
from ..rego_ast import ParsedModule, as_spanned, iter_spanned, ref_name

__all__ = [
    "LIBRARY_PACKAGE",
    "ModuleFacts",
    "builtin_names",
    "engine_text",
    "library_takes_results",
    "module_facts",
    "once_clean",
    "set_facts",
]


def _version(source: ParsedModule) -> str:
    return "v0" if source.v0 else "v1"


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a text")
    return value


def engine_text(path: str, source: ParsedModule, *, arithmetic: bool, facts: str) -> str:
    """The module's text as regorus loads it (``rewrite_module``), cached by its text and the
    facts of the policy set it is loaded with (:func:`set_facts`). The rewrite and its analysis
    are imported only when the cache misses."""

    def rewrite() -> str:
        from .arith_flow import ArithFacts
        from .fidelity import rewrite_module

        return rewrite_module(
            path, source.text, source.ast, arithmetic=arithmetic, facts=ArithFacts.from_key(facts)
        )

    text: str = cached(
        "engine-text",
        (source.text, _version(source), "exact" if arithmetic else "native", facts),
        rewrite,
        _as_str,
        _as_str,
    )
    return text


#: The facts of a policy set with no user module (``ArithFacts().key()``).
NO_FACTS = json.dumps([[], [], [], []])


#: The package of the built-in library's shared helpers, which team policies may call.
LIBRARY_PACKAGE = "govern.lib"


def set_facts(sources: list[ParsedModule], library: list[ParsedModule] | None = None) -> str:
    """Which rules, functions and parameters of these (user) modules may hold an arithmetic
    result (:func:`~govern.engine.backends.arith_flow.arith_facts`), as the facts' canonical
    text, cached by the modules' texts.

    ``library`` (the built-in ``govern.lib`` module) joins the analysis when a user module that
    computes names it: its functions' parameters are then followed like a user function's
    (:func:`library_takes_results`)."""
    if not sources:
        return NO_FACTS
    helpers = [s for s in library or () if any(LIBRARY_PACKAGE in u.text for u in sources)]

    def compute() -> str:
        from .arith_flow import FlowModule, arith_facts, has_seeds

        analysed = list(sources)
        if helpers and any(has_seeds(s.ast, s.text) for s in sources):
            analysed += helpers
        return arith_facts([FlowModule(s.package, s.text, s.ast) for s in analysed]).key()

    def decode(value: Any) -> str:
        parsed = json.loads(_as_str(value))
        if not (isinstance(parsed, list) and len(parsed) == 4 and all(isinstance(p, list) for p in parsed)):
            raise TypeError("not arithmetic facts")
        return str(value)

    parts = sorted(f"{_version(source)}\n{source.text}" for source in sources)
    parts += [f"library\n{source.text}" for source in helpers]
    facts: str = cached("arith-facts", tuple(parts), compute, _as_str, decode)
    return facts


def library_takes_results(facts: str) -> bool:
    """Whether a parameter of a ``govern.lib`` function may receive an arithmetic result: the
    library's native arithmetic would then read the result's float, not OPA's value."""
    if facts == NO_FACTS:
        return False
    params = json.loads(facts)[1]
    prefix = f"data.{LIBRARY_PACKAGE}."
    return any(isinstance(p, list) and str(p[0]).startswith(prefix) for p in params)


def builtin_names(names: list[str], check: Callable[[str], bool]) -> dict[str, bool]:
    """Whether regorus (with govern's extensions) knows each name: ``check(name)``, cached for
    the list as a whole (one entry per policy set, not one per name)."""

    def decode(value: Any) -> dict[str, bool]:
        if not isinstance(value, dict) or sorted(value) != sorted(names):
            raise TypeError("not these names")
        if not all(isinstance(flag, bool) for flag in value.values()):
            raise TypeError("not flags")
        return value

    def encode(value: dict[str, bool]) -> dict[str, bool]:
        return value

    known: dict[str, bool] = cached(
        "builtins", tuple(names), lambda: {name: check(name) for name in names}, encode, decode
    )
    return known


def once_clean(kind: str, parts: list[str], run: Callable[[], None]) -> None:
    """Run a check that either raises or returns nothing, unless it already returned for the
    same ``parts`` (a check found clean stays clean for the same texts; a failure is never
    recorded, so it runs, and fails, again)."""

    def decode(value: Any) -> bool:
        if value is not True:
            raise TypeError("not a clean result")
        return True

    def compute() -> bool:
        run()
        return True

    cached(kind, tuple(parts), compute, decode, decode)


@dataclass(frozen=True)
class ModuleFacts:
    """What the load checks read from a module's tree."""

    #: Names of the functions the module defines (``f`` for ``f(x) := ...``, dotted for refs).
    functions: tuple[str, ...]
    #: Import aliases: alias → dotted path (``lib`` → ``data.govern.lib``).
    imports: dict[str, str]
    #: Every call with a plain name, in tree order: (name, line, column).
    calls: tuple[tuple[str, int, int], ...]
    #: The first part of every non-function rule head, in order (repeats kept).
    rule_names: tuple[str, ...]
    #: (rule name, head shape) for every rule and ``default``: ``Set/Var`` for ``name contains
    #: key``, ``Default`` for a default; what tells a rule that is never undefined.
    head_shapes: tuple[tuple[str, str], ...] = ()


def call_name(node: Any) -> str | None:
    """The dotted name a call or head reference spells (``a.b.c``), or None."""
    return ref_name(node)


def _imports(ast: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in ast.get("imports", []):
        node = as_spanned(item)
        if node is None:
            continue
        parts: list[str] = []
        ref = as_spanned(node.body.get("refr"))
        while ref is not None and ref.kind in ("RefDot", "Var"):
            if ref.kind == "RefDot":
                parts.append(str(ref.body["field"][1]))
                ref = as_spanned(ref.body["refr"])
            else:
                parts.append(str(ref.body["value"]))
                ref = None
        path = ".".join(reversed(parts))
        alias = node.body.get("alias")
        out[str(alias) if alias else path.rsplit(".", 1)[-1]] = path
    return out


def _rule_names(ast: dict[str, Any]) -> list[str]:
    out = []
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        head = as_spanned(node.body.get("head")) if node is not None else None
        if head is not None and head.kind != "Func":
            name = call_name(head.body.get("refr"))
            if name is None:  # a ref head: its first part names the rule
                ref = as_spanned(head.body.get("refr"))
                while ref is not None and ref.kind in ("RefDot", "RefBrack"):
                    ref = as_spanned(ref.body["refr"])
                name = str(ref.body["value"]) if ref is not None and ref.kind == "Var" else None
            if name:
                out.append(name.split(".")[0])
    return out


def _head_shapes(ast: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        if node is None:
            continue
        if node.kind == "Default":
            ref = as_spanned(node.body.get("refr"))
            while ref is not None and ref.kind in ("RefDot", "RefBrack"):
                ref = as_spanned(ref.body["refr"])
            if ref is not None and ref.kind == "Var":
                out.append((str(ref.body["value"]), "Default"))
            continue
        head = as_spanned(node.body.get("head"))
        if head is None:
            continue
        ref = as_spanned(head.body.get("refr"))
        shape = f"{head.kind}/{ref.kind if ref is not None else ''}"
        while ref is not None and ref.kind in ("RefDot", "RefBrack"):
            ref = as_spanned(ref.body["refr"])
        if ref is not None and ref.kind == "Var":
            out.append((str(ref.body["value"]), shape))
    return out


def _compute(ast: dict[str, Any]) -> ModuleFacts:
    functions: list[str] = []
    for rule in ast.get("rules", []):
        node = as_spanned(rule)
        head = as_spanned(node.body.get("head")) if node is not None else None
        if head is not None and head.kind == "Func":
            name = call_name(head.body.get("refr"))
            if name:
                functions.append(name)
    calls: list[tuple[str, int, int]] = []
    for node in iter_spanned(ast.get("rules", [])):
        if node.kind == "Call":
            name = call_name(node.body.get("fcn"))
            if name is not None:
                calls.append((name, node.line, node.col))
    return ModuleFacts(
        tuple(functions), _imports(ast), tuple(calls), tuple(_rule_names(ast)), tuple(_head_shapes(ast))
    )


def _encode(facts: ModuleFacts) -> dict[str, Any]:
    return {
        "functions": list(facts.functions),
        "imports": facts.imports,
        "calls": [list(call) for call in facts.calls],
        "rule_names": list(facts.rule_names),
        "head_shapes": [list(pair) for pair in facts.head_shapes],
    }


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("not a list of names")
    return tuple(value)


def _decode(value: Any) -> ModuleFacts:
    imports = value["imports"]
    if not isinstance(imports, dict) or not all(isinstance(v, str) for v in imports.values()):
        raise TypeError("not imports")
    calls = []
    for name, line, col in value["calls"]:
        if not (isinstance(name, str) and type(line) is int and type(col) is int):
            raise TypeError("not a call")
        calls.append((name, line, col))
    shapes = []
    for name, shape in value["head_shapes"]:
        if not (isinstance(name, str) and isinstance(shape, str)):
            raise TypeError("not a head shape")
        shapes.append((name, shape))
    return ModuleFacts(
        _strs(value["functions"]), imports, tuple(calls), _strs(value["rule_names"]), tuple(shapes)
    )


def module_facts(source: ParsedModule) -> ModuleFacts:
    """The module's :class:`ModuleFacts`, cached."""
    return cached("facts", (source.text, _version(source)), lambda: _compute(source.ast), _encode, _decode)

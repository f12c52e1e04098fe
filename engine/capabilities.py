"""Which Rego built-ins a policy may call: deterministic and side-effect free, unless opted in.

A decision must be replayable from its evidence and must not reach out of the engine, so
these built-ins are refused at load (exit 2), on every backend:

* network and process: ``http.send``, ``net.lookup_ip_addr``, ``opa.runtime``;
* clock and randomness: ``time.now_ns``, ``rand.intn``, ``uuid.rfc4122``, and the verifying
  ``io.jwt.decode_verify`` and ``crypto.x509.parse_and_verify_certificates*`` (they read the
  clock).

The pure ``net.cidr_*`` functions are allowed. A spec may opt in to a named built-in with
``policies.allow_builtins: [time.now_ns]``; the embedded engine still refuses the built-ins it
evaluates to undefined (``http.send``, ``opa.runtime``, ``net.lookup_ip_addr``), since an
undefined call would quietly make a deny rule pass.

For OPA users the same list is an OPA capabilities document: :func:`opa_capabilities` removes
the refused built-ins from ``opa capabilities --current`` for ``opa check --capabilities``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import Location, PolicyLoadError
from .policyset import PolicyModule
from .typecheck import column_of, syntax_trees

__all__ = [
    "EMBEDDED_UNDEFINED",
    "REFUSED_BUILTINS",
    "BuiltinCall",
    "builtin_calls",
    "check_builtins",
    "opa_capabilities",
]

#: Built-ins refused unless the spec opts in, with why.
REFUSED_BUILTINS: Final[Mapping[str, str]] = {
    "http.send": "makes network requests",
    "net.lookup_ip_addr": "makes DNS requests",
    "opa.runtime": "reads the server's configuration and environment",
    "time.now_ns": "reads the clock, so a replay decides differently",
    "rand.intn": "is random, so a replay decides differently",
    "uuid.rfc4122": "is random, so a replay decides differently",
    "io.jwt.decode_verify": "reads the clock to check expiry, so a replay decides differently",
    "crypto.x509.parse_and_verify_certificates": "reads the clock, so a replay decides differently",
    "crypto.x509.parse_and_verify_certificates_with_options": "reads the clock, so a replay decides "
    "differently",
}

#: Built-ins the embedded engine lists but evaluates to undefined: never allowed there.
EMBEDDED_UNDEFINED: Final = frozenset({"http.send", "opa.runtime", "net.lookup_ip_addr"})


@dataclass(frozen=True)
class BuiltinCall:
    name: str
    file: str
    line: int
    column: int


def _name(node: Any) -> str | None:
    parts: list[str] = []
    while isinstance(node, Mapping):
        if "RefDot" in node:
            parts.append(str(node["RefDot"]["field"][1]))
            node = node["RefDot"]["refr"]
        elif "Var" in node:
            parts.append(str(node["Var"]["value"]))
            return ".".join(reversed(parts))
        else:
            return None
    return None


def _calls(node: Any, module: PolicyModule, out: list[BuiltinCall]) -> None:
    if isinstance(node, list):
        for item in node:
            _calls(item, module, out)
        return
    if not isinstance(node, dict):  # the parser's JSON: plain dicts and lists
        return
    call = node.get("Call")
    if isinstance(call, Mapping):
        name = _name(call.get("fcn"))
        if name is not None and name in REFUSED_BUILTINS:
            span = call["fcn"].get("RefDot", call["fcn"].get("Var", {})).get("span", {})
            refr = call["fcn"].get("RefDot", {}).get("refr", {})
            while "RefDot" in refr:
                refr = refr["RefDot"]["refr"]
            span = refr.get("Var", {}).get("span", span)
            column = column_of(module.text, span) if "start" in span else 0
            out.append(BuiltinCall(name, module.path, int(span.get("line", 0)), column))
    for key, value in node.items():
        if key != "span" and isinstance(value, (list, dict)):
            _calls(value, module, out)


def builtin_calls(modules: Sequence[PolicyModule]) -> list[BuiltinCall]:
    """Calls of refused built-ins in the non-test modules (read from the syntax tree)."""
    out: list[BuiltinCall] = []
    for module in modules:
        if module.is_test:
            continue
        for tree in syntax_trees(module):
            _calls(tree["ast"].get("rules") or [], module, out)
    return out


def check_builtins(
    modules: Sequence[PolicyModule],
    allowed: Iterable[str] = (),
    *,
    backend: str,
    include_builtin: bool = True,
) -> None:
    """Raise a PolicyLoadError for the first refused built-in a policy calls (the shipped library
    may be left out: it cannot change after install and its tests pin it)."""
    allowed_set = set(allowed)
    for call in builtin_calls([m for m in modules if include_builtin or not m.builtin]):
        if call.name in allowed_set and not (backend == "embedded" and call.name in EMBEDDED_UNDEFINED):
            continue
        if call.name in allowed_set:
            hint = "the embedded engine cannot evaluate it; use --backend opa"
        else:
            hint = f"opt in with policies.allow_builtins: [{call.name}] in the spec if the policy must"
        raise PolicyLoadError(
            f"`{call.name}` (column {call.column}) is not allowed in a policy: it "
            f"{REFUSED_BUILTINS[call.name]}",
            Location(call.file, call.line),
            hint=hint,
        )


def opa_capabilities(current: Mapping[str, Any], allowed: Iterable[str] = ()) -> dict[str, Any]:
    """OPA's capabilities document (``opa capabilities --current``) without the refused built-ins."""
    keep = set(allowed)
    out = dict(current)
    out["builtins"] = [
        b
        for b in current.get("builtins", [])
        if not (isinstance(b, Mapping) and b.get("name") in REFUSED_BUILTINS and b.get("name") not in keep)
    ]
    return out

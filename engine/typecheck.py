"""Static check of policy references against the evidence and params schemas.

Every reference that starts at ``input`` (or at ``data.govern.params``) is read from the
policy's syntax tree (regorus ``Engine.get_ast_as_json``, not text patterns) and walked down
``schemas/evidence.schema.json`` (``input.spec`` down ``schemas/model-spec.schema.json``) or
``schemas/params.schema.json``. A reference that cannot exist is a load error naming the file,
line and column, the reference, and the nearest valid paths::

    team.rego:2: `input.bias_score` (column 13) is not in the evidence document;
    did you mean `input.run.metrics.bias_score`?

What is allowed:

* open maps (metric, feature, group, column names) accept any key below them;
* a dynamic step (``input.fairness.features[f]``) is followed where the schema can follow it,
  and accepted where it cannot be resolved statically;
* the top level of ``data.govern.params`` is open (a team's own policies add keys), but the
  built-in sections are closed: a mistyped threshold name is an error, not a silent null.

Imports are followed (``import input.run as r`` then ``r.metrics``). Test modules are not
checked: they build their own inputs with ``with input as``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from .errors import Location, PolicyLoadError
from .policyset import PolicyModule, PolicySet
from .schemas import Schema, load_schema
from .spec import RegoVersion

__all__ = [
    "Reference",
    "Root",
    "TypeProblem",
    "check_policy_set",
    "column_of",
    "opa_input_schema",
    "problems",
    "references",
    "schema_paths",
    "syntax_trees",
    "valid_paths",
]

_OPEN: Final = "open"
#: What a key of an open map stands for, named after the map.
_PLACEHOLDERS: Final = {
    "metrics": "<metric>",
    "features": "<feature>",
    "by_group": "<group>",
    "group_sizes": "<group>",
    "columns": "<column>",
    "drift": "<feature>",
    "params": "<param>",
    "tags": "<tag>",
    "missing": "<section>",
    "range_violations": "<column>",
    "live": "<metric>",
}


class Root(StrEnum):
    INPUT = "input"
    PARAMS = "data.govern.params"


@dataclass(frozen=True)
class Step:
    """One step of a reference: a key (``.name`` or ``["name"]``), a number, or dynamic."""

    key: str | None = None
    index: int | None = None

    @property
    def dynamic(self) -> bool:
        return self.key is None and self.index is None

    def __str__(self) -> str:
        if self.key is not None:
            return f".{self.key}" if self.key.isidentifier() else f'["{self.key}"]'
        return f"[{self.index}]" if self.index is not None else "[_]"


@dataclass(frozen=True)
class Reference:
    file: str
    line: int
    column: int
    root: Root
    steps: tuple[Step, ...]

    @property
    def text(self) -> str:
        return self.root.value + "".join(str(s) for s in self.steps)


@dataclass(frozen=True)
class TypeProblem:
    reference: Reference
    message: str

    def error(self) -> PolicyLoadError:
        return PolicyLoadError(self.message, Location(self.reference.file, self.reference.line))


# --- reading references from the syntax tree -------------------------------------------------


def _flatten(node: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], list[Step], list[Any]] | None:
    """A ref chain → (root var, root var node, steps, index expressions); None when not a chain."""
    steps: list[Step] = []
    indexes: list[Any] = []
    while True:
        if "RefDot" in node:
            inner = node["RefDot"]
            steps.append(Step(key=str(inner["field"][1])))
            node = inner["refr"]
        elif "RefBrack" in node:
            inner = node["RefBrack"]
            index = inner["index"]
            if "String" in index:
                steps.append(Step(key=str(index["String"]["value"])))
            elif "Number" in index and isinstance(index["Number"].get("value"), int):
                steps.append(Step(index=int(index["Number"]["value"])))
            else:
                steps.append(Step())
                indexes.append(index)
            node = inner["refr"]
        elif "Var" in node:
            steps.reverse()
            return str(node["Var"]["value"]), node["Var"], steps, indexes
        else:
            return None


_Rooted = tuple[Root, tuple[Step, ...]]
#: govern.lib helpers that keep a path: evidence("x") is input.x, section("x") is params.x, and
#: get/obj/arr/str pass their first argument through (get adds its key).
_LIB_PASS: Final = ("obj", "arr", "str")


def _rooted(base: str, steps: Sequence[Step]) -> _Rooted | None:
    if base == "input":
        return Root.INPUT, tuple(steps)
    keys = [s.key for s in steps[:2]]
    if base == "data" and keys == ["govern", "params"]:
        return Root.PARAMS, tuple(steps[2:])
    return None


class _ModuleReader:
    """Resolves expressions of one module to rooted paths, following imports, package-level
    constants (``params := lib.section("fairness")``) and the path-keeping govern.lib helpers."""

    def __init__(self, ast: Mapping[str, Any], path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.names: dict[str, _Rooted] = {}
        self.lib: set[str] = set()
        for item in ast.get("imports") or []:
            flat = _flatten(item["refr"])
            if flat is None:
                continue
            base, _, steps, _ = flat
            alias = item.get("as")
            name = text[int(alias["start"]) : int(alias["end"])] if isinstance(alias, Mapping) else None
            name = name or (str(steps[-1].key or "") if steps else base)
            if base == "data" and [s.key for s in steps] == ["govern", "lib"]:
                self.lib.add(name)
                continue
            rooted = _rooted(base, steps)
            if rooted is not None and name and name != "input":
                self.names[name] = rooted
        constants = []
        for rule in ast.get("rules") or []:
            head = rule.get("Spec", {}).get("head", {}).get("Compr")
            if head and not rule["Spec"].get("bodies") and head.get("assign") and "Var" in head["refr"]:
                constants.append((str(head["refr"]["Var"]["value"]), head["assign"]["value"]))
        for _ in range(3):  # constants may build on constants
            for name, value in constants:
                resolved = self.resolve(value)
                if resolved is not None and name not in self.names:
                    self.names[name] = resolved[0]

    def resolve(self, node: Any) -> tuple[_Rooted, list[Any], Mapping[str, Any]] | None:
        """(rooted path, sub-expressions still to visit, the node to locate it by), or None."""
        if not isinstance(node, Mapping):
            return None
        if "Call" in node:
            return self._call(node["Call"])
        flat = _flatten(node)
        if flat is None:
            return None
        base, var, steps, indexes = flat
        if base in self.lib and steps and steps[0].key == "params":
            return (Root.PARAMS, tuple(steps[1:])), indexes, var
        if base in self.names:
            root, prefix = self.names[base]
            return (root, prefix + tuple(steps)), indexes, var
        rooted = _rooted(base, steps)
        return (rooted, indexes, var) if rooted is not None else None

    def _call(self, call: Mapping[str, Any]) -> tuple[_Rooted, list[Any], Mapping[str, Any]] | None:
        flat = _flatten(call["fcn"])
        if flat is None:
            return None
        base, var, steps, _ = flat
        name = ".".join([base, *(str(s.key) for s in steps)])
        args = list(call.get("params") or [])
        helper = steps[0].key if base in self.lib and len(steps) == 1 else None
        literal = _string(args[1]) if len(args) > 1 else None
        first = _string(args[0]) if args else None
        if helper == "evidence" and first is not None:
            return (Root.INPUT, (Step(key=first),)), args[1:], var
        if helper == "section" and first is not None:
            return (Root.PARAMS, (Step(key=first),)), args[1:], var
        if (helper == "get" or name == "object.get") and len(args) == 3 and literal is not None:
            inner = self.resolve(args[0])
            if inner is not None:
                (root, path), rest, _ = inner
                return (root, (*path, Step(key=literal))), [*rest, args[2]], var
        if helper in _LIB_PASS and len(args) == 1:
            inner = self.resolve(args[0])
            if inner is not None:
                return inner[0], inner[1], var
        return None

    def references(self, rules: Any) -> list[Reference]:
        found: list[Reference] = []

        def walk(node: Any) -> None:
            if isinstance(node, list):
                for value in node:
                    walk(value)
                return
            if not isinstance(node, dict):  # the parser's JSON: plain dicts and lists
                return
            chain = "Call" in node or "RefDot" in node or "RefBrack" in node
            resolved = self.resolve(node) if chain else None
            if resolved is None:
                for key, value in node.items():
                    if key != "span" and isinstance(value, (list, dict)):
                        walk(value)
                return
            (root, steps), rest, var = resolved
            if steps:
                span = var["span"]
                column = column_of(self.text, span)
                found.append(Reference(self.path, int(span["line"]), column, root, steps))
            walk(rest)

        walk(rules)
        return found


def column_of(text: str, span: Mapping[str, Any]) -> int:
    """The 1-based character column of a span (the parser counts a tab as several columns)."""
    data = text.encode("utf-8")
    offset = int(span["start"])
    line_start = data.rfind(b"\n", 0, offset) + 1
    return len(data[line_start:offset].decode("utf-8", errors="replace")) + 1


def _string(node: Any) -> str | None:
    if isinstance(node, Mapping) and "String" in node:
        return str(node["String"]["value"])
    return None


def _module_refs(tree: Mapping[str, Any], path: str, text: str) -> list[Reference]:
    ast = tree["ast"]
    reader = _ModuleReader(ast, path, text)
    refs = reader.references(ast.get("rules") or [])
    return list(dict.fromkeys(refs))


@lru_cache(maxsize=256)
def _parsed(path: str, text: str, v0: bool) -> tuple[Mapping[str, Any], ...]:
    """The module's syntax trees (regorus), parsed once per text; () when the parser rejects it."""
    from .backends.embedded import import_regorus

    engine = import_regorus().Engine()
    engine.set_rego_v0(v0)
    try:
        engine.add_policy(path, text)
        trees = json.loads(engine.get_ast_as_json())
    except Exception:
        return ()  # the backend reports syntax errors with their location
    return tuple(trees)


def syntax_trees(module: PolicyModule) -> tuple[Mapping[str, Any], ...]:
    """The parsed trees of one module (shared with the capabilities check)."""
    return _parsed(module.path, module.text, module.rego_version is RegoVersion.V0)


def references(modules: Sequence[PolicyModule]) -> list[Reference]:
    """Every ``input.…`` and ``data.govern.params.…`` reference of the non-test modules.

    A module the parser rejects is left out: the backend reports its syntax error at load.
    """
    out: list[Reference] = []
    for module in modules:
        if module.is_test:
            continue
        for tree in syntax_trees(module):
            out.extend(_module_refs(tree, module.path, module.text))
    return out


# --- walking the schemas -----------------------------------------------------------------------

_Node = tuple[Any, Mapping[str, Any]]  # (schema node, the document its $refs resolve in)


@lru_cache(maxsize=2)
def _schema_root(root: Root) -> _Node:
    if root is Root.INPUT:
        doc = dict(load_schema(Schema.EVIDENCE))
        props = dict(doc["properties"])
        spec = load_schema(Schema.MODEL_SPEC)
        props["spec"] = {"$govern-spec": True}
        doc["properties"] = props
        doc["$govern-spec-doc"] = spec
        return doc, doc
    doc = load_schema(Schema.PARAMS)
    return {**doc, "additionalProperties": True}, doc


def _branches(node: _Node) -> list[_Node]:
    schema, doc = node
    if isinstance(schema, Mapping) and schema.get("$govern-spec"):
        spec = doc["$govern-spec-doc"]
        return _branches((spec, spec))
    if isinstance(schema, Mapping) and "$ref" in schema:
        target: Any = doc
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        return _branches((target, doc))
    if isinstance(schema, Mapping):
        alternatives = [*schema.get("oneOf", []), *schema.get("anyOf", [])]
        if alternatives:
            out: list[_Node] = []
            for alternative in alternatives:
                out.extend(_branches((alternative, doc)))
            return out
        if schema.get("type") == "null":
            return []
    return [node]


def _types(schema: Mapping[str, Any]) -> set[str]:
    raw = schema.get("type")
    if raw is None:
        return set()
    return {raw} if isinstance(raw, str) else set(raw)


def _step(node: _Node, step: Step) -> list[_Node] | str:
    """The schema nodes a step leads to; ``_OPEN`` when anything may follow."""
    out: list[_Node] = []
    for schema, doc in _branches(node):
        if schema is True or (isinstance(schema, Mapping) and not schema):
            return _OPEN
        if not isinstance(schema, Mapping) or "enum" in schema or "const" in schema:
            continue
        types = _types(schema)
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if "array" in types and step.key is None:
            items = schema.get("items")
            if items is None:
                return _OPEN
            out.append((items, doc))
            continue
        is_object = "object" in types or (not types and (props or extra is not None))
        if not is_object:
            if not types:
                return _OPEN  # a schema that says nothing about its shape
            continue
        if step.key is not None and step.key in props:
            out.append((props[step.key], doc))
        elif isinstance(extra, Mapping):
            out.append((extra, doc))
        elif extra is True or (extra is None and not props):
            return _OPEN
        elif step.dynamic:
            return _OPEN  # a dynamic key over listed properties: not resolvable statically
    return out


def _resolve(root: Root, steps: Sequence[Step]) -> tuple[int, list[_Node]] | None:
    """None when the path can exist; else (index of the failing step, nodes before it)."""
    nodes = [_schema_root(root)]
    for i, step in enumerate(steps):
        following: list[_Node] = []
        for node in nodes:
            result = _step(node, step)
            if isinstance(result, str):
                return None  # open: anything may follow
            following.extend(result)
        if not following:
            return i, nodes
        nodes = following
    return None


def _walk_schema(
    node: _Node, prefix: tuple[str, ...], seen: set[int]
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """(path, schema) of every path below ``node``; open-map keys as ``<placeholders>``, items as
    ``[_]``. The schema is the path's first non-null alternative (with its type list intact)."""
    if len(prefix) > 8:
        return
    for schema, doc in _branches(node):
        if not isinstance(schema, Mapping) or id(schema) in seen:
            continue
        inner = seen | {id(schema)}
        for key, child in (schema.get("properties") or {}).items():
            path = (*prefix, key)
            yield path, _describe_node((child, doc))
            yield from _walk_schema((child, doc), path, inner)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            name = _PLACEHOLDERS.get(prefix[-1] if prefix else "", "<key>")
            yield (*prefix, name), _describe_node((extra, doc))
            yield from _walk_schema((extra, doc), (*prefix, name), inner)
        items = schema.get("items")
        if isinstance(items, Mapping):
            yield (*prefix, "[_]"), _describe_node((items, doc))
            yield from _walk_schema((items, doc), (*prefix, "[_]"), inner)


def _describe_node(node: _Node) -> Mapping[str, Any]:
    """One schema standing for a node: its alternatives' types merged (null included)."""
    schema = node[0]
    branches = [b for b, _ in _branches(node) if isinstance(b, Mapping)]
    types: list[str] = []
    nullable = False
    raw = schema if isinstance(schema, Mapping) else {}
    for alternative in [*raw.get("oneOf", []), *raw.get("anyOf", [])]:
        if isinstance(alternative, Mapping) and alternative.get("type") == "null":
            nullable = True
    for branch in branches:
        if "enum" in branch or "const" in branch:
            return branch
        kind = branch.get("type")
        for t in [kind] if isinstance(kind, str) else list(kind or []):
            if t not in types:
                types.append(t)
    if nullable and "null" not in types:
        types.append("null")
    return {"type": types} if types else {}


def schema_paths(root: Root) -> list[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """Every path the schema defines under ``root``, with a schema describing its value."""
    return list(_walk_schema(_schema_root(root), (), set()))


def _enumerate(node: _Node, prefix: tuple[str, ...], seen: set[int]) -> Iterator[tuple[str, ...]]:
    """Every path below ``node`` as segments."""
    for path, _ in _walk_schema(node, prefix, seen):
        yield path


def _render(root: Root, path: Sequence[str]) -> str:
    return root.value + "".join(p if p == "[_]" else f".{p}" for p in path)


def valid_paths(root: Root) -> list[str]:
    """Every path the schema defines under ``root`` (open-map keys as ``<placeholders>``)."""
    return [_render(root, path) for path in _enumerate(_schema_root(root), (), set())]


def _number_maps(root: Root) -> list[tuple[str, ...]]:
    """Open maps of numbers (``input.run.metrics``), where an unknown name may be a key."""
    out = []
    for path in _enumerate(_schema_root(root), (), set()):
        if any(p.startswith("<") or p == "[_]" for p in path):
            continue
        nodes = [_schema_root(root)]
        for part in path:
            nodes = [n for node in nodes for n in _as_list(_step(node, Step(key=part)))]
        for schema, doc in (b for node in nodes for b in _branches(node)):
            extra = schema.get("additionalProperties") if isinstance(schema, Mapping) else None
            if isinstance(extra, Mapping) and any(
                "number" in _types(b) for b, _ in _branches((extra, doc)) if isinstance(b, Mapping)
            ):
                out.append(path)
    return list(dict.fromkeys(out))


def _as_list(result: list[_Node] | str) -> list[_Node]:
    return [] if isinstance(result, str) else result


def _close(name: str, candidates: Sequence[str]) -> list[str]:
    """Candidates near ``name``: by spelling, then by shared words (``bias_score`` ~ ``score``)."""
    out = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    words = set(name.lower().split("_")) - {""}
    for candidate in candidates:
        shared = words & set(candidate.lower().split("_"))
        if shared and len(shared) >= max(1, len(words) - 1) and candidate not in out:
            out.append(candidate)
    return out


def _suggestions(reference: Reference, failing: int, nodes: Sequence[_Node]) -> list[str]:
    name = reference.steps[failing].key or ""
    known = reference.root.value + "".join(str(s) for s in reference.steps[:failing])
    siblings = sorted(
        {
            key
            for node in nodes
            for schema, _ in _branches(node)
            if isinstance(schema, Mapping)
            for key in (schema.get("properties") or {})
        }
    )
    out = [f"{known}.{key}" for key in _close(name, siblings)]
    if failing == 0 and name.isidentifier():
        out += [_render(reference.root, (*path, name)) for path in _number_maps(reference.root)[:1]]
    paths = list(_enumerate(_schema_root(reference.root), (), set()))
    for key in _close(name, sorted({p[-1] for p in paths if not p[-1].startswith(("<", "["))})):
        out += [_render(reference.root, p) for p in paths if p[-1] == key]
    return list(dict.fromkeys(out))[:3]


def _describe(reference: Reference, failing: int, nodes: Sequence[_Node]) -> str:
    document = "the evidence document" if reference.root is Root.INPUT else "the policy parameters"
    known = reference.root.value + "".join(str(s) for s in reference.steps[:failing])
    step = reference.steps[failing]
    if step.key is not None:
        what = f"`{reference.text}` (column {reference.column}) is not in {document}"
    else:
        what = f"`{reference.text}` (column {reference.column}) indexes `{known}`, not an array or map"
    suggestions = _suggestions(reference, failing, nodes)
    if suggestions:
        what += "; did you mean " + " or ".join(f"`{s}`" for s in suggestions) + "?"
    schema = "schemas/evidence.schema.json" if reference.root is Root.INPUT else "schemas/params.schema.json"
    return f"{what} (see `govern input` and {schema})"


def problems(refs: Sequence[Reference]) -> list[TypeProblem]:
    out = []
    for reference in refs:
        failure = _resolve(reference.root, reference.steps)
        if failure is not None:
            out.append(TypeProblem(reference, _describe(reference, *failure)))
    return out


def check_policy_set(policy_set: PolicySet, *, include_builtin: bool = True) -> int:
    """Raise a PolicyLoadError for the first reference that cannot exist; else how many were checked.

    ``include_builtin=False`` leaves out the shipped library, which cannot change after install
    and is checked by govern's own tests and CI (``opa check --schema`` too): what a load
    checks is the team's policies, in a few milliseconds.
    """
    modules = [m for m in policy_set.modules if include_builtin or not m.builtin]
    refs = references(modules)
    found = problems(refs)
    if found:
        first = found[0]
        more = f" ({len(found) - 1} more such reference(s) in the policy set)" if len(found) > 1 else ""
        raise PolicyLoadError(first.message + more, first.error().location)
    return len(refs)


def opa_input_schema() -> dict[str, Any]:
    """The evidence schema as ``opa check --schema`` takes it (OPA cannot merge the conditional
    ``allOf`` that ties a null section to its ``missing`` reason, which types nothing anyway)."""
    schema = dict(load_schema(Schema.EVIDENCE))
    schema.pop("allOf", None)
    return schema

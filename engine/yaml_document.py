"""YAML documents composed and built into plain values with a line for every field.

The strict half of :mod:`govern.engine.documents` that needs PyYAML, imported only when a YAML
text is actually parsed (a spec read before comes from the policy cache without it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .documents import MAX_ABS_NUMBER, MAX_EXPANDED_CHARS, MAX_NODES, FieldPath, format_path
from .errors import InputError, Location

__all__ = ["parse_yaml"]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def parse_yaml(text: str, source: str, error: Callable[..., InputError]) -> tuple[Any, dict[FieldPath, int]]:
    """The value of ``text`` and the line of every field; an input error naming the line."""
    builder = _Builder(source, error)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"invalid YAML: {problem}", Location(source, line)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise error(f"invalid YAML: {exc}", Location(source)) from None
    if node is None:
        raise error("the document is empty", Location(source, 1))
    value = builder.build(node, ())
    return value, builder.lines


class _Builder:
    """Turns a composed YAML node graph into plain values, checking as it goes."""

    def __init__(self, source: str, error: Callable[..., InputError]) -> None:
        self.source = source
        self.error = error
        self.lines: dict[FieldPath, int] = {}
        self.nodes = 0
        self.chars = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: Node, message: str, path: FieldPath) -> InputError:
        return self.error(message, Location(self.source, node.start_mark.line + 1, format_path(path)))

    def build(self, node: Node, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                f"the document expands to more than {MAX_NODES:,} values; "
                "refusing it (an alias bomb, or far too large for a spec)",
                path,
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise self.fail(node, f"YAML tag {node.tag} is not allowed here", path)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        self.chars += len(node.value)
        if self.chars > MAX_EXPANDED_CHARS:
            raise self.fail(
                node,
                f"the document's strings expand to more than {MAX_EXPANDED_CHARS:,} characters; "
                "refusing it (an alias bomb, or far too large for a spec)",
                path,
            )
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise self.fail(
                    key_node, "YAML merge keys ('<<') are not supported; write the keys out", path
                )
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain string", path)
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                key = key_node.value  # `1:` or `true:` as a key: keep what the user wrote
            child = (*path, key)
            if key in out:
                first = self.lines.get(child)
                raise self.fail(key_node, f"duplicate key '{key}' (first defined on line {first})", child)
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return node.value
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.fail(
                node, f"invalid value {node.value!r}: {exc.problem or exc.context}", path
            ) from None
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise self.fail(node, f"invalid value {node.value!r} for tag {node.tag}: {exc}", path) from None
        if isinstance(value, float) and (not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER):
            raise self.fail(node, f"the number {node.value!r} is not finite or too large", path)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
            raise self.fail(node, f"the integer {node.value!r} does not fit in 64 bits", path)
        if isinstance(value, bytes | set | tuple):
            raise self.fail(node, f"unsupported YAML type {node.tag}", path)
        return value


def _compose(text: str) -> Node | None:
    """The node graph, composed by libyaml when it is there (ten times faster); a document it
    refuses is composed again in pure Python, whose error (wording and line) is the one raised."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            node: Node | None = yaml.compose(text, Loader=fast)
            return node
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)

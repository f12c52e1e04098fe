"""The input document, described for policy authors: generated from the evidence schema.

:func:`render_input_doc` lists every path a policy may read under ``input`` (and under
``data.govern.params``), with its type, an example value (from an evidence document, when
given), the collector that fills it and the stages at which it is present. ``docs/input.md`` is
this page for the example model (``scripts/gen_input_doc.py``); ``govern input`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from .typecheck import Root, schema_paths

__all__ = ["SECTION_SOURCES", "render_input_doc"]

#: Section → (what fills it, stages at which it is present).
SECTION_SOURCES: Final[Mapping[str, tuple[str, str]]] = {
    "apiVersion": ("govern collect", "all"),
    "kind": ("govern collect", "all"),
    "stage": ("the command (`--stage`, or the gate)", "all"),
    "spec": ("the model spec, as validated (`govern validate`)", "all"),
    "model": ("mlflow collector: the registered model version", "all"),
    "run": ("mlflow collector: the training run", "all"),
    "champion": ("mlflow collector: the alias holder named by requirements.champion", "deploy"),
    "fairness": ("fairness collector (fairlearn), from fairness.sensitive_features", "register, deploy"),
    "explanations": ("explain collector (SHAP), from the explainability section", "register, deploy"),
    "data": ("quality collector: data.evaluation (and data.reference for drift)", "register, deploy"),
    "live": ("mlflow collector or `govern collect --live FILE`", "rollback"),
    "missing": ("govern collect: why a section is null", "all"),
    "provenance": ("govern collect", "all"),
}


def _type_of(schema: Mapping[str, Any]) -> str:
    raw = schema.get("type")
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if raw is None:
        return "any"
    return " \\| ".join([raw] if isinstance(raw, str) else list(raw))


def _example(document: Any, path: Sequence[str]) -> Any:
    """The first value at ``path`` in ``document`` (placeholders and ``[_]`` take the first key)."""
    node = document
    for part in path:
        if part == "[_]":
            if not isinstance(node, list) or not node:
                return None
            node = node[0]
        elif part.startswith("<"):
            if not isinstance(node, Mapping) or not node:
                return None
            node = next(iter(node.values()))
        else:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
    return node


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        if len(text) > 40:
            return "{…}" if isinstance(value, dict) else "[…]"
    else:
        text = json.dumps(value)
    text = text if len(text) <= 40 else text[:37] + "…"
    return "`" + text.replace("|", "\\|") + "`"


def _rows(root: Root, example: Any) -> Iterator[str]:
    for path, schema in schema_paths(root):
        if root is Root.INPUT and path and path[0] == "spec" and len(path) > 2:
            continue  # the spec is documented by its own schema; two levels are enough here
        name = root.value + "".join(p if p == "[_]" else f".{p}" for p in path)
        value = _example(example, path) if example is not None else None
        if root is Root.INPUT:
            source, stages = SECTION_SOURCES.get(path[0], ("", ""))
            yield f"| `{name}` | {_type_of(schema)} | {_cell(value)} | {source} | {stages} |"
        else:
            yield f"| `{name}` | {_type_of(schema)} | {_cell(value)} |"


def render_input_doc(
    example: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """The page, in Markdown. ``example`` (an evidence document) and ``params`` give example values."""
    lines = [
        "# The input document",
        "",
        "<!-- Generated from schemas/evidence.schema.json and schemas/params.schema.json by",
        "     scripts/gen_input_doc.py; do not edit by hand. `govern input` prints this page. -->",
        "",
        "A policy reads the evidence about one model version at one stage as `input`, and its",
        "thresholds as `data.govern.params`. govern checks every `input.` and `data.govern.params.`",
        "reference of every policy against these paths when it loads the policies: a path that",
        "cannot exist is an error (exit 2) with the nearest valid paths. `<metric>`, `<feature>`,",
        "`<group>`, `<column>` … stand for any key of an open map; `[_]` for any item of a list.",
        "",
        "A section that could not be collected is `null`, and `input.missing.<section>` says why.",
        "A rule that found nothing passes only when the evidence it declares in `custom.requires`",
        "is present: see docs/custom-policies.md.",
        "",
        "## `input`",
        "",
        "| Path | Type | Example | Filled by | Present at |",
        "| --- | --- | --- | --- | --- |",
        *_rows(Root.INPUT, example),
        "",
        "## `data.govern.params`",
        "",
        "Built from policies/defaults.yaml, the risk tier, the spec and `--param` (see",
        "`govern params SPEC` for the effective values and where each came from). Other",
        "top-level keys are free for a team's own policies.",
        "",
        "| Path | Type | Example |",
        "| --- | --- | --- |",
        *_rows(Root.PARAMS, params),
        "",
    ]
    return "\n".join(lines)

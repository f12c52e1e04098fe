"""The JSON Schemas shipped with govern, and validation that names file, line and field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from .documents import PLAIN_JSON_NODES, Document, FieldPath, format_path, is_plain_json
from .errors import InputError
from .package_files import package_files

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["Schema", "is_valid", "load_schema", "validate", "validation_errors"]

MAX_REPORTED = 5


class Schema(Enum):
    MODEL_SPEC = "model-spec.schema.json"
    EVIDENCE = "evidence.schema.json"
    DECISION = "decision.schema.json"
    DECISION_RECORD = "decision-record.schema.json"
    PARAMS = "params.schema.json"
    MODEL_CARD = "model-card.schema.json"


@cache
def load_schema(schema: Schema) -> dict[str, Any]:
    text = package_files("govern.schemas").joinpath(schema.value).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    from .packs import extend_schema  # packs name their own spec and evidence sections

    kinds = {Schema.MODEL_SPEC: "spec", Schema.EVIDENCE: "evidence"}
    return extend_schema(kinds[schema], loaded) if schema in kinds else loaded


def _accept(_: str) -> bool:
    return True


@cache
def _fast_validator(schema: Schema) -> Callable[[Any], bool] | None:
    """The yes/no check: jsonschema-rs, with the same format checks jsonschema makes here.

    jsonschema checks ``date`` and ``uuid`` but not ``date-time`` (that needs an optional
    package), so ``date-time`` is accepted as any string here too: the two give one verdict.
    None when jsonschema-rs is not installed (then jsonschema decides alone).
    """
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a declared dependency; kept working without it
        return None
    validator = jsonschema_rs.validator_for(
        load_schema(schema), validate_formats=True, formats={"date-time": _accept}
    )
    is_valid: Callable[[Any], bool] = validator.is_valid
    return is_valid


def _fast_errors(value: Any, schema: Schema) -> list[tuple[FieldPath, str]]:
    """jsonschema-rs' own account, when it rejects what jsonschema accepts (fail closed)."""
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(
        load_schema(schema), validate_formats=True, formats={"date-time": _accept}
    )
    found = [(tuple(e.instance_path), str(e.message)[:300]) for e in validator.iter_errors(value)]
    return found or [((), "the document does not conform to its schema")]


#: A document with more nodes than this is validated without the verdict cache: writing its
#: canonical form to look it up would cost about what validating it does.
VERDICT_CACHE_NODES = PLAIN_JSON_NODES


@cache
def _schema_digest(schema: Schema) -> str:
    """What the schema as validated is made of, and the fast validator's identity: the schema
    file, and for a spec or evidence schema what :func:`load_schema` adds the packs' sections
    from (the pack manifest, each pack's ``schema.json``, the code of ``packs``), as read from
    disk, without building the schema."""
    from . import packs as packs_module
    from .policy_cache import package_identity

    h = hashlib.sha256(f"{schema.value}\0{package_identity('jsonschema_rs')}\0".encode())
    parts = [package_files("govern.schemas").joinpath(schema.value)]
    if schema in (Schema.MODEL_SPEC, Schema.EVIDENCE):
        policies = package_files("govern.policies")
        parts.append(policies.joinpath(packs_module.MANIFEST))
        parts += [policies.joinpath(p.name).joinpath("schema.json") for p in packs_module.packs()]
        h.update(_source(packs_module.__file__))
    for node in parts:
        data = node.read_bytes() if node.is_file() else b"(absent)"
        h.update(f"\0{node.name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _source(path: str | None) -> bytes:
    """The bytes of a module's source (its path when it has none: a zip holds no changes)."""
    try:
        with open(path or "", "rb") as fh:
            return fh.read()
    except OSError:
        return str(path).encode()


def _known_verdict(value: Any, schema: Schema, remember: bool = True) -> bool:
    """Whether ``value`` conforms to ``schema``, remembered in the policy cache for documents
    found valid before (by the sha256 of their canonical JSON and of the schema): a valid spec,
    evidence document or parameter set checked again costs a digest, not a validator. Only
    "valid" is remembered; a document that is not plain JSON, or is large, is validated as usual.
    """
    from .policy_cache import cache_dir, cached

    if not remember or cache_dir() is None or not is_plain_json(value, VERDICT_CACHE_NODES):
        return _validate_value(value, schema)
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return _validate_value(value, schema)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def only_valid(verdict: bool) -> bool:
        if verdict is not True:
            raise ValueError("only a valid verdict is remembered")
        return True

    verdict: bool = cached(
        "valid",
        (schema.value, _schema_digest(schema), digest),
        lambda: _validate_value(value, schema),
        only_valid,
        only_valid,
    )
    return verdict


def is_valid(value: Any, schema: Schema, *, remember: bool = True) -> bool:
    """Whether ``value`` conforms to ``schema`` (fast; no description of what is wrong).

    ``remember``: look the verdict up in, and keep a valid one in, the policy cache. A document
    built in memory for one decision (a collector's evidence) is not seen again: remembering it
    would cost a write per document for nothing."""
    return _known_verdict(value, schema, remember)


def _validate_value(value: Any, schema: Schema) -> bool:
    fast = _fast_validator(schema)
    if fast is not None:
        try:
            return fast(value)
        except (ValueError, TypeError, OverflowError):
            pass  # a value JSON has no type for (bytes, a date from YAML): jsonschema judges it
    return not any(True for _ in _validator(schema).iter_errors(value))


@cache
def _validator(schema: Schema) -> Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _describe(error: Any) -> tuple[FieldPath, str]:
    """A short message and the path it concerns, for one jsonschema error."""
    path: FieldPath = tuple(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        if extra:
            import difflib

            close = difflib.get_close_matches(extra[0], allowed, n=1)
            hint = (
                f" (did you mean '{close[0]}'?)"
                if close
                else (f"; allowed: {', '.join(allowed)}" if allowed else "")
            )
            return (*path, extra[0]), f"unknown field '{extra[0]}'{hint}"
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required field '{missing}'"
    if validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        return path, f"{error.instance!r} is not one of {options}"
    if validator == "const":
        return path, f"must be {error.validator_value!r}, not {error.instance!r}"
    if validator in ("oneOf", "anyOf") and error.context:
        # The branch that got furthest says most: skip "expected null" of a nullable section.
        candidates = [
            e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
        ] or list(error.context)
        best = max(candidates, key=lambda e: len(list(e.absolute_path)))
        return _describe(best)
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return path, f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"[:300]
    return path, error.message[:300]


def validation_errors(doc: Document, schema: Schema, *, remember: bool = True) -> list[tuple[FieldPath, str]]:
    """Every problem with ``doc`` against ``schema``, in document order.

    A valid document is recognised by the fast validator alone; jsonschema (slower, but with
    the error details the messages are built from) runs only to describe an invalid one.
    """
    if is_valid(doc.value, schema, remember=remember):
        return []
    errors = list(_validator(schema).iter_errors(doc.value))
    described = [_describe(e) for e in errors] or _fast_errors(doc.value, schema)
    described.sort(key=lambda item: _order(doc, item))
    return described


def _order(doc: Document, item: tuple[FieldPath, str]) -> tuple[int, int, str]:
    """Unknown fields first (a typo also makes a required field 'missing'), then by line."""
    path, message = item
    return (0 if message.startswith("unknown field") else 1, doc.line_of(path) or 0, format_path(path))


def validate(
    doc: Document,
    schema: Schema,
    error: Callable[..., InputError],
    relocate: Callable[[Document], Document] | None = None,
    *,
    remember: bool = True,
) -> None:
    """Raise ``error`` naming the first problem (and counting the rest) if ``doc`` is invalid
    (``remember``: see :func:`is_valid`)."""
    problems = validation_errors(doc, schema, remember=remember)
    if not problems:
        return
    if relocate is not None:
        doc = relocate(doc)
        problems.sort(key=lambda item: _order(doc, item))
    path, message = problems[0]
    more = len(problems) - 1
    if more:
        others = "; ".join(f"{format_path(p)}: {m}" for p, m in problems[1:MAX_REPORTED])
        message += f" (and {more} more: {others}{' …' if more >= MAX_REPORTED else ''})"
    raise error(message, doc.location(path))

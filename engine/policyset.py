"""Policy sets: which Rego files apply, what each rule is (from its ``# METADATA``), and a digest.

The embedded engines cannot read OPA annotations from inside Rego, so govern parses the
``# METADATA`` YAML blocks itself. A rule is attributable by name (``deny_<name>``,
``warn_<name>``, conftest style) and carries the ``custom`` block of its annotation:
``id``, ``severity``, ``stages`` and ``controls``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dataclass_methods import shared_methods
from .documents import read_input
from .errors import ConfigError, Location, PolicyLoadError
from .package_files import package_files
from .policy_cache import cached
from .rego_ast import parse_rego
from .requirements import Requirement, parse_config_path, parse_evidence_path
from .spec import ModelSpec, PolicySource, RegoVersion, Stage

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "PolicyModule",
    "PolicySet",
    "RuleKind",
    "RuleMeta",
    "Severity",
    "builtin_modules",
    "builtin_pack_names",
    "file_rego_version",
    "load_policy_set",
    "modules_from_path",
]


def builtin_pack_names() -> tuple[str, ...]:
    """The built-in packs' names, from the pack manifest (policies/packs.yaml)."""
    from .packs import packs

    return tuple(p.name for p in packs())


_ALWAYS = ("lib",)
_RULE_RE = re.compile(r"^(deny|warn|violation)(_[A-Za-z0-9_]+)?$")
_TEST_RE = re.compile(r"^test_[A-Za-z0-9_]+$")
_TODO_RE = re.compile(r"^todo_test_[A-Za-z0-9_]+$")
_ID_RE = re.compile(r"[A-Za-z0-9_.:-]+")
#: The keys a rule's ``custom`` block may hold; any other key is a typo until proven otherwise.
CUSTOM_KEYS = ("id", "severity", "stages", "controls", "requires", "configured_by", "skip_without")


@cache
def _loaders() -> tuple[Any, Any]:
    """YAML loaders that refuse duplicate keys (OPA rejects them; PyYAML keeps the last one):
    libyaml's where installed, and the same in pure Python, which only re-reads a block libyaml
    refused, so that the error names the same line whichever loader this installation has.
    Built on first use: a policy set read before comes from the policy cache without YAML."""
    import yaml

    def construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
        return mapping

    class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    class PureStrictLoader(yaml.SafeLoader):
        pass

    for loader in (StrictLoader, PureStrictLoader):
        loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader, PureStrictLoader


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class RuleKind(StrEnum):
    DENY = "deny"
    WARN = "warn"


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class RuleMeta:
    """One rule: where it is and what its annotation says."""

    id: str
    package: str
    name: str
    kind: RuleKind
    severity: Severity
    stages: frozenset[Stage]
    controls: tuple[str, ...]
    title: str | None
    description: str | None
    file: str
    line: int
    annotated: bool
    requires: Requirement = field(default_factory=Requirement)

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class PolicyModule:
    """One Rego file."""

    path: str
    text: str
    rego_version: RegoVersion
    package: str
    is_test: bool
    builtin: bool
    rules: tuple[RuleMeta, ...] = ()
    tests: tuple[tuple[str, int], ...] = ()
    #: ``todo_test_*`` rules: reported as skipped, never run.
    todos: tuple[tuple[str, int], ...] = ()
    #: ``test_*`` names defined as functions: ``opa test`` reports them as errors.
    test_functions: tuple[str, ...] = ()
    #: The text the embedded engine parses when it differs (bodiless function heads completed).
    engine_text: str | None = None
    #: regorus' parse of the module (``rego_ast.ParsedModule``), kept so it is parsed once.
    parsed: Any = field(default=None, compare=False, repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class PolicySet:
    """The modules that apply to a decision, their rules, and the digest of both."""

    modules: tuple[PolicyModule, ...]
    digest: str
    rules: tuple[RuleMeta, ...] = field(default=())

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted({m.package for m in self.modules if not m.is_test}))

    def rule_by_id(self) -> dict[str, RuleMeta]:
        return {r.id: r for r in self.rules}


def _annotation_blocks(lines: list[str]) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Yield (line of '# METADATA', parsed YAML, index of the annotated line)."""
    i = 0
    while i < len(lines):
        if lines[i].strip() == "# METADATA":
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].lstrip().startswith("#"):
                text = lines[i].lstrip()[1:]
                body.append(text[1:] if text.startswith(" ") else text)
                i += 1
            yield start, {"__body__": "\n".join(body)}, i
        else:
            i += 1


def _parse_annotation(body: str, file: str, line: int) -> dict[str, Any]:
    import yaml

    strict, pure = _loaders()
    try:
        value = yaml.load(body, Loader=strict) if body.strip() else {}
    except yaml.YAMLError:
        value = None  # read again below for the error's wording and line
    try:
        if value is None and body.strip():
            value = yaml.load(body, Loader=pure)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = line + 1 + mark.line if mark is not None else line
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PolicyLoadError(
            f"the # METADATA block is not valid YAML: {problem}", Location(file, at)
        ) from None
    if not isinstance(value, dict):
        raise PolicyLoadError("the # METADATA block must be a YAML mapping", Location(file, line))
    return value


def _rule_meta(
    name: str, package: str, file: str, line: int, annotation: dict[str, Any] | None, ann_line: int
) -> RuleMeta:
    kind = RuleKind.WARN if name.startswith("warn") else RuleKind.DENY
    custom = (annotation or {}).get("custom") or {}
    where = Location(file, ann_line)
    if not isinstance(custom, dict):
        raise PolicyLoadError("'custom' in # METADATA must be a mapping", where)
    unknown = sorted(str(k) for k in custom if k not in CUSTOM_KEYS)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], CUSTOM_KEYS, n=1)
        guess = f"did you mean {close[0]}? " if close else ""
        raise PolicyLoadError(
            f"custom.{unknown[0]} is not a key govern knows; {guess}the keys are {', '.join(CUSTOM_KEYS)}",
            where,
        )
    rule_id = custom.get("id", f"{package}.{name}")
    if not isinstance(rule_id, str) or not _ID_RE.fullmatch(rule_id):
        raise PolicyLoadError(
            f"custom.id {rule_id!r} must be a string of letters, digits, '.', '_', ':' or '-'", where
        )
    default_severity = "medium" if kind is RuleKind.WARN else "high"
    try:
        severity = Severity(str(custom.get("severity", default_severity)).lower())
    except ValueError:
        options = ", ".join(s.value for s in Severity)
        raise PolicyLoadError(
            f"custom.severity {custom.get('severity')!r} is not one of {options}", where
        ) from None
    raw_stages = custom.get("stages", [s.value for s in Stage])
    if isinstance(raw_stages, str):
        raw_stages = [raw_stages]
    if not raw_stages:
        raise PolicyLoadError(
            "custom.stages is empty, which would disable the rule; list at least one of register, "
            "deploy, rollback (or leave the key out for every stage)",
            where,
        )
    try:
        stages = frozenset(Stage(s) for s in raw_stages)
    except (ValueError, TypeError):
        raise PolicyLoadError(
            f"custom.stages {raw_stages!r} must be a list of register, deploy, rollback", where
        ) from None
    controls = custom.get("controls", [])
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        raise PolicyLoadError("custom.controls must be a list of strings", where)
    requires = _requirement(custom, where)
    title = (annotation or {}).get("title")
    description = (annotation or {}).get("description")
    return RuleMeta(
        id=rule_id,
        package=package,
        name=name,
        kind=kind,
        severity=severity,
        stages=stages,
        controls=tuple(controls),
        title=str(title) if title is not None else None,
        description=" ".join(str(description).split()) if description is not None else None,
        file=file,
        line=line,
        annotated=annotation is not None,
        requires=requires,
    )


def _requirement(custom: dict[str, Any], where: Location) -> Requirement:
    """``custom.requires`` (evidence paths) and ``custom.configured_by`` (settings), checked."""
    evidence: list[str] = []
    configured: list[str] = []
    without: list[str] = []
    evidence_shape = "an evidence path such as explanations or run.datasets"
    for key, parse, out, shape in (
        ("requires", parse_evidence_path, evidence, evidence_shape),
        ("configured_by", parse_config_path, configured, "params.<path> or spec.<path>"),
        ("skip_without", parse_evidence_path, without, evidence_shape),
    ):
        raw = custom.get(key, [])
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise PolicyLoadError(f"custom.{key} must be a list", where)
        for item in raw:
            parsed = parse(item)
            if parsed is None:
                raise PolicyLoadError(f"custom.{key} entry {item!r} must be {shape}", where)
            out.append(parsed)
    return Requirement(evidence=tuple(evidence), configured_by=tuple(configured), skip_without=tuple(without))


_Annotations = dict[int, tuple[dict[str, Any], int]]


def _read_annotations(path: str, text: str) -> _Annotations:
    """Rule annotations by the index of the line they annotate: (the YAML, the line of # METADATA)."""
    annotations: _Annotations = {}
    for start, block, target in _annotation_blocks(text.splitlines()):
        parsed = _parse_annotation(block["__body__"], path, start + 1)
        if parsed.get("scope") in ("package", "subpackages", "document"):
            continue
        annotations[target] = (parsed, start + 1)
    return annotations


def _encode_annotations(annotations: _Annotations) -> list[Any]:
    value = [[target, line, parsed] for target, (parsed, line) in annotations.items()]
    if json.loads(json.dumps(value)) != value:  # a date, a non-string key: not cached
        raise ValueError("not JSON through and through")
    return value


def _decode_annotations(value: Any) -> _Annotations:
    out: _Annotations = {}
    for target, line, parsed in value:
        if type(target) is not int or type(line) is not int or not isinstance(parsed, dict):
            raise TypeError("not an annotation")
        out[target] = (parsed, line)
    return out


def _annotations(path: str, text: str) -> _Annotations:
    """:func:`_read_annotations`, cached by the module's text (:mod:`.policy_cache`)."""
    return cached(
        "annotations",
        (text,),
        lambda: _read_annotations(path, text),
        _encode_annotations,
        _decode_annotations,
    )


def parse_module(path: str, text: str, rego_version: RegoVersion, *, builtin: bool) -> PolicyModule:
    """Read a module's package, its deny/warn rules with their annotations, and its tests.

    Rule heads come from the engine's parser (``rego_ast``), so a head that is indented, spread
    over lines or written as a ref (``deny.always := ...``) is found; only ``# METADATA`` comments
    are read as text.
    """
    parsed_rego = parse_rego(path, text, v0=rego_version is RegoVersion.V0)
    package = parsed_rego.package
    annotations = _annotations(path, text)
    rules: dict[str, RuleMeta] = {}
    tests: list[tuple[str, int]] = []
    todos: list[tuple[str, int]] = []
    test_functions: list[str] = []
    for head in parsed_rego.heads:
        index = head.line - 1
        if _RULE_RE.match(head.name) and not head.is_function:
            annotation = annotations.get(index)
            if head.name in rules:
                if annotation is not None and not rules[head.name].annotated:
                    rules[head.name] = _rule_meta(
                        head.name, package, path, head.line, annotation[0], annotation[1]
                    )
                continue
            ann, ann_line = annotation if annotation else (None, head.line)
            rules[head.name] = _rule_meta(head.name, package, path, head.line, ann, ann_line)
        elif _TEST_RE.match(head.name) and head.name not in {t for t, _ in tests}:
            tests.append((head.name, head.line))
            if head.is_function:
                test_functions.append(head.name)
        elif _TODO_RE.match(head.name) and head.name not in {t for t, _ in todos}:
            todos.append((head.name, head.line))
    is_test = path.endswith("_test.rego")
    return PolicyModule(
        path=path,
        text=text,
        rego_version=rego_version,
        package=package,
        is_test=is_test,
        builtin=builtin,
        rules=tuple(rules.values()) if not is_test else (),
        tests=tuple(tests),
        todos=tuple(todos),
        test_functions=tuple(test_functions),
        engine_text=parsed_rego.text if parsed_rego.text != text else None,
        parsed=parsed_rego,
    )


def _read_text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyLoadError("the policy file is not valid UTF-8", Location(path, line)) from None


def _walk(node: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = f"{prefix}/{child.name}"
        if child.is_dir():
            yield from _walk(child, name)
        elif child.name.endswith(".rego"):
            yield name, child


def builtin_modules(packs: Iterable[str] | None = None, *, include_tests: bool = False) -> list[PolicyModule]:
    """The shipped policy library, read through importlib.resources (works from a wheel)."""
    known = builtin_pack_names()
    wanted = list(packs) if packs is not None else list(known)
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ConfigError(f"unknown policy pack {unknown[0]!r}; the packs are {', '.join(known)}")
    root = package_files("govern.policies")
    modules = []
    for pack in (*_ALWAYS, *wanted):
        folder = root.joinpath(pack)
        if not folder.is_dir():
            raise ConfigError(f"the built-in pack {pack!r} is missing from this installation")
        for name, item in _walk(folder, f"govern/policies/{pack}"):
            if name.endswith("_test.rego") and not include_tests:
                continue
            modules.append(
                parse_module(name, _read_text(item.read_bytes(), name), RegoVersion.V1, builtin=True)
            )
    return modules


def modules_from_path(
    path: Path, rego_version: RegoVersion = RegoVersion.V1, *, include_tests: bool = False
) -> list[PolicyModule]:
    """Every ``.rego`` file in a folder (recursively) or the one file named."""
    if not path.exists():
        raise ConfigError(f"policy path {path} does not exist")
    if not path.is_file() and not path.is_dir():
        raise ConfigError(f"policy path {path} is neither a regular file nor a folder")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.rego") if p.is_file())
    if path.is_dir() and not files:
        raise ConfigError(f"policy folder {path} holds no .rego files")
    modules = []
    for file in files:
        if file.name.endswith("_test.rego") and not include_tests:
            continue
        display = str(file)
        raw = read_input(file, PolicyLoadError)  # a regular file, size-checked before reading
        text = _read_text(raw, display)
        modules.append(parse_module(display, text, file_rego_version(text, rego_version), builtin=False))
    return modules


def file_rego_version(text: str, declared: RegoVersion) -> RegoVersion:
    """The Rego version of one file of a source declared ``declared``.

    A source declared v0 may mix in v1 files: a file that says ``import rego.v1`` or that parses
    as Rego v1 is read as v1 (as OPA reads ``import rego.v1`` in a v0 module). A file declared v1
    stays v1: its v0 syntax is an error that says how to declare it.
    """
    if declared is RegoVersion.V1:
        return declared
    if re.search(r"^\s*import\s+rego\.v1\b", text, re.MULTILINE):
        return RegoVersion.V1
    import os

    os.environ["RUST_LIB_BACKTRACE"] = "0"
    import regorus

    engine = regorus.Engine()
    try:
        engine.add_policy("probe.rego", text)
    except Exception:
        return RegoVersion.V0
    return RegoVersion.V1


def _digest(modules: Iterable[PolicyModule]) -> str:
    h = hashlib.sha256()
    for module in sorted(modules, key=lambda m: m.path):
        h.update(f"{module.path}\0{module.rego_version.value}\0{module.sha256}\n".encode())
    return "sha256:" + h.hexdigest()


def make_policy_set(modules: list[PolicyModule]) -> PolicySet:
    """Check rule ids are unique and packages do not collide, then seal the set."""
    seen: dict[str, RuleMeta] = {}
    rules: list[RuleMeta] = []
    for module in modules:
        for rule in module.rules:
            other = seen.get(rule.id)
            if other is not None and (other.package, other.name) != (rule.package, rule.name):
                raise PolicyLoadError(
                    f"rule id {rule.id} is used twice (also by {other.path} at {other.file}:{other.line})",
                    Location(rule.file, rule.line),
                )
            if other is None:
                seen[rule.id] = rule
                rules.append(rule)
    return PolicySet(modules=tuple(modules), digest=_digest(modules), rules=tuple(rules))


def load_policy_set(
    spec: ModelSpec | None,
    extra: Iterable[PolicySource] = (),
    *,
    builtin: bool = True,
    include_tests: bool = False,
) -> PolicySet:
    """The built-in packs the spec selects, plus the spec's policy paths, plus ``extra``."""
    modules: list[PolicyModule] = []
    if builtin:
        modules.extend(builtin_modules(spec.packs if spec else None, include_tests=include_tests))
    sources = [*(spec.policy_sources if spec else ()), *extra]
    for source in sources:
        modules.extend(modules_from_path(source.path, source.rego_version, include_tests=include_tests))
    return make_policy_set(modules)

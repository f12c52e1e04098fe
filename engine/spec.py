"""Model specs: load, validate against schemas/model-spec.schema.json, normalize."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .dataclass_methods import shared_methods
from .documents import Document, FieldPath, format_path, load_document, parse_document
from .errors import Location, SpecError
from .schemas import Schema, validate
from .stage import Stage

__all__ = [
    "ChampionSpec",
    "DataSpec",
    "Dataset",
    "ExplainabilitySpec",
    "FairnessSpec",
    "IntendedUse",
    "Metadata",
    "ModelLocation",
    "ModelSpec",
    "PolicySource",
    "RegisteredModelRef",
    "RegoVersion",
    "Requirements",
    "RiskTier",
    "RunRef",
    "Stage",
    "Waiver",
    "confined_path",
    "is_valid_alias",
    "load_spec",
    "spec_from_document",
    "spec_from_text",
]


class RiskTier(StrEnum):
    """EU AI Act risk categories."""

    MINIMAL = "minimal"
    LIMITED = "limited"
    HIGH = "high"
    UNACCEPTABLE = "unacceptable"


class RegoVersion(StrEnum):
    V0 = "v0"
    V1 = "v1"


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Waiver:
    """An approved, time-boxed exception to one rule."""

    rule: str
    reason: str
    approver: str
    expires: dt.date
    stages: tuple[Stage, ...] | None
    ticket: str | None
    line: int | None
    features: tuple[str, ...] | None = None  # only these sensitive features' findings

    def applies_to(self, stage: Stage) -> bool:
        return self.stages is None or stage in self.stages

    def expired(self, today: dt.date) -> bool:
        """A waiver is valid through its expiry date and void the day after."""
        return today > self.expires


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class PolicySource:
    """An extra policy folder or file named by the spec."""

    path: Path
    rego_version: RegoVersion


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Metadata:
    name: str
    owner: str
    risk_tier: RiskTier
    description: str
    version: str | None = None
    licence: str | None = None
    model_type: str | None = None
    contact: str | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class RegisteredModelRef:
    name: str
    version: str | None = None
    alias: str | None = None


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class RunRef:
    run_id: str
    artifact_path: str = "model"
    experiment: str | None = None


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class ModelLocation:
    """Where the model lives in MLflow: a registered model (version or alias) and/or a run."""

    tracking_uri: str | None = None
    registered: RegisteredModelRef | None = None
    run: RunRef | None = None


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class IntendedUse:
    primary_uses: tuple[str, ...]
    primary_users: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """An evaluation, reference or training dataset. ``raw`` keeps every field as written."""

    path: str | None = None
    uri: str | None = None
    mlflow_dataset: str | None = None
    format: str | None = None
    target: str | None = None
    prediction: str | None = None
    positive_label: str | int | float | bool | None = None
    sample: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class DataSpec:
    evaluation: Dataset | None = None
    reference: Dataset | None = None
    training: Dataset | None = None

    def get(self, role: str) -> Dataset | None:
        """The dataset of a role: ``evaluation``, ``reference`` or ``training``."""
        if role not in ("evaluation", "reference", "training"):
            raise KeyError(role)
        found: Dataset | None = getattr(self, role)
        return found


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class FairnessSpec:
    sensitive_features: tuple[str, ...]
    intersections: tuple[tuple[str, ...], ...] = ()
    metrics: tuple[str, ...] = ()
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    bootstrap: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class ExplainabilitySpec:
    sample_size: int | None = None
    top_k: int | None = None
    prohibited_features: tuple[str, ...] = ()
    seed: int | None = None
    by_group: bool = False
    background_size: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class ChampionSpec:
    metric: str
    alias: str = "champion"
    max_regression: float = 0
    higher_is_better: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict)  # test, margin, alpha, compare


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class Requirements:
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    champion: ChampionSpec | None = None
    lineage: Mapping[str, Any] | None = None
    data_quality: Mapping[str, Any] | None = None
    live: Mapping[str, Any] | None = None


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class ModelSpec:
    """A validated model spec, typed. ``data`` is the normalized document: it becomes
    ``input.spec`` for the policies, and nothing outside this module reads it field by field."""

    data: dict[str, Any]
    source: str
    sha256: str
    waivers: tuple[Waiver, ...]
    policy_sources: tuple[PolicySource, ...]
    packs: tuple[str, ...] | None
    metadata: Metadata
    model: ModelLocation
    intended_use: IntendedUse
    datasets: DataSpec = field(default_factory=DataSpec)
    fairness: FairnessSpec | None = None
    explainability: ExplainabilitySpec | None = None
    requirements: Requirements = field(default_factory=Requirements)
    params: Mapping[str, Any] = field(default_factory=dict)
    allow_builtins: tuple[str, ...] = ()  # non-deterministic built-ins the spec opts in to
    monitoring: Mapping[str, Any] | None = None  # live evidence sources (Prometheus), windows
    performance: Mapping[str, Any] = field(default_factory=dict)  # how govern measures scores
    lines: Mapping[FieldPath, int] = field(default_factory=dict, compare=False, repr=False)
    text: str | None = field(default=None, compare=False, repr=False)  # as read, for records

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def risk_tier(self) -> RiskTier:
        return self.metadata.risk_tier

    @property
    def registered_name(self) -> str | None:
        return self.model.registered.name if self.model.registered else None

    @property
    def model_ref(self) -> dict[str, Any]:
        """The model reference as the decision records it."""
        registered = self.model.registered
        run = self.model.run
        return {
            "name": registered.name if registered else None,
            "version": registered.version if registered else None,
            "alias": registered.alias if registered else None,
            "run_id": run.run_id if run else None,
        }

    @property
    def params_overrides(self) -> dict[str, Any]:
        return dict(self.params)

    def location(self, path: FieldPath) -> Location:
        """The file, line and field of a spec field, for error messages."""
        return Location(self.source, self.lines.get(path), format_path(path) if path else None)


def _normalize(value: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(value)
    model = data.get("model", {})
    if "run" in model:
        model["run"].setdefault("artifact_path", "model")
    if "registered" in model and "version" in model["registered"]:
        model["registered"]["version"] = str(model["registered"]["version"])
    champion = data.get("requirements", {}).get("champion")
    if champion is not None:
        champion.setdefault("alias", "champion")
        champion.setdefault("higher_is_better", True)
        champion.setdefault("max_regression", 0)
    data.setdefault("intended_use", {}).setdefault("out_of_scope", [])
    data.setdefault("waivers", [])
    return data


def _check_packs(doc: Document, value: dict[str, Any], packs: tuple[str, ...]) -> None:
    """A threshold whose pack is not applied would never be checked: say so instead of passing."""
    from .packs import packs as builtin_packs

    for pack in builtin_packs():
        # the pack's own section, and the top-level section of each extra it reads
        sections = [pack.spec] if pack.spec is not None else []
        sections += [path[:1] for path, _ in pack.extra]
        for section in sections:
            _check_section(doc, value, packs, pack.name, section)


def _check_section(
    doc: Document, value: dict[str, Any], packs: tuple[str, ...], pack: str, section: tuple[str, ...]
) -> None:
    node: Any = value
    for key in section:
        node = node.get(key) if isinstance(node, dict) else None
    where = ".".join(section)
    if node is not None and pack not in packs:
        raise SpecError(
            f"{where} is set, but policies.packs leaves out the '{pack}' pack that checks it",
            doc.location(("policies", "packs")),
            hint=f"add '{pack}' to policies.packs, or remove {where}",
        )


def confined_path(raw: str, base: Path, allowed_roots: Sequence[Path] = ()) -> Path | None:
    """``raw`` resolved against ``base`` (symlinks followed), or None when it lands outside
    ``base`` and every allowed root."""
    resolved = (base / raw).resolve()
    for root in (base, *allowed_roots):
        if resolved.is_relative_to(root.resolve()):
            return resolved
    return None


def _confine(
    doc: Document, field: tuple[str | int, ...], raw: str, base: Path, allowed_roots: Sequence[Path]
) -> Path:
    """A path named by the spec must stay inside the spec's folder or an allowed root (exit 2)."""
    if "\0" in raw:
        raise SpecError("the path contains a NUL character", doc.location(field))
    resolved = confined_path(raw, base, allowed_roots)
    if resolved is None:
        roots = ", ".join(str(r) for r in (base, *allowed_roots))
        raise SpecError(
            f"the path {raw!r} leads outside the spec's folder and every allowed root ({roots})",
            doc.location(field),
            hint="move the file under the spec's folder, or allow its folder with --allow-root DIR",
        )
    return resolved


_ALIAS_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
ALIAS_RULE = "letters, digits, '_' and '-' (at most 255), not 'latest' nor a version such as 'v3'"


def is_valid_alias(name: str) -> bool:
    """Whether MLflow can hold ``name`` as a model alias."""
    if not _ALIAS_RE.fullmatch(name) or name.lower() == "latest":
        return False
    return not re.fullmatch(r"[vV][0-9]+", name)


_NAME_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _check_references(doc: Document, value: dict[str, Any]) -> None:
    """Names the registry will be asked about: plain text, and aliases MLflow can hold."""
    model = value.get("model") or {}
    registered = model.get("registered") or {}
    run = model.get("run") or {}
    for section, key, item in (
        ("registered", "name", registered.get("name")),
        ("registered", "alias", registered.get("alias")),
        ("run", "run_id", run.get("run_id")),
        ("run", "artifact_path", run.get("artifact_path")),
    ):
        if not isinstance(item, str):
            continue
        where = doc.location(("model", section, key))
        if _NAME_FORBIDDEN_RE.search(item) or item != item.strip() or len(item) > 256:
            raise SpecError(
                f"model.{section}.{key} must be plain text on one line: no control characters, line "
                "breaks or surrounding spaces, at most 256 characters",
                where,
            )
    alias = registered.get("alias")
    champion = (value.get("requirements") or {}).get("champion") or {}
    for alias_field, item in (
        (("model", "registered", "alias"), alias),
        (("requirements", "champion", "alias"), champion.get("alias")),
    ):
        if isinstance(item, str) and not is_valid_alias(item):
            raise SpecError(f"an alias is {ALIAS_RULE}", doc.location(alias_field))


def _confine_data(doc: Document, value: dict[str, Any], base: Path, allowed_roots: Sequence[Path]) -> None:
    for key, ds in (value.get("data") or {}).items():
        if not isinstance(ds, dict):
            continue
        if isinstance(ds.get("path"), str):
            _confine(doc, ("data", key, "path"), ds["path"], base, allowed_roots)
        uri = ds.get("uri")
        if isinstance(uri, str) and uri.startswith("file:"):
            from urllib.parse import unquote, urlparse

            _confine(doc, ("data", key, "uri"), unquote(urlparse(uri).path), base, allowed_roots)


def spec_from_document(
    doc: Document, base_dir: Path | None = None, allowed_roots: Sequence[Path] = ()
) -> ModelSpec:
    """Validate a parsed document as a model spec.

    Every data and policy path it names must resolve (symlinks followed) inside ``base_dir``
    (default: the spec's folder) or one of ``allowed_roots``; anything else is a SpecError.
    """
    validate(doc, Schema.MODEL_SPEC, SpecError)
    value: dict[str, Any] = doc.value
    registered = value["model"].get("registered")
    if registered is not None and "version" in registered and "alias" in registered:
        raise SpecError(
            "give either a version or an alias for a registered model, not both",
            doc.location(("model", "registered")),
        )
    waivers = []
    for i, raw in enumerate(value.get("waivers", [])):
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            raise SpecError(
                f"'{raw['expires']}' is not a calendar date (YYYY-MM-DD)",
                doc.location(("waivers", i, "expires")),
            ) from None
        stages = tuple(Stage(s) for s in raw["stages"]) if "stages" in raw else None
        waivers.append(
            Waiver(
                rule=raw["rule"],
                reason=" ".join(raw["reason"].split()),
                approver=raw["approver"],
                expires=expires,
                stages=stages,
                ticket=raw.get("ticket"),
                features=tuple(raw["features"]) if "features" in raw else None,
                line=doc.line_of(("waivers", i)),
            )
        )
    base = base_dir if base_dir is not None else Path(doc.source).parent
    sources = []
    policies = value.get("policies", {})
    for i, raw_entry in enumerate(policies.get("paths", [])):
        entry = {"path": raw_entry} if isinstance(raw_entry, str) else raw_entry
        version = RegoVersion(entry.get("rego_version", "v1"))
        field = ("policies", "paths", i) if isinstance(raw_entry, str) else ("policies", "paths", i, "path")
        sources.append(
            PolicySource(path=_confine(doc, field, entry["path"], base, allowed_roots), rego_version=version)
        )
    _confine_data(doc, value, base, allowed_roots)
    _check_references(doc, value)
    packs = tuple(policies["packs"]) if "packs" in policies else None
    if packs is not None:
        _check_packs(doc, value, packs)
    data = _normalize(value)
    return ModelSpec(
        data=data,
        source=doc.source,
        sha256=doc.sha256,
        waivers=tuple(waivers),
        policy_sources=tuple(sources),
        packs=packs,
        lines=dict(doc.lines),
        **_typed(data),
    )


def _dataset(raw: Any) -> Dataset | None:
    if not isinstance(raw, Mapping):
        return None
    label = raw.get("positive_label")
    return Dataset(
        path=_opt_str(raw.get("path")),
        uri=_opt_str(raw.get("uri")),
        mlflow_dataset=_opt_str(raw.get("mlflow_dataset")),
        format=_opt_str(raw.get("format")),
        target=_opt_str(raw.get("target")),
        prediction=_opt_str(raw.get("prediction")),
        positive_label=label if isinstance(label, (str, int, float, bool)) else None,
        sample=raw.get("sample"),
        raw=MappingProxyType(dict(raw)),
    )


def _typed(data: Mapping[str, Any]) -> dict[str, Any]:
    """The typed sections of a validated, normalized spec document."""
    meta = data["metadata"]
    model = data.get("model") or {}
    registered = model.get("registered")
    run = model.get("run")
    use = data.get("intended_use") or {}
    datasets = data.get("data") or {}
    fairness = data.get("fairness")
    explain = data.get("explainability")
    req = data.get("requirements") or {}
    champion = req.get("champion")
    return {
        "metadata": Metadata(
            name=str(meta["name"]),
            owner=str(meta["owner"]),
            risk_tier=RiskTier(meta["risk_tier"]),
            description=str(meta["description"]),
            version=_opt_str(meta.get("version")),
            licence=_opt_str(meta.get("licence")),
            model_type=_opt_str(meta.get("model_type")),
            contact=_opt_str(meta.get("contact")),
            labels=MappingProxyType(dict(meta.get("labels") or {})),
        ),
        "model": ModelLocation(
            tracking_uri=_opt_str(model.get("tracking_uri")),
            registered=RegisteredModelRef(
                name=str(registered["name"]),
                version=_opt_str(registered.get("version")),
                alias=_opt_str(registered.get("alias")),
            )
            if registered
            else None,
            run=RunRef(
                run_id=str(run["run_id"]),
                artifact_path=str(run.get("artifact_path", "model")),
                experiment=_opt_str(run.get("experiment")),
            )
            if run
            else None,
        ),
        "intended_use": IntendedUse(
            primary_uses=_strs(use.get("primary_uses")),
            primary_users=_strs(use.get("primary_users")),
            out_of_scope=_strs(use.get("out_of_scope")),
        ),
        "datasets": DataSpec(
            evaluation=_dataset(datasets.get("evaluation")),
            reference=_dataset(datasets.get("reference")),
            training=_dataset(datasets.get("training")),
        ),
        "fairness": FairnessSpec(
            sensitive_features=_strs(fairness.get("sensitive_features")),
            intersections=tuple(_strs(i) for i in fairness.get("intersections") or ()),
            metrics=_strs(fairness.get("metrics")),
            thresholds=MappingProxyType(dict(fairness.get("thresholds") or {})),
            bootstrap=MappingProxyType(dict(fairness["bootstrap"])) if fairness.get("bootstrap") else None,
            raw=MappingProxyType(dict(fairness)),
        )
        if isinstance(fairness, Mapping)
        else None,
        "explainability": ExplainabilitySpec(
            sample_size=explain.get("sample_size"),
            top_k=explain.get("top_k"),
            prohibited_features=_strs(explain.get("prohibited_features")),
            seed=explain.get("seed"),
            by_group=bool(explain.get("by_group", False)),
            background_size=explain.get("background_size"),
            raw=MappingProxyType(dict(explain)),
        )
        if isinstance(explain, Mapping)
        else None,
        "requirements": Requirements(
            metrics=MappingProxyType(dict(req.get("metrics") or {})),
            champion=ChampionSpec(
                metric=str(champion["metric"]),
                alias=str(champion.get("alias", "champion")),
                max_regression=champion.get("max_regression", 0),
                higher_is_better=bool(champion.get("higher_is_better", True)),
                raw=MappingProxyType(dict(champion)),
            )
            if isinstance(champion, Mapping)
            else None,
            lineage=req.get("lineage"),
            data_quality=req.get("data_quality"),
            live=req.get("live"),
        ),
        "params": MappingProxyType(dict((data.get("policies") or {}).get("params") or {})),
        "allow_builtins": _strs((data.get("policies") or {}).get("allow_builtins")),
        "monitoring": MappingProxyType(dict(data["monitoring"]))
        if isinstance(data.get("monitoring"), Mapping)
        else None,
        "performance": MappingProxyType(dict(data.get("performance") or {})),
    }


def load_spec(path: Path, allowed_roots: Sequence[Path] = ()) -> ModelSpec:
    """Load and validate a spec file. Raises :class:`SpecError` naming file, line and field.

    ``allowed_roots``: folders besides the spec's own that its data and policy paths may name.
    """
    doc, raw = load_document(path, SpecError)
    if not isinstance(doc.value, dict):
        raise SpecError("a model spec must be a YAML mapping", doc.location(()))
    spec = spec_from_document(doc, allowed_roots=allowed_roots)
    return replace(spec, text=raw.decode("utf-8", errors="replace"))


def spec_from_text(text: str, path: str) -> ModelSpec:
    """A spec from its text, as a decision record keeps it (relative paths resolve beside ``path``)."""
    doc = parse_document(text.encode("utf-8"), path, SpecError)
    if not isinstance(doc.value, dict):
        raise SpecError("a model spec must be a YAML mapping", doc.location(()))
    return replace(spec_from_document(doc, Path(path).parent), text=text)

"""Collection: run the collectors for a spec and a stage, and assemble one evidence document.

MLflow metadata always; the model-based sections (fairness, explanations, data) when the spec
names evaluation data, loading the model and the data once for all three. Every section is
present in the result: one not collected is null with its reason in ``missing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..registry import Registry
from ..spec import ModelSpec, Stage
from .base import Collected, ModelContext, Progress, no_progress
from .document import SECTIONS, EvidenceDocument, evidence_from_value
from .mlflow import MlflowCollector, Target

__all__ = ["CollectOptions", "collect_evidence"]


@dataclass(frozen=True)
class CollectOptions:
    live_file: Path | None = None
    with_model: bool = True  # compute fairness, explanations and data evidence from the model
    sample: int | None = None
    seed: int = 0
    artifact_dir: Path | None = None
    progress: Progress = field(default=no_progress)
    # stream Parquet evaluation data larger than this many bytes (None: the spec's, else 1 GiB)
    stream_threshold_bytes: int | None = None


def _model_sections(spec: ModelSpec, target: Target, options: CollectOptions, out: Collected) -> bool:
    """Fill the model sections; True when the evaluation data were streamed (engine/evidence/streaming.py)."""
    if spec.datasets.evaluation is None:
        reason = "the spec names no evaluation data (data.evaluation)"
        for section in ("performance", "fairness", "explanations", "data"):
            out.sections[section] = None
            out.missing[section] = reason
        return False
    from .explain import explanations_section
    from .fairness import fairness_section
    from .model import load_model_context
    from .quality import data_section
    from .streaming import should_stream, streamed_model_sections

    base_dir = Path(spec.source).parent
    if options.sample is None and should_stream(spec, base_dir, options.stream_threshold_bytes):
        run = out.sections.get("run") or {}
        champion = out.sections.get("champion")
        known = (
            champion
            if isinstance(champion, dict) and champion.get("name") and champion.get("version")
            else None
        )
        streamed_model_sections(
            target.model_uri,
            spec,
            base_dir,
            out,
            seed=options.seed,
            champion_uri=f"models:/{known['name']}/{known['version']}" if known else None,
            champion=known,
            logged=run.get("metrics") or {},
            artifact_dir=options.artifact_dir,
            threshold_bytes=options.stream_threshold_bytes,
            progress=options.progress,
        )
        return True
    ctx: ModelContext = load_model_context(
        target.model_uri,
        spec,
        Path(spec.source).parent,
        sample=options.sample,
        seed=options.seed,
        progress=options.progress,
    )
    out.inputs.update(ctx.inputs)
    _performance(spec, ctx, options, out)
    if spec.fairness is not None:
        out.sections["fairness"] = fairness_section(ctx, spec, progress=options.progress)
    else:
        out.sections["fairness"] = None
        out.missing["fairness"] = "the spec declares no sensitive features"
    if spec.explainability is not None:
        out.sections["explanations"] = explanations_section(
            ctx, spec, progress=options.progress, artifact_dir=options.artifact_dir
        )
    else:
        out.sections["explanations"] = None
        out.missing["explanations"] = "the spec asks for no explanations (explainability)"
    out.sections["data"] = data_section(ctx, spec, progress=options.progress)
    return False


def _performance(spec: ModelSpec, ctx: ModelContext, options: CollectOptions, out: Collected) -> None:
    """Measured scores, their integrity against the logged ones, and the champion on the same rows."""
    from .model import predictions_of
    from .performance import champion_comparison, performance_section

    run = out.sections.get("run") or {}
    section = performance_section(ctx, spec, logged=run.get("metrics") or {}, progress=options.progress)
    champion = out.sections.get("champion")
    if isinstance(champion, dict) and champion.get("name") and champion.get("version"):
        uri = f"models:/{champion['name']}/{champion['version']}"
        section["champion"] = champion_comparison(
            ctx,
            spec,
            uri,
            predictions_of(uri, ctx),
            alias=str(champion.get("alias")),
            version=str(champion["version"]),
        )
    out.sections["performance"] = section


def _live_sections(spec: ModelSpec, target: Target, options: CollectOptions, out: Collected) -> list[str]:
    """Live metrics from Prometheus when the spec names it (a --live file wins), then the drops."""
    from .live import add_baselines
    from .prometheus import PrometheusClient, prometheus_live_section, settings_from_spec

    used: list[str] = []
    settings = settings_from_spec(spec)
    if settings is not None and options.live_file is None:
        client = PrometheusClient(settings.url, settings.timeout)
        variables = {"model": target.name or "", "version": target.version or ""}
        out.sections["live"] = prometheus_live_section(spec, settings, variables, client)
        out.missing.pop("live", None)
        used.append("prometheus")
    live = out.sections.get("live")
    if isinstance(live, dict):
        run = out.sections.get("run") or {}
        add_baselines(spec, live, run.get("metrics"))
    return used


def collect_evidence(
    spec: ModelSpec,
    stage: Stage,
    registry: Registry,
    target: Target,
    options: CollectOptions | None = None,
    *,
    now: Callable[[], dt.datetime] | None = None,
) -> EvidenceDocument:
    """Gather every section for ``target`` at ``stage`` and validate the document."""
    opts = options or CollectOptions()
    started = (now or (lambda: dt.datetime.now(dt.UTC)))()
    collected = MlflowCollector(registry, target, opts.live_file).collect(spec, stage)
    collectors = ["mlflow"]
    if stage is Stage.ROLLBACK:
        collectors += _live_sections(spec, target, opts, collected)
    if opts.with_model:
        streamed = _model_sections(spec, target, opts, collected)
        collectors += ["model", "performance", "fairness", "explain", "quality"]
        collectors += ["stream"] if streamed else []
    else:
        for section in ("performance", "fairness", "explanations", "data"):
            collected.sections.setdefault(section, None)
            collected.missing.setdefault(section, "model evidence was not collected (--no-model)")
    document: dict[str, Any] = {
        "apiVersion": "govern/v1",
        "kind": "Evidence",
        "stage": stage.value,
        "spec": spec.data,
    }
    for section in SECTIONS:
        document[section] = collected.sections.get(section)
        if document[section] is None:
            collected.missing.setdefault(section, "no collector produced this section")
    document["missing"] = {
        k: v for k, v in collected.missing.items() if k in SECTIONS and document[k] is None
    }
    inputs = {f"spec:{spec.source}": spec.sha256, **collected.inputs}
    document["provenance"] = {
        "collected_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "engine_version": __version__,
        "collectors": collectors,
        "inputs": [{"name": k, "sha256": v} for k, v in sorted(inputs.items())],
    }
    return evidence_from_value(document, source=f"<evidence for {target.describe()}>")

"""Replay: judge a decision record's evidence again and say whether the decision reproduces.

By default the record is replayed as it was taken: its spec (from the text the record keeps),
its parameters, its extra policy sources, its backend and the day its waivers were judged. The
policy files are read as they are now; when their digest differs from the recorded one, the
report says so and lists every rule whose result changed, which is also how a team previews a
policy change against past decisions (``--policies``, ``--no-builtin``, ``--backend``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .backends import BackendName
from .decision import EXIT_DENIED, EXIT_ERROR, EXIT_OK, Outcome, Result, RuleResult
from .errors import EvidenceError, Location
from .evidence.document import EvidenceDocument
from .pipeline import Pipeline, PipelineOptions
from .record import DecisionRecord
from .spec import ModelSpec, PolicySource, RegoVersion, load_spec, spec_from_text

__all__ = ["ReplayReport", "RuleChange", "recorded_options", "recorded_spec", "replay"]


@dataclass(frozen=True)
class RuleChange:
    """A rule whose result differs between the record and the replay (None: absent on that side)."""

    rule_id: str
    before: Result | None
    after: Result | None
    message_before: str | None
    message_after: str | None


@dataclass(frozen=True)
class ReplayReport:
    original: DecisionRecord
    replayed: DecisionRecord
    changes: tuple[RuleChange, ...]

    @property
    def policy_changed(self) -> bool:
        return self.original.policy.digest != self.replayed.policy.digest

    @property
    def params_changed(self) -> bool:
        return self.original.decision.params_digest != self.replayed.decision.params_digest

    @property
    def outcome_changed(self) -> bool:
        return self.original.decision.outcome is not self.replayed.decision.outcome

    @property
    def reproduced(self) -> bool:
        return not self.changes and not self.outcome_changed

    @property
    def exit_code(self) -> int:
        """0 reproduced, 1 the decision changed, 3 the replay could not decide."""
        if (
            self.replayed.decision.outcome is Outcome.ERROR
            and self.original.decision.outcome is not Outcome.ERROR
        ):
            return EXIT_ERROR
        return EXIT_OK if self.reproduced else EXIT_DENIED


def recorded_spec(record: DecisionRecord) -> ModelSpec:
    """The spec the record was taken under: its kept text, else the file if its digest matches."""
    if record.spec.text is not None:
        spec = spec_from_text(record.spec.text, record.spec.path)
    else:
        spec = load_spec(Path(record.spec.path))
    if spec.sha256 != record.spec.sha256:
        raise EvidenceError(
            f"the spec has changed since the decision (sha256 {spec.sha256[:12]}… now, "
            f"{record.spec.sha256[:12]}… recorded)",
            Location(record.spec.path),
        )
    return spec


def recorded_options(record: DecisionRecord) -> PipelineOptions:
    """The pipeline options the record was taken with."""
    return PipelineOptions(
        backend=BackendName(record.decision.backend)
        if record.decision.backend in set(BackendName)
        else BackendName.EMBEDDED,
        policies=tuple(
            PolicySource(path=Path(s["path"]), rego_version=RegoVersion(s["rego_version"]))
            for s in record.policy.sources
        ),
        builtin=record.policy.builtin,
        params=record.overrides,
        as_of=record.decision.as_of,
        labels={"command": "replay", "replay_of": record.decision_id},
    )


def _by_rule(results: tuple[RuleResult, ...]) -> Mapping[str, RuleResult]:
    return {r.rule_id: r for r in results}


def _changes(before: tuple[RuleResult, ...], after: tuple[RuleResult, ...]) -> tuple[RuleChange, ...]:
    old, new = _by_rule(before), _by_rule(after)
    out: list[RuleChange] = []
    for rule_id in sorted(set(old) | set(new)):
        a, b = old.get(rule_id), new.get(rule_id)
        if a is not None and b is not None and a.result is b.result and a.message == b.message:
            continue
        out.append(
            RuleChange(
                rule_id=rule_id,
                before=a.result if a else None,
                after=b.result if b else None,
                message_before=a.message if a else None,
                message_after=b.message if b else None,
            )
        )
    return tuple(out)


def replay(
    record: DecisionRecord,
    *,
    evidence: EvidenceDocument | None = None,
    options: PipelineOptions | None = None,
    use_recorded_params: bool = True,
) -> ReplayReport:
    """Re-evaluate the record's evidence; ``options`` overrides how (policies, backend, params).

    ``evidence`` is needed when the record carries it by reference only (a gate's record: the
    evidence is its own artifact); its canonical digest must be the recorded one.
    """
    from .evidence.document import canonical_digest

    document = evidence or record.evidence_document()
    if document is None:
        raise EvidenceError(
            "the record holds the evidence by reference only "
            f"({record.evidence_ref.uri or record.evidence_ref.source}); give the evidence document too",
            Location(record.evidence_ref.source),
        )
    if canonical_digest(document.value) != record.evidence_ref.canonical:
        raise EvidenceError(
            f"this evidence is not the one the decision judged (canonical digest "
            f"{canonical_digest(document.value)}, recorded {record.evidence_ref.canonical})",
            Location(document.source),
        )
    if evidence is not None and not document.sha256:
        document = replace(document, sha256=record.evidence_ref.sha256)
    spec = recorded_spec(record)
    chosen = options or recorded_options(record)
    params = record.params if use_recorded_params else None
    with Pipeline(spec, chosen, params=params) as pipeline:
        replayed = pipeline.decide(
            document, record.decision.stage, as_of=chosen.as_of or record.decision.as_of
        )
    return ReplayReport(
        original=record,
        replayed=replayed,
        changes=_changes(record.decision.results, replayed.decision.results),
    )

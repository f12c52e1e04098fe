"""Rollback: choosing a healthy version to go back to, and quarantining the one left behind.

A healthy target is the latest version earlier than the failing holder that

* passed its deploy decision and never failed a rollback, as the committed audit records say
  (the gates establish this: a tag alone is never trusted),
* is not quarantined (no ``govern.quarantine.decision_id`` tag), and
* when it has live evidence of its own, passes the live rules on it (judged at stage rollback
  like the holder, its own validation values as the baseline). A version without live
  evidence yet (none collected, or too few samples to judge) is accepted on its deploy record.

Each candidate passed over is listed with the reason, so that a refusal says why. A candidate
whose judgement errored is passed over too: an error is never a pass.

The holder the alias leaves is quarantined: tagged with the rollback decision's id and the
rules it failed, which ``gate promote`` then denies (rule GOV-LIVE-007) unless waived. The
version the alias goes back to is tagged as restored by that decision: until it has live
evidence of its own, the live pack skips it rather than failing it for lacking evidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from .decision import Decision, Outcome, Result
from .errors import GovernError
from .evidence.collect import CollectOptions, collect_evidence
from .evidence.document import EvidenceDocument
from .evidence.mlflow import resolve_target
from .registry import Registry, VersionRecord
from .spec import ModelSpec, Stage

__all__ = [
    "QUARANTINE_TAG",
    "RESTORED_TAG",
    "Candidate",
    "Judge",
    "TargetChoice",
    "choose_target",
    "is_quarantined",
    "live_judge",
    "mark_restored",
    "quarantine",
]

QUARANTINE_TAG = "govern.quarantine.decision_id"
RESTORED_TAG = "govern.restored.decision_id"

#: ``judge(version)``: the decision at stage rollback on that version's own live evidence, or
#: None when it has no live evidence to judge.
Judge = Callable[[VersionRecord], Decision | None]


@dataclass(frozen=True)
class Candidate:
    version: str
    reason: str  # why it was passed over


@dataclass(frozen=True)
class TargetChoice:
    target: VersionRecord | None
    passed_over: tuple[Candidate, ...]
    judged: int  # candidates judged on their live evidence

    def explain(self) -> str:
        return "; ".join(f"version {c.version} {c.reason}" for c in self.passed_over)


def is_quarantined(record: VersionRecord) -> bool:
    return bool(record.tags.get(QUARANTINE_TAG, "").strip())


def choose_target(vetted: list[VersionRecord], judge: Judge) -> TargetChoice:
    """The first healthy version of ``vetted`` (newest first, each backed by a passing deploy
    record), or None with the reasons each one was passed over."""
    passed_over: list[Candidate] = []
    judged = 0
    for candidate in vetted:
        if is_quarantined(candidate):
            passed_over.append(
                Candidate(candidate.version, f"is quarantined (decision {candidate.tags[QUARANTINE_TAG]})")
            )
            continue
        try:
            decision = judge(candidate)
        except GovernError as exc:
            judged += 1
            passed_over.append(Candidate(candidate.version, f"could not be judged on live evidence: {exc}"))
            continue
        if decision is None:
            return TargetChoice(candidate, tuple(passed_over), judged)
        judged += 1
        if decision.outcome is Outcome.PASS:
            return TargetChoice(candidate, tuple(passed_over), judged)
        failed = ", ".join(failed_rules(decision)) or decision.outcome.value
        passed_over.append(
            Candidate(candidate.version, f"fails its live rules ({failed}, decision {decision.decision_id})")
        )
    return TargetChoice(None, tuple(passed_over), judged)


def live_judge(
    spec: ModelSpec,
    registry: Registry,
    options: CollectOptions,
    decide: Callable[[EvidenceDocument, Stage], Decision],
) -> Judge:
    """Judge a candidate on its own live evidence (never on a --live file meant for the holder)."""
    own = replace(options, live_file=None)

    def judge(record: VersionRecord) -> Decision | None:
        target = resolve_target(spec, registry, version=record.version)
        evidence = collect_evidence(spec, Stage.ROLLBACK, registry, target, own)
        live = evidence.value.get("live")
        if not isinstance(live, dict) or live.get("judged") is False:
            return None
        return decide(evidence, Stage.ROLLBACK)

    return judge


def failed_rules(decision: Decision) -> list[str]:
    return [r.rule_id for r in decision.results if r.result in (Result.FAIL, Result.ERROR)]


def mark_restored(registry: Registry, name: str, version: str, decision: Decision) -> None:
    """Tag the version an alias goes back to: until it has live evidence of its own, the live
    pack skips it (naming this decision) instead of failing it for lacking evidence."""
    registry.set_version_tags(name, version, {RESTORED_TAG: decision.decision_id})


def quarantine(registry: Registry, name: str, version: str, decision: Decision) -> dict[str, str]:
    """Tag ``version`` as quarantined by ``decision``; return the tags written."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    tags = {
        QUARANTINE_TAG: decision.decision_id,
        "govern.quarantine.reason": ", ".join(failed_rules(decision)) or "failed at rollback",
        "govern.quarantine.time": now,
    }
    registry.set_version_tags(name, version, tags)
    return tags

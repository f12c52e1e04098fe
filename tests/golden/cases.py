"""The pinned inputs of the golden files: real decisions on the example, with fixed identity.

Each case is a real decision (the built-in policies over ``examples/adult-income``), then
``dataclasses.replace`` pins what changes from run to run or with unrelated work (decision id,
timestamp, digests, versions), so a golden file changes only when a formatter does, or when a
rule's wording does. Regenerate with ``python scripts/regen_golden.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from pathlib import Path
from typing import Any

from govern.engine.backends import create_backend
from govern.engine.card import CardFormat, build_card, render_card
from govern.engine.check import Checker
from govern.engine.decision import Decision, Result, RuleResult, Violation
from govern.engine.documents import load_document
from govern.engine.errors import SpecError
from govern.engine.evidence import EvidenceDocument, evidence_from_value, load_evidence
from govern.engine.formats import Format, RenderOptions, render
from govern.engine.formats.locations import SpecLocations, spec_locations
from govern.engine.policyset import Severity, load_policy_set
from govern.engine.spec import ModelSpec, Stage, load_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
SPEC_PATH = "examples/adult-income/spec.yaml"
EVIDENCE_PATH = "examples/adult-income/evidence.json"
TODAY = dt.date(2026, 11, 27)
EXPIRED = dt.date(2027, 7, 1)  # the day after the example's waivers expire

EXTENSIONS = {
    Format.TEXT: "txt",
    Format.JSON: "json",
    Format.JUNIT: "junit.xml",
    Format.SARIF: "sarif",
    Format.GITHUB: "github.txt",
    Format.MARKDOWN: "md",
}
CARD_EXTENSIONS = {CardFormat.MD: "md", CardFormat.HTML: "html", CardFormat.JSON: "json"}
HOSTILE = '<script>alert("x")</script> | 100% sure, really: yes\nsecond line `tick` *star* [link](http://x)'


def spec() -> ModelSpec:
    return load_spec(ROOT / SPEC_PATH)


def example_evidence() -> dict[str, Any]:
    value: dict[str, Any] = json.loads((ROOT / EVIDENCE_PATH).read_text(encoding="utf-8"))
    return value


def locations() -> SpecLocations:
    doc, _ = load_document(ROOT / SPEC_PATH, SpecError)
    return spec_locations(doc)


def _pin(decision: Decision, n: int) -> Decision:
    return replace(
        decision,
        decision_id=f"00000000-0000-4000-8000-00000000000{n}",
        timestamp="2026-11-27T12:00:00.000Z",
        spec={"name": decision.spec["name"], "path": SPEC_PATH, "sha256": "0" * 64},
        policy_digest="sha256:" + "1" * 64,
        params_digest="sha256:" + "2" * 64,
        evidence_digest="sha256:" + "3" * 64,
        backend_version="regorus 0.0.0-pinned",
        engine_version="0.0.0-pinned",
    )


def _decide(
    evidence: dict[str, Any], today: dt.date, stage: Stage | None = None
) -> tuple[Decision, dict[str, Any]]:
    return _decide_on(evidence_from_value(evidence, EVIDENCE_PATH), today, stage)


def _decide_on(
    document: EvidenceDocument, today: dt.date, stage: Stage | None = None
) -> tuple[Decision, dict[str, Any]]:
    model_spec = spec()
    policy_set = load_policy_set(model_spec, [], builtin=True)
    with create_backend("embedded") as engine:
        checker = Checker.for_spec(model_spec, policy_set, engine)
        decision = checker.decide(document, stage, today)
    return decision, checker.params


@cache
def passing() -> Decision:
    """The example as shipped: a pass with two waivers."""
    return _pin(_decide(example_evidence(), TODAY)[0], 1)


@cache
def mixed() -> Decision:
    """Every kind of result: the waivers expired (failures), a warning, an error, a skip, and
    hostile text (HTML, pipes, percent signs, commas, colons, newlines) in messages."""
    base = _pin(_decide(example_evidence(), EXPIRED)[0], 2)
    extra = (
        RuleResult(
            rule_id="TEAM-W-001",
            package="team.docs",
            rule="warn_hostile",
            result=Result.WARN,
            severity=Severity.LOW,
            message=HOSTILE,
            controls=("EU-AI-Act:Art.13",),
            title="A warning with hostile text",
            violations=(Violation(HOSTILE, {"feature": "a,b:c", "value": 0.5}),),
        ),
        RuleResult(
            rule_id="TEAM-E-001",
            package="team.docs",
            rule="deny_broken",
            result=Result.ERROR,
            severity=Severity.HIGH,
            message="to_number: invalid syntax for 'abc'",
            title="A rule that errors",
        ),
        RuleResult(
            rule_id="GOV-LIVE-001",
            package="govern.live",
            rule="deny_live_metric_below_minimum",
            result=Result.SKIP,
            severity=Severity.HIGH,
            message="applies at rollback, not at deploy",
            controls=("NIST-AI-RMF:MANAGE-4.1",),
            title="Live metric at or above its minimum",
        ),
    )
    return replace(base, results=base.results + extra)


DECISIONS: dict[str, Callable[[], Decision]] = {"pass": passing, "mixed": mixed}


def render_format(case: str, fmt: Format) -> str:
    options = RenderOptions(color=False, width=120, locations=locations())
    return render(fmt, DECISIONS[case](), options)


def _missing_evidence() -> dict[str, Any]:
    evidence = copy.deepcopy(example_evidence())
    evidence["fairness"] = None
    evidence["explanations"] = None
    evidence["champion"] = None
    evidence["missing"].update(
        {
            "fairness": "fairlearn is not installed on the collecting machine",
            "explanations": "SHAP timed out after 600 s on 1000 rows",
            "champion": "no model version holds the alias 'champion'",
        }
    )
    return evidence


def _card_decision(document: EvidenceDocument, n: int) -> tuple[Decision, dict[str, Any]]:
    """A real decision on ``document``, pinned except for its evidence digest: the card checks it."""
    decision, params = _decide_on(document, TODAY)
    return replace(_pin(decision, n), evidence_digest=decision.evidence_digest), params


def render_card_case(case: str, fmt: CardFormat) -> str:
    model_spec = spec()
    if case == "card":
        document = load_evidence(ROOT / EVIDENCE_PATH)
        decision, params = _card_decision(document, 3)
        card = build_card(model_spec, params, document, decision.to_dict())
    elif case == "card-missing":
        document = evidence_from_value(_missing_evidence(), EVIDENCE_PATH)
        decision, params = _card_decision(document, 4)
        card = build_card(model_spec, params, document, decision.to_dict(), "#7 sha256:" + "a" * 64)
    else:
        raise KeyError(case)
    return render_card(fmt, card)


CARD_CASES = ("card", "card-missing")


def golden_files() -> dict[Path, Callable[[], str]]:
    """Every golden file and how to render it."""
    out: dict[Path, Callable[[], str]] = {}
    for case in DECISIONS:
        for fmt, ext in EXTENSIONS.items():
            out[GOLDEN / f"{case}.{ext}"] = partial(render_format, case, fmt)
    for case in CARD_CASES:
        for card_fmt, ext in CARD_EXTENSIONS.items():
            out[GOLDEN / f"{case}.{ext}"] = partial(render_card_case, case, card_fmt)
    return out

"""Model cards: golden files, the JSON schema, missing evidence, escaping, the CLI, and what a
browser renders (headless Chromium: Debian's ``chromium`` package)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from govern.engine.audit import AuditLog
from govern.engine.backends import create_backend
from govern.engine.card import CardFormat, build_card, parse_card_format, render_card, to_document
from govern.engine.card.build import NO_DECISION, NO_EVIDENCE, rule_state
from govern.engine.card.html import SECTIONS
from govern.engine.card.svg import Bar, Reference, Tone, bar_chart
from govern.engine.card.view import markdown_environment, word
from govern.engine.check import Checker
from govern.engine.decision import Decision
from govern.engine.digests import input_digest
from govern.engine.errors import ConfigError
from govern.engine.evidence import evidence_from_value
from govern.engine.params import build_params
from govern.engine.policyset import PolicySet, load_policy_set
from govern.engine.spec import load_spec, spec_from_text

from .conftest import EVIDENCE, ROOT, SPEC, run_govern
from .golden import cases

HEADINGS = [title for _, title in SECTIONS]
REGEN = "run `python scripts/regen_golden.py`, review the diff, and commit it"


def card_schema() -> dict[str, Any]:
    text = resources.files("govern.schemas").joinpath("model-card.schema.json").read_text(encoding="utf-8")
    value: dict[str, Any] = json.loads(text)
    return value


def _valid(document: Any) -> list[str]:
    validator = Draft202012Validator(card_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize("case", cases.CARD_CASES)
@pytest.mark.parametrize("fmt", list(CardFormat))
def test_card_matches_its_golden_file(case: str, fmt: CardFormat) -> None:
    path = cases.GOLDEN / f"{case}.{cases.CARD_EXTENSIONS[fmt]}"
    assert path.exists(), f"{path.name} is missing: {REGEN}"
    assert cases.render_card_case(case, fmt) == path.read_text(encoding="utf-8"), (
        f"{path.name} is stale: {REGEN}"
    )


@pytest.mark.parametrize("case", cases.CARD_CASES)
def test_json_card_is_valid_against_its_schema(case: str) -> None:
    Draft202012Validator.check_schema(card_schema())
    document = json.loads(cases.render_card_case(case, CardFormat.JSON))
    assert not _valid(document)


def test_the_card_schema_rejects_a_card_missing_a_section() -> None:
    document = json.loads(cases.render_card_case("card", CardFormat.JSON))
    del document["quantitative_analyses"]
    document["governance"]["outcome"] = "maybe"
    assert len(_valid(document)) == 2


def test_unknown_card_format_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown card format 'pdf'; choose one of: md, html, json"):
        parse_card_format("pdf")


# --------------------------------------------------------------------------- content


def test_card_holds_every_section_and_the_governance_facts() -> None:
    md = cases.render_card_case("card", CardFormat.MD)
    for heading in HEADINGS:
        assert f"\n## {heading}\n" in md
    for fact in (
        "credit-risk-ml@example.com",
        "Apache-2.0",
        "binary classifier",
        "Employment, housing or insurance decisions.",
        "0.8741",  # accuracy
        "GOV-FAIR-001",
        "EU AI Act",
        "NIST AI RMF",
        "MEASURE-2.11",
        "jane.doe@example.com",
        "2027-06-30",
        "sha256:" + "1" * 64,  # the (pinned) policy-set digest
        "00000000-0000-4000-8000-000000000003",  # the decision id
    ):
        assert fact in md, fact
    document = json.loads(cases.render_card_case("card", CardFormat.JSON))
    governance = document["governance"]
    assert governance["outcome"] == "pass"
    assert governance["audit_record_id"] is None
    assert {w["rule"] for w in governance["waivers"]} == {"GOV-FAIR-001", "GOV-FAIR-002", "GOV-FAIR-003"}
    assert {c["framework"] for c in governance["controls"]} == {"EU-AI-Act", "NIST-AI-RMF"}
    sex = document["quantitative_analyses"]["features"][0]
    assert sex["feature"] == "sex"
    parity = next(c for c in sex["summaries"] if c["metric"] == "demographic_parity_difference")
    measured = json.loads(EVIDENCE.read_text())["fairness"]["features"]["sex"][
        "demographic_parity_difference"
    ]
    assert (parity["value"], parity["status"]) == (measured, "waived")
    (verdict,) = parity["verdicts"]
    assert (verdict["rule_id"], verdict["result"], verdict["value"], verdict["threshold"]) == (
        "GOV-FAIR-001",
        "waived",
        measured,
        0.1,
    )
    assert verdict["message"].startswith(
        f"Demographic parity difference for sex is {measured}, above the maximum of 0.1"
    )
    odds = next(c for c in sex["summaries"] if c["metric"] == "equalized_odds_difference")
    assert (odds["status"], odds["verdicts"]) == ("no_finding", [])


def test_missing_evidence_is_said_not_hidden() -> None:
    document = json.loads(cases.render_card_case("card-missing", CardFormat.JSON))
    reason = "fairlearn is not installed on the collecting machine"
    assert document["factors"]["missing"] == reason
    assert document["quantitative_analyses"]["missing"] == reason
    assert (
        document["quantitative_analyses"]["importance"]["missing"]
        == "SHAP timed out after 600 s on 1000 rows"
    )
    assert document["metrics"]["missing"] == "champion: no model version holds the alias 'champion'"
    assert document["governance"]["audit_record_id"] == "#7 sha256:" + "a" * 64
    html = cases.render_card_case("card-missing", CardFormat.HTML)
    md = cases.render_card_case("card-missing", CardFormat.MD)
    for heading in HEADINGS:
        assert f"{heading}</h2>" in html
        assert f"## {heading}" in md
    assert html.count("Evidence missing.") >= 3
    assert f"> **Evidence missing:** {reason}" in md


def test_a_card_from_the_spec_alone_says_what_is_missing() -> None:
    spec = load_spec(SPEC)
    card = build_card(spec, build_params(spec))
    document = to_document(card)
    assert not _valid(document)
    assert document["governance"]["missing"] == NO_DECISION
    assert document["evaluation_data"]["missing"] == NO_EVIDENCE
    md = render_card(CardFormat.MD, card)
    assert all(f"## {h}" in md for h in HEADINGS)
    assert "no evidence document was given" in md
    assert "No decision" in render_card(CardFormat.HTML, card)


def test_card_rejects_a_decision_for_another_model(example_evidence: dict[str, Any]) -> None:
    spec = load_spec(SPEC)
    decision = cases.passing().to_dict()
    decision["spec"]["name"] = "someone-else"
    with pytest.raises(ConfigError, match="the decision is for model 'someone-else'"):
        build_card(spec, build_params(spec), evidence_from_value(example_evidence), decision)


def test_card_rejects_a_decision_made_on_other_evidence(example_evidence: dict[str, Any]) -> None:
    spec = load_spec(SPEC)
    decision = cases.passing().to_dict()  # its evidence digest is pinned: not this evidence's
    evidence = evidence_from_value(example_evidence)
    actual = input_digest(evidence, spec, decision["stage"])
    with pytest.raises(ConfigError) as caught:
        build_card(spec, build_params(spec), evidence, decision)
    assert decision["evidence_digest"] in str(caught.value)
    assert actual in str(caught.value)
    decision["evidence_digest"] = actual
    assert build_card(spec, build_params(spec), evidence, decision).governance.evidence_digest == actual


def test_hugging_face_front_matter() -> None:
    md = cases.render_card_case("card", CardFormat.MD)
    assert md.startswith("---\n")
    meta = yaml.safe_load(md.split("---\n")[1])
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "sklearn"
    assert "govern" in meta["tags"]
    assert "risk-tier-high" in meta["tags"]
    assert meta["datasets"] == ["adult_train", "adult_test"]
    result = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == "adult-income"
    assert result["task"]["type"] == "tabular-classification"
    assert result["dataset"]["name"] == "adult_test"
    accuracy = {"type": "accuracy", "value": 0.8740863583317978, "name": "accuracy", "verified": False}
    assert accuracy in result["metrics"]


def _hostile_inputs(evidence: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)"> | *md* & "q"'
    raw = yaml.safe_load(SPEC.read_text())
    raw["metadata"]["description"] = payload
    raw["intended_use"]["primary_uses"] = [payload]
    hostile_spec = spec_from_text(yaml.safe_dump(raw, sort_keys=False), str(SPEC))
    ev = copy.deepcopy(evidence)
    sizes = ev["fairness"]["features"]["race"]["group_sizes"]
    sizes[payload] = sizes.pop("Other")
    for metric in ev["fairness"]["features"]["race"]["metrics"].values():
        metric["by_group"][payload] = metric["by_group"].pop("Other")
    ev["explanations"]["global_importance"][0]["feature"] = payload
    decision = cases.passing().to_dict()
    decision["results"][0]["message"] = payload
    decision["results"][0]["violations"][0]["msg"] = payload
    decision["waivers"][0]["reason"] = payload
    return hostile_spec, ev, decision


def test_user_text_is_escaped_everywhere(example_evidence: dict[str, Any]) -> None:
    spec, value, decision = _hostile_inputs(example_evidence)
    evidence = evidence_from_value(value)
    decision["evidence_digest"] = input_digest(evidence, spec, decision["stage"])
    card = build_card(spec, build_params(spec), evidence, decision)
    html = render_card(CardFormat.HTML, card)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert (
        html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    )  # spec, groups, SHAP chart, decision, waiver
    assert "onerror=&quot;alert(2)&quot;" in html
    md = render_card(CardFormat.MD, card)
    prose = re.sub(r"`[^`\n]*`", "", md)  # a code span shows its text literally (CommonMark)
    assert "<script" not in prose
    assert "<img" not in prose
    assert "&lt;script&gt;" in md
    assert "\\| \\*md\\*" in md
    rendered = markdown_environment().from_string("{{ x }} {{ y|code }}").render(x="<script>", y="a|b")
    assert rendered.startswith("&lt;script&gt;")  # no interpolation is unescaped by default
    assert rendered.endswith("`a\\|b`")
    assert json.loads(render_card(CardFormat.JSON, card))["model_details"]["description"].startswith(
        "<script>"
    )


def test_svg_charts_escape_and_scale() -> None:
    svg = bar_chart(
        [Bar("<b>", 0.5, Tone.MET, threshold=0.8), Bar("none", None)],
        chart_id="x y",
        title='a "title" & <more>',
        reference=Reference(0.3, "max 0.3"),
    )
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.endswith("</svg>")
    assert '<title id="x-y-t">a &quot;title&quot; &amp; &lt;more&gt;</title>' in svg
    assert "&lt;b&gt;" in svg
    assert "<b>" not in svg
    assert svg.count('class="threshold"') == 1
    assert svg.count('class="reference"') == 1
    assert ">n/a<" in svg


# --------------------------------------------------------------------------- the command line


def test_card_command_decides_in_process(tmp_path: Path) -> None:
    out = tmp_path / "card.html"
    run = run_govern(
        "card", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27", "-f", "html", "-o", str(out)
    )
    assert run.code == 0, run.stderr
    html = out.read_text()
    assert "<svg" in html
    assert "Governance</h2>" in html
    assert "badge pass" in html
    assert [p.name for p in tmp_path.iterdir()] == ["card.html"]


def test_card_command_from_a_saved_decision_and_audit_log(tmp_path: Path) -> None:
    decision_file = tmp_path / "decision.json"
    run = run_govern(
        "check",
        str(SPEC),
        "-e",
        str(EVIDENCE),
        "--as-of",
        "2026-11-27",
        "-f",
        "json",
        "--output",
        str(decision_file),
    )
    assert run.code == 0, run.stderr
    decision_id = json.loads(decision_file.read_text())["decision"]["decision_id"]
    log = AuditLog(tmp_path / "audit.jsonl")
    record = log.append({"action": "gate.promote", "decision_id": decision_id})
    run = run_govern(
        "card",
        str(SPEC),
        "-e",
        str(EVIDENCE),
        "-d",
        str(decision_file),
        "-f",
        "json",
        "--audit-log",
        str(log.path),
    )
    assert run.code == 0, run.stderr
    governance = json.loads(run.stdout)["governance"]
    assert governance["decision_id"] == decision_id
    assert governance["audit_record_id"] == f"#1 sha256:{record['hash']}"


def test_card_command_rejects_bad_input(tmp_path: Path) -> None:
    assert run_govern("card", str(SPEC), "-f", "pdf").code == 2
    not_a_decision = tmp_path / "d.json"
    not_a_decision.write_text('{"kind": "Decision"}')
    run = run_govern("card", str(SPEC), "-d", str(not_a_decision))
    assert run.code == 2
    assert "d.json" in run.stderr


def test_card_command_imports_no_heavy_library(tmp_path: Path) -> None:
    out = tmp_path / "card.html"
    code = (
        "import sys\nfrom govern.cli.main import main\n"
        f"sys.argv = ['govern', 'card', {str(SPEC)!r}, '-e', {str(EVIDENCE)!r}, '-f', 'html',"
        f" '-o', {str(out)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mlflow', 'shap', 'fairlearn', 'pandas', 'matplotlib', 'numpy')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")  # it ran to the end


def test_card_command_rejects_evidence_the_decision_did_not_judge(tmp_path: Path) -> None:
    decision_file = tmp_path / "decision.json"
    run = run_govern(
        "check",
        str(SPEC),
        "-e",
        str(EVIDENCE),
        "--as-of",
        "2026-11-27",
        "-f",
        "json",
        "--output",
        str(decision_file),
    )
    assert run.code == 0, run.stderr
    other = json.loads(EVIDENCE.read_text())
    other["run"]["metrics"]["accuracy"] = 0.99
    other_file = tmp_path / "other.json"
    other_file.write_text(json.dumps(other))
    run = run_govern("card", str(SPEC), "-e", str(other_file), "-d", str(decision_file), "-f", "json")
    assert run.code == 2, run.stderr
    named = json.loads(decision_file.read_text())["decision"]["evidence_digest"]
    text = " ".join(run.stderr.split())
    assert named in text
    digests = set(re.findall(r"sha256:[0-9a-f]{64}", text))
    assert len(digests) == 2, text  # the decision's and the evidence's


def test_card_shows_the_decisions_verdict_not_its_own(tmp_path: Path) -> None:
    """A decision made with a stricter --param: the card says what the decision said."""
    decision_file = tmp_path / "decision.json"
    run = run_govern(
        "check",
        str(SPEC),
        "-e",
        str(EVIDENCE),
        "--as-of",
        "2026-11-27",
        "--param",
        "metrics.accuracy.min=0.9",
        "-f",
        "json",
        "--output",
        str(decision_file),
    )
    assert run.code == 1, run.stderr
    run = run_govern("card", str(SPEC), "-e", str(EVIDENCE), "-d", str(decision_file), "-f", "json")
    assert run.code == 0, run.stderr
    accuracy = next(r for r in json.loads(run.stdout)["metrics"]["rows"] if r["name"] == "accuracy")
    assert accuracy["status"] == "fail"
    assert [(v["rule_id"], v["threshold"]) for v in accuracy["verdicts"]] == [("GOV-PERF-001", 0.9)]
    assert "below the required minimum of 0.9" in accuracy["verdicts"][0]["message"]
    md = run_govern("card", str(SPEC), "-e", str(EVIDENCE), "-d", str(decision_file)).stdout
    row = next(line for line in md.splitlines() if line.startswith("| `accuracy`"))
    assert "**FAIL**" in row
    assert "met" not in row.replace("minimum", "").replace("metrics", "")


def _with_states(decision: dict[str, Any]) -> dict[str, Any]:
    """The example's decision with one rule's evidence missing and another not configured."""
    changed = copy.deepcopy(decision)
    for result in changed["results"]:
        if result["rule_id"] == "GOV-XAI-000":
            result.update(
                result="fail", message="evidence missing: explanations (run govern collect --explain)"
            )
        if result["rule_id"] == "GOV-FAIR-004":
            result.update(result="skip", message="not configured: no per-group floor (fairness.group_floor)")
    return changed


def test_controls_are_satisfied_only_by_passes_on_present_evidence(example_evidence: dict[str, Any]) -> None:
    spec = load_spec(SPEC)
    evidence = evidence_from_value(example_evidence)
    decision = _with_states(cases.passing().to_dict())
    decision["evidence_digest"] = input_digest(evidence, spec, decision["stage"])
    card = build_card(spec, build_params(spec), evidence, decision)
    controls = {f"{c.framework}:{c.control}": c for c in card.governance.controls}
    art13 = controls["EU-AI-Act:Art.13"]  # GOV-XAI-000's evidence is missing
    assert art13.status.value == "not_satisfied"
    assert {r.rule_id: r.state.value for r in art13.rules}["GOV-XAI-000"] == "evidence_missing"
    measure = controls["NIST-AI-RMF:MEASURE-2.9"]  # GOV-XAI-000 is one of its rules too
    assert measure.status.value == "not_satisfied"
    art15 = controls["EU-AI-Act:Art.15"]  # GOV-FAIR-004 not configured, live rules not at deploy
    assert art15.status.value == "partly_assessed"
    assert {r.rule_id: r.state.value for r in art15.rules}["GOV-FAIR-004"] == "not_configured"
    assert controls["EU-AI-Act:Art.14"].status.value == "satisfied"
    # Art.72: the live rules apply at rollback, the quarantine rule (GOV-LIVE-007) at deploy
    assert controls["EU-AI-Act:Art.72"].status.value == "partly_assessed"
    md = render_card(CardFormat.MD, card)
    html = render_card(CardFormat.HTML, card)
    row = next(line for line in md.splitlines() if line.startswith("| EU AI Act | Art.13 |"))
    assert "**NOT SATISFIED**" in row
    assert "`GOV-XAI-000` **EVIDENCE MISSING**" in row
    assert "`GOV-FAIR-004` not configured" in md
    assert "GOV-FAIR-004 was not checked: not configured: no per-group floor" in md
    assert '<code>GOV-XAI-000</code> <span class="badge fail">evidence missing</span>' in html
    assert '<code>GOV-FAIR-004</code> <span class="badge skip">not configured</span>' in html
    document = json.loads(render_card(CardFormat.JSON, card))
    assert not _valid(document)


# --------------------------------------------------------------------------- card = decision


_WORST = ("error", "fail", "warn", "waived", "pass", "skip")
PROPERTY_EXAMPLES = 40


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


@st.composite
def _evidence_and_params(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    near = st.sampled_from([0.8499997, 0.85, 0.8500001, 0.8627, 0.9, 0.78])
    unit = st.floats(0.0, 1.0, allow_nan=False).map(lambda x: round(x, 4))
    evidence = cases.example_evidence()
    metrics = evidence["run"]["metrics"]
    metrics["accuracy"] = draw(st.one_of(near, unit))
    metrics["roc_auc"] = draw(unit)
    for feature in ("sex", "race"):
        summary = evidence["fairness"]["features"][feature]
        summary["demographic_parity_difference"] = draw(st.floats(0, 0.3).map(lambda x: round(x, 4)))
        summary["demographic_parity_ratio"] = draw(unit)
        summary["equalized_odds_difference"] = draw(st.floats(0, 0.3).map(lambda x: round(x, 4)))
    for name in draw(st.lists(st.sampled_from(sorted(evidence["data"]["drift"])), max_size=3, unique=True)):
        evidence["data"]["drift"][name]["psi"] = draw(st.floats(0, 0.5).map(lambda x: round(x, 4)))
    params: dict[str, Any] = {
        "metrics": {"accuracy": {"min": draw(st.sampled_from([0.8, 0.85, 0.86, 0.9]))}},
        "fairness": {
            "demographic_parity_difference": draw(st.sampled_from([0.05, 0.1, 0.2])),
            "demographic_parity_ratio": draw(st.sampled_from([0.3, 0.8, 0.9])),
        },
        "data": {"max_psi": draw(st.sampled_from([0.1, 0.2, 0.3]))},
        "explainability": {"max_feature_share": draw(st.sampled_from([0.2, 0.5]))},
    }
    return evidence, params


_MD_PAIR = re.compile(r"(\*\*[A-Z ]+\*\*|[a-z][a-z ]*) `([A-Z][A-Z0-9-]+)`")
_MD_RULE_ROW = re.compile(r"^\| (\*\*[A-Z ]+\*\*|[a-z][a-z ]*) \| `([A-Z][A-Z0-9-]+)` \|", re.MULTILINE)
_MD_CONTROL = re.compile(r"`([A-Z][A-Z0-9-]+)` (\*\*[A-Z ]+\*\*|[a-z][a-z ]*)")
_HTML_CONTROL = re.compile(r'<code>([A-Z][A-Z0-9-]+)</code> <span class="badge [a-z_]+">([a-z ]+)</span>')
_HTML_PAIR = re.compile(r'<span class="badge [a-z_]+">([a-z ]+)</span> <code>([A-Z][A-Z0-9-]+)</code>')
_HTML_RULE_ROW = re.compile(
    r'<td><span class="badge [a-z_]+">([a-z ]+)</span></td><td><code class="nowrap">([A-Z][A-Z0-9-]+)</code>'
)


def _plain_word(text: str) -> str:
    return text.strip().strip("*").lower()


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_evidence_and_params())
def test_every_status_in_the_card_is_the_decisions(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    value, override = case
    spec = cases.spec()
    evidence = evidence_from_value(value)
    with create_backend("embedded") as engine:
        checker = Checker.for_spec(spec, _policy_set(), engine, [override])
        decided = checker.decide(evidence, None, cases.TODAY)
    decision = decided.to_dict()
    by_id = {r.rule_id: r.result.value for r in decided.results}
    card = build_card(spec, checker.params, evidence, decision)
    document = json.loads(render_card(CardFormat.JSON, card))
    assert not _valid(document)
    checked = 0
    for node in _walk(document):
        if {"rule_id", "result", "message", "value", "threshold"} <= node.keys():  # a verdict
            assert node["result"] == by_id[node["rule_id"]]
            checked += 1
        if "status" in node and "verdicts" in node:  # a value the card shows
            results = [v["result"] for v in node["verdicts"]]
            expected = min(results, key=_WORST.index) if results else "no_finding"
            assert node["status"] == expected
    governance = document["governance"]
    for row in governance["rules"]:
        assert row["result"] == by_id[row["rule_id"]]
        assert row["state"] == rule_state(row).value
    for control in governance["controls"]:
        for rule in control["rules"]:
            assert rule["result"] == by_id[rule["rule_id"]]
        satisfied = all(by_id[r["rule_id"]] == "pass" for r in control["rules"])
        assert (control["status"] == "satisfied") == satisfied
    # no finding is hidden: every violation naming a logged metric's value shows on its row
    rows = {r["name"]: r for r in document["metrics"]["rows"]}
    for result in decided.results:
        for violation in result.violations:
            metric, number = violation.details.get("metric"), violation.details.get("value")
            if metric in rows and number == rows[metric]["value"]:
                assert result.rule_id in {v["rule_id"] for v in rows[metric]["verdicts"]}
    words = {
        rid: {word(res), word(rule_state({"result": res, "message": _message(decided, rid)}))}
        for rid, res in by_id.items()
    }
    md = render_card(CardFormat.MD, card)
    html = render_card(CardFormat.HTML, card)
    pairs = [*_MD_PAIR.findall(md), *_MD_RULE_ROW.findall(md)]
    pairs += [*_HTML_PAIR.findall(html), *_HTML_RULE_ROW.findall(html)]
    pairs += [(shown, rule_id) for rule_id, shown in (*_MD_CONTROL.findall(md), *_HTML_CONTROL.findall(html))]
    for shown, rule_id in pairs:
        if rule_id in words:
            assert _plain_word(shown) in words[rule_id], (shown, rule_id)
            checked += 1
    assert checked >= len(by_id) * 2 + len(governance["controls"]) * 2  # rules table and controls


def _message(decision: Decision, rule_id: str) -> str:
    return next(r.message for r in decision.results if r.rule_id == rule_id)


@cache
def _policy_set() -> PolicySet:
    return load_policy_set(cases.spec(), [], builtin=True)


# --------------------------------------------------------------------------- in a real browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required under CI=true (scripts/test.sh installs Debian's chromium)")
    pytest.skip("headless Chromium is not installed (apt-get install chromium); CI installs and runs it")


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class _Outline(HTMLParser):
    """Headings and element counts of a rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.tags: dict[str, int] = {}
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2[-1] += data


@pytest.fixture(scope="module")
def rendered_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("card") / "card.html"
    path.write_text(cases.render_card_case("card", CardFormat.HTML), encoding="utf-8")
    return path


def test_chromium_renders_every_section_and_chart_without_errors(rendered_card: Path) -> None:
    proc = _browser("--dump-dom", rendered_card.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    outline = _Outline()
    outline.feed(proc.stdout)
    assert [re.sub(r"^\d+\.", "", h).strip() for h in outline.h2] == HEADINGS
    assert outline.tags.get("svg", 0) == 6  # metrics, 2 per feature x 2 features, SHAP
    assert outline.tags.get("rect", 0) >= 30
    assert outline.tags.get("script", 0) == 0
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console  # no script errors, no blocked loads (CSP would report them)


def test_chromium_screenshot_and_print(rendered_card: Path, tmp_path: Path) -> None:
    png = tmp_path / "card.png"
    proc = _browser("--window-size=1200,2400", f"--screenshot={png}", rendered_card.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.exists()
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == 1200
    assert png.stat().st_size > 50_000
    pdf = tmp_path / "card.pdf"
    proc = _browser("--no-pdf-header-footer", f"--print-to-pdf={pdf}", rendered_card.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert pdf.exists()
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert 3 <= pages <= 20, pages  # A4 pages, the print stylesheet applied

"""The output formats of ``govern check``: golden files, schemas, escaping, purity, the CLI."""

from __future__ import annotations

import builtins
import copy
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft4Validator, Draft202012Validator

from govern.engine.decision import Decision, Result
from govern.engine.errors import ConfigError
from govern.engine.formats import Format, RenderOptions, junit, parse_format, render
from govern.engine.formats.github import escape_data, escape_property
from govern.engine.formats.markdown import cell
from govern.engine.schemas import Schema, load_schema

from .conftest import EVIDENCE, ROOT, SPEC, run_govern
from .golden import cases

SARIF_SCHEMA = json.loads(
    (ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)
CHECK = ("check", str(SPEC.relative_to(ROOT)), "--evidence", str(EVIDENCE), "--as-of", "2026-11-27")
REGEN = "run `python scripts/regen_golden.py`, review the diff, and commit it"
#: the line of the example's GOV-FAIR-001 waiver, where annotations for the waived rule point
WAIVER_LINE = SPEC.read_text().splitlines().index("  - rule: GOV-FAIR-001") + 1


@pytest.fixture(params=sorted(cases.DECISIONS))
def case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _decision(case: str) -> Decision:
    return cases.DECISIONS[case]()


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_matches_its_golden_file(case: str, fmt: Format) -> None:
    path = cases.GOLDEN / f"{case}.{cases.EXTENSIONS[fmt]}"
    assert path.exists(), f"{path.name} is missing: {REGEN}"
    assert cases.render_format(case, fmt) == path.read_text(encoding="utf-8"), (
        f"{path.name} is stale: {REGEN}"
    )


def test_every_format_has_a_golden_file_and_no_file_is_orphaned() -> None:
    expected = {p.name for p in cases.golden_files()}
    assert {f"pass.{cases.EXTENSIONS[f]}" for f in Format} <= expected
    present = {p.name for p in cases.GOLDEN.iterdir() if p.suffix not in (".py",) and p.name != "__pycache__"}
    assert present == expected


def test_the_regen_script_reports_nothing_stale() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/regen_golden.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"0 of {len(cases.golden_files())} golden files stale" in proc.stdout


# --------------------------------------------------------------------------- registry and purity


def test_unknown_format_is_an_error_never_a_fallback() -> None:
    with pytest.raises(ConfigError, match=r"unknown output format 'sarif2'.*junit, sarif, github, markdown"):
        parse_format("sarif2")
    assert {f.value for f in Format} == {"text", "json", "junit", "sarif", "github", "markdown"}


def test_formatters_are_pure(case: str) -> None:
    """No I/O, no mutation, same output twice."""
    decision = _decision(case)
    before = copy.deepcopy(decision.to_dict())
    options = RenderOptions(locations=cases.locations())
    first = {fmt: render(fmt, decision, options) for fmt in Format}  # imports happen here

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a formatter did I/O: {args!r}")

    saved = builtins.open, io.open, os.open
    builtins.open = io.open = os.open = refuse  # type: ignore[assignment]
    try:
        second = {fmt: render(fmt, decision, options) for fmt in Format}
    finally:
        builtins.open, io.open, os.open = saved
    assert first == second
    assert decision.to_dict() == before


# --------------------------------------------------------------------------- JSON and SARIF schemas


def test_json_is_valid_against_the_decision_schema(case: str) -> None:
    document = json.loads(cases.render_format(case, Format.JSON))
    validator = Draft202012Validator(load_schema(Schema.DECISION))
    assert not list(validator.iter_errors(document))


def _sarif(case: str) -> dict[str, object]:
    value: dict[str, object] = json.loads(cases.render_format(case, Format.SARIF))
    return value


def test_sarif_is_valid_against_the_official_schema(case: str) -> None:
    Draft4Validator.check_schema(SARIF_SCHEMA)
    errors = list(Draft4Validator(SARIF_SCHEMA).iter_errors(_sarif(case)))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:3]]


def test_the_sarif_schema_would_catch_a_bad_log() -> None:
    log = _sarif("mixed")
    run = log["runs"][0]  # type: ignore[index]
    run["results"][0]["level"] = "fatal"
    run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] = "loud"
    assert len(list(Draft4Validator(SARIF_SCHEMA).iter_errors(log))) == 2


def test_sarif_rules_and_results() -> None:
    decision = cases.mixed()
    run = _sarif("mixed")["runs"][0]  # type: ignore[index]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({r.rule_id for r in decision.results})
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    by_id = {r["id"]: r for r in rules}
    assert by_id["TEAM-W-001"]["defaultConfiguration"]["level"] == "warning"
    assert by_id["GOV-FAIR-001"]["defaultConfiguration"]["level"] == "error"
    assert "EU-AI-Act:Art.10" in by_id["GOV-FAIR-001"]["properties"]["tags"]
    results = run["results"]
    findings = {"TEAM-E-001", "GOV-FAIR-001", "GOV-FAIR-002", "GOV-FAIR-003", "GOV-FAIR-006", "TEAM-W-001"}
    assert {r["ruleId"] for r in results} == findings
    assert sum(r["ruleId"] == "GOV-FAIR-002" for r in results) == 2  # one result per violation
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "examples/adult-income/spec.yaml"
    assert run["invocations"][0]["executionSuccessful"] is False  # TEAM-E-001 errored


def test_sarif_waived_results_are_suppressed_at_the_waiver_line() -> None:
    locations = cases.locations()
    text = (ROOT / cases.SPEC_PATH).read_text().splitlines()
    run = _sarif("pass")["runs"][0]  # type: ignore[index]
    waived = [r for r in run["results"] if r["properties"]["result"] == "waived"]
    assert {r["ruleId"] for r in waived} == {"GOV-FAIR-001", "GOV-FAIR-002", "GOV-FAIR-003"}
    for result in waived:
        line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        assert line == locations.waivers[result["ruleId"]]
        assert text[line - 1].strip() == f"- rule: {result['ruleId']}"
        suppression = result["suppressions"][0]
        assert suppression["status"] == "accepted"
        assert "jane.doe@example.com" in suppression["justification"]
        assert "2027-06-30" in suppression["justification"]
    # a pass reports no finding: only the waived ones and the proxy warning (GOV-FAIR-006)
    others = {(r["ruleId"], r["properties"]["result"]) for r in run["results"] if r not in waived}
    assert others == {("GOV-FAIR-006", "warn")}


# --------------------------------------------------------------------------- JUnit


def test_junit_one_testcase_per_rule_one_suite_per_package(case: str) -> None:
    decision = _decision(case)
    root = ET.fromstring(cases.render_format(case, Format.JUNIT).encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    packages = {r.package for r in decision.results}
    assert {s.get("name") for s in suites} == packages
    cases_ = root.findall("./testsuite/testcase")
    assert len(cases_) == len(decision.results) == int(root.get("tests", "-1"))
    kinds = {
        Result.FAIL: "failure",
        Result.ERROR: "error",
        Result.WAIVED: "skipped",
        Result.SKIP: "skipped",
    }
    by_id = {c.get("name", "").split(":")[0]: c for c in cases_}
    for result in decision.results:
        element = by_id[result.rule_id]
        assert element.get("classname") == result.package
        expected = kinds.get(result.result)
        children = {child.tag for child in element if child.tag in ("failure", "error", "skipped")}
        assert children == ({expected} if expected else set()), result.rule_id
    for suite in suites:
        assert int(suite.get("tests", "-1")) == len(suite.findall("testcase"))
    s = decision.summary
    assert int(root.get("failures", "-1")) == s.failed
    assert int(root.get("errors", "-1")) == s.errored
    assert int(root.get("skipped", "-1")) == s.waived + s.skipped


def test_junit_waived_says_who_and_until_when() -> None:
    root = ET.fromstring(cases.render_format("pass", Format.JUNIT).encode("utf-8"))
    skipped = root.find(".//testcase[@classname='govern.fairness']/skipped")
    assert skipped is not None
    message = skipped.get("message", "")
    assert "waived by jane.doe@example.com until 2027-06-30" in message


def test_junit_escapes_hostile_text_and_control_characters() -> None:
    text = cases.render_format("mixed", Format.JUNIT)
    assert "<script>" not in text
    root = ET.fromstring(text.encode("utf-8"))  # well-formed
    warn = next(c for c in root.iter("testcase") if c.get("name", "").startswith("TEAM-W-001"))
    out = warn.find("system-out")
    assert out is not None
    assert '<script>alert("x")</script>' in (out.text or "")
    decision = cases.mixed()
    bell = replace(decision, results=(replace(decision.results[0], message="bell\x07 nul\x00 ok"),))
    ET.fromstring(junit.render(bell).encode("utf-8"))  # control characters are dropped, not emitted


# --------------------------------------------------------------------------- GitHub workflow commands


def test_github_escaping_follows_the_runner() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"


def test_github_annotations_by_result() -> None:
    lines = cases.render_format("mixed", Format.GITHUB).splitlines()
    commands = [line for line in lines if line.startswith("::") and not line.startswith(("::group", "::end"))]
    kinds = [line.split(" ", 1)[0] for line in commands]
    # the error first, then the failures, then the warnings
    assert kinds == ["::error", "::error", "::error", "::error", "::warning", "::warning"]
    assert all(",line=" in line and "file=examples/adult-income/spec.yaml" in line for line in commands)
    warning = commands[-1]
    assert "title=TEAM-W-001::" in warning
    assert "100%25 sure" in warning
    assert "%0Asecond line" in warning
    assert "\n" not in warning
    assert "\r" not in warning
    assert lines[-1].startswith("govern: ERROR adult-income v2 at stage deploy")
    passing = cases.render_format("pass", Format.GITHUB).splitlines()
    notices = [line for line in passing if line.startswith("::notice ")]
    assert len(notices) == 3  # the three waived fairness rules
    assert "title=GOV-FAIR-001" in notices[0]
    assert f"line={WAIVER_LINE}" in notices[0]  # the waiver's line in the spec
    assert "::group::govern: 34 passed, 7 skipped" in passing


def test_github_only_emits_commands_it_means_to() -> None:
    """A message can never start a workflow command of its own: no raw newline reaches the log."""
    for case in cases.DECISIONS:
        for line in cases.render_format(case, Format.GITHUB).splitlines():
            if line.startswith("::"):
                assert line.split(" ", 1)[0] in ("::error", "::warning", "::notice", "::group::govern:") or (
                    line == "::endgroup::"
                ), line


# --------------------------------------------------------------------------- Markdown summary


def test_markdown_summary_failures_first_and_passes_collapsed() -> None:
    text = cases.render_format("mixed", Format.MARKDOWN)
    assert text.startswith("### ⛔ govern: ERROR")
    order = [text.index(k) for k in ("**ERROR**", "**FAIL**", "**WARN**", "<details>", "GOV-CHAMP-001")]
    assert order == sorted(order)
    assert "<summary>34 passed, 8 skipped</summary>" in text
    assert "&lt;script&gt;" in text
    assert "<script>" not in text
    assert "\\| 100% sure" in text  # a pipe cannot break the table
    assert "#### Waivers" in text
    assert "**expired: void**" in text


def test_markdown_cell_escaping() -> None:
    assert cell("a|b") == "a\\|b"
    assert cell("<b>x</b>\nnext") == "&lt;b&gt;x&lt;/b&gt;<br>next"
    assert cell("*x* _y_ `z`") == "\\*x\\* \\_y\\_ \\`z\\`"


# --------------------------------------------------------------------------- the command line


def test_check_writes_several_reports_atomically_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    run = run_govern(
        *CHECK,
        "--report",
        f"junit={out / 'govern.xml'}",
        "--report",
        f"sarif={out / 'govern.sarif'}",
        "--report",
        f"markdown={out / 'summary.md'}",
        "--report",
        f"github={out / 'annotations.txt'}",
        "--format",
        "json",
        "--output",
        str(out / "decision.json"),
    )
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.txt",
        "decision.json",
        "govern.sarif",
        "govern.xml",
        "summary.md",
    ]
    decision_id = json.loads((out / "decision.json").read_text())["decision"]["decision_id"]
    sarif = json.loads((out / "govern.sarif").read_text())
    assert not list(Draft4Validator(SARIF_SCHEMA).iter_errors(sarif))
    assert sarif["runs"][0]["properties"]["decision_id"] == decision_id  # one decision, many reports
    assert decision_id in (out / "summary.md").read_text()
    ET.parse(out / "govern.xml")
    assert f"line={WAIVER_LINE}" in (out / "annotations.txt").read_text()


def test_check_prints_a_ci_format_to_stdout() -> None:
    run = run_govern(*CHECK, "--format", "github")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("::warning file=examples/adult-income/spec.yaml,")  # the proxy warning
    assert "title=GOV-FAIR-006::" in lines[0]
    assert lines[1].startswith(
        f"::notice file=examples/adult-income/spec.yaml,line={WAIVER_LINE},title=GOV-FAIR-001::"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "yaml"), "'yaml' is not one of"),
        (("--report", "yaml=out.yaml"), "unknown output format 'yaml'"),
        (("--report", "junit"), "must look like FORMAT=FILE"),
        (("--report", "junit=a.xml", "--report", "sarif=a.xml"), "written twice"),
    ],
)
def test_bad_output_options_exit_2_and_write_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run_args = [
        a.replace("a.xml", str(tmp_path / "a.xml")).replace("out.yaml", str(tmp_path / "o")) for a in args
    ]
    run = run_govern(*CHECK, *run_args)
    assert run.code == 2
    assert message in " ".join(run.stderr.split())
    assert list(tmp_path.iterdir()) == []


def test_check_with_ci_formats_imports_no_heavy_library(tmp_path: Path) -> None:
    junit_out = tmp_path / "govern.xml"
    code = (
        "import sys\nfrom govern.cli.main import main\n"
        f"sys.argv = ['govern', *{list(CHECK)!r}, '--format', 'sarif', '--report', 'junit={junit_out}']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mlflow', 'shap', 'fairlearn', 'pandas', 'jinja2', 'matplotlib', 'numpy')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert "<testsuites" in junit_out.read_text()  # it ran to the end


# --------------------------------------------------------------------------- the CI docs


def _govern_commands(text: str) -> list[list[str]]:
    """The ``govern …`` command lines of a shell snippet, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    return [
        line.split() for line in (raw.strip() for raw in joined.splitlines()) if line.startswith("govern ")
    ]


def test_the_github_actions_example_uses_real_formats_and_options() -> None:
    workflow = yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["govern"]["steps"]
    commands = [c for step in steps if "run" in step for c in _govern_commands(step["run"])]
    assert [c[1] for c in commands] == ["check", "card", "card"]
    check = commands[0]
    formats = [check[i + 1] for i, a in enumerate(check) if a == "--format"]
    formats += [check[i + 1].split("=")[0] for i, a in enumerate(check) if a == "--report"]
    assert formats == ["github", "junit", "sarif", "markdown", "json"]
    for name in formats:
        parse_format(name)
    help_text = run_govern("check", "--help").stdout + run_govern("card", "--help").stdout
    for command in commands:
        for option in (a for a in command if a.startswith("--")):
            assert option in help_text, option
    uploads = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif")]
    assert uploads[0]["with"]["sarif_file"] == "reports/govern.sarif"


def test_the_pre_commit_hooks_run(tmp_path: Path) -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"govern-validate", "govern-check"}
    assert re.search(hooks["govern-validate"]["files"], "models/adult-income.govern.yaml")
    assert not re.search(hooks["govern-validate"]["files"], "docker-compose.yaml")
    validate = hooks["govern-validate"]["entry"].split()[1:]
    assert run_govern(*validate, str(SPEC)).code == 0
    check = [*hooks["govern-check"]["entry"].split()[1:], *CHECK[1:], *hooks["govern-check"]["args"]]
    run = run_govern(*check)
    assert run.code == 0, run.stderr
    assert "PASS" in run.stdout

"""`govern input`, `govern params`, docs/input.md, and the article's rule through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import EVIDENCE, ROOT, SPEC, run_govern

ARTICLE = 'package article\n\ndeny[msg] { input.bias_score > 0.1; msg := "bias too high" }\n'


def test_docs_input_md_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gen_input_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_govern_input_prints_the_page() -> None:
    run = run_govern("input", "-e", str(EVIDENCE), "--spec", str(SPEC))
    assert run.code == 0, run.stderr
    assert run.stdout == (ROOT / "docs" / "input.md").read_text(encoding="utf-8")
    assert "| `input.run.metrics.<metric>` | number | `0.8740863583317978` |" in run.stdout


def test_govern_params_names_the_source_of_each_value() -> None:
    run = run_govern("params", str(SPEC), "--param", "fairness.min_group_size=50")
    assert run.code == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert lines["fairness.demographic_parity_ratio"].endswith("0.9  (the default for risk tier high)")
    assert (
        "spec.yaml:39 (fairness.thresholds.demographic_parity_difference)"
        in lines["fairness.demographic_parity_difference"]
    )
    assert lines["fairness.min_group_size"].endswith("50  (--param fairness.min_group_size)")
    assert lines["data.max_ks_statistic"].endswith("(the built-in default)")


def test_a_failure_names_the_source_of_its_threshold() -> None:
    override = "metrics.accuracy.min=0.9"
    args = ("check", str(SPEC), "-e", str(EVIDENCE), "--as-of", "2026-11-27", "-f", "json")
    run = run_govern(*args, "--param", override)
    assert run.code == 1
    results = {r["rule_id"]: r for r in json.loads(run.stdout)["decision"]["results"]}
    assert results["GOV-PERF-001"]["message"].endswith("(threshold 0.9 from --param metrics.accuracy.min)")
    assert "(threshold 0.9 from the default for risk tier high)" in results["GOV-FAIR-002"]["message"]


def test_the_article_rule_verbatim_is_refused_with_the_path_to_use(tmp_path: Path) -> None:
    policy = tmp_path / "article.rego"
    policy.write_text(ARTICLE, encoding="utf-8")
    run = run_govern(
        "check", str(SPEC), "-e", str(EVIDENCE), "--no-builtin", "--policies", str(policy), "--v0-compatible"
    )
    assert run.code == 2
    assert f"{policy}:3: `input.bias_score` (column 13) is not in the evidence document" in run.stderr
    assert "did you mean `input.run.metrics.bias_score`?" in run.stderr


def test_stage_evidence_mismatch_and_empty_policy_sets_are_usage_errors(tmp_path: Path) -> None:
    run = run_govern("check", str(SPEC), "-e", str(EVIDENCE), "--stage", "register")
    assert run.code == 2
    assert "collected for stage 'deploy', but the decision is for stage 'register'" in run.stderr
    helpers = tmp_path / "helpers.rego"
    helpers.write_text("package team\n\nimport rego.v1\n\nx := 1\n", encoding="utf-8")
    args = ("check", str(SPEC), "-e", str(EVIDENCE), "--no-builtin", "--policies", str(helpers))
    run = run_govern(*args)
    assert run.code == 2
    assert "no deny or warn rule that applies at stage deploy" in run.stderr
    assert run_govern(*args, "--allow-empty").code == 0

"""One pack manifest: every part that knows a pack reads policies/packs.yaml.

The end-to-end test adds a pack the way a contributor would — a folder under ``policies/``
and one manifest entry, nothing else — to a copy of the source tree, builds a wheel from it,
and checks that the loader, the parameters, the spec check, the SARIF/GitHub locations, the
evidence sections and the packaging all picked it up.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from govern.engine.errors import ConfigError
from govern.engine.evidence.document import SECTIONS
from govern.engine.formats.locations import package_sections
from govern.engine.packs import packs, parse_manifest
from govern.engine.policyset import builtin_modules, builtin_pack_names

from .conftest import ROOT

PACK_REGO = textwrap.dedent(
    """\
    # METADATA
    # scope: package
    # title: Privacy
    package govern.privacy

    import rego.v1

    # METADATA
    # title: Personal data minimised
    # custom:
    #   id: GOV-PRIV-001
    #   severity: high
    #   stages: [deploy]
    #   controls: ["GDPR:Art.5"]
    deny_personal_columns contains result if {
    \tsome column in object.get(data.govern.params, ["privacy", "columns"], [])
    \tnot column in object.get(data.govern.params, ["privacy", "allowed"], [])
    \tresult := {"msg": sprintf("column %s is personal data", [column])}
    }
    """
)
PACK_TEST = textwrap.dedent(
    """\
    package govern.privacy_test

    import rego.v1

    import data.govern.privacy

    test_denies if {
    \tcount(privacy.deny_personal_columns) == 1 with input as {"spec": {"privacy": {"columns": ["ssn"]}}}
    \t\twith data.govern.params as {"privacy": {"allowed": []}}
    }
    """
)
MANIFEST_ENTRY = (
    "  - name: privacy\n"
    "    package: govern.privacy\n"
    "    title: Privacy\n"
    "    spec: privacy\n"
    "    params: privacy\n"
    "    evidence: privacy_scan\n"
    "    stages: [deploy]\n"
    "    locations: [privacy]\n"
)
PROBE = textwrap.dedent(
    """\
    import json, sys
    from pathlib import Path
    from govern.engine.evidence.document import SECTIONS
    from govern.engine.formats.locations import package_sections
    from govern.engine.params import build_params
    from govern.engine.policyset import builtin_pack_names, load_policy_set
    from govern.engine.evidence import load_evidence
    from govern.engine.pipeline import Pipeline
    from govern.engine.spec import Stage, load_spec

    spec = load_spec(Path(sys.argv[1]))
    with Pipeline(spec) as pipeline:
        record = pipeline.decide(load_evidence(Path(sys.argv[2])), Stage.DEPLOY)
    print(json.dumps({
        "packs": list(builtin_pack_names()),
        "rules": sorted(r.id for r in load_policy_set(spec).rules),
        "params": build_params(spec).get("privacy"),
        "sections": list(SECTIONS),
        "locations": [list(p) for p in package_sections().get("govern.privacy", ())],
        "result": {r.rule_id: [r.result.value, r.message] for r in record.decision.results}["GOV-PRIV-001"],
    }))
    """
)


def test_every_reader_agrees_with_the_manifest() -> None:
    names = builtin_pack_names()
    assert names == tuple(p.name for p in packs())
    assert {m.package for m in builtin_modules()} == {"govern.lib", *(p.package for p in packs())}
    assert set(package_sections()) == {p.package for p in packs()}
    assert [s for s in SECTIONS if s not in ("model", "run")] == [p.evidence for p in packs() if p.evidence]
    # the package list is derived from the folders: every pack folder is a package of the wheel
    setup = (ROOT / "setup.py").read_text()
    assert "govern.policies.metrics" not in setup
    assert "PACKS" in setup


def test_the_manifest_is_strict() -> None:
    good = (ROOT / "policies" / "packs.yaml").read_text()
    with pytest.raises(ConfigError, match="unknown field 'colour'"):
        parse_manifest(good.replace("  - name: metrics\n", "  - name: metrics\n    colour: red\n", 1))
    with pytest.raises(ConfigError, match="declared twice"):
        parse_manifest(good + MANIFEST_ENTRY.replace("privacy", "metrics"))
    with pytest.raises(ConfigError, match=r"package must be govern\.live"):
        parse_manifest(good.replace("package: govern.live", "package: govern.alive"))
    with pytest.raises(ConfigError, match=r"packs\.yaml"):
        parse_manifest("packs: [unclosed")
    with pytest.raises(ConfigError, match="'someday' is not a valid Stage"):
        parse_manifest(good.replace("stages: [deploy]\n", "stages: [someday]\n", 1))


@pytest.mark.slow
def test_adding_a_pack_touches_its_folder_and_the_manifest_only(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    for name in ("engine", "cli", "policies", "schemas"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    before = {p.relative_to(tree) for p in tree.rglob("*") if p.is_file()}
    # the contributor's change: a folder, and one manifest entry
    pack = tree / "policies" / "privacy"
    pack.mkdir()
    (pack / "privacy.rego").write_text(PACK_REGO)
    (pack / "privacy_test.rego").write_text(PACK_TEST)
    (pack / "defaults.yaml").write_text("params:\n  privacy:\n    allowed: [age]\n")
    manifest = tree / "policies" / "packs.yaml"
    manifest.write_text(manifest.read_text() + MANIFEST_ENTRY)
    after = {p.relative_to(tree) for p in tree.rglob("*") if p.is_file()}
    changed = [*sorted(str(p) for p in after - before), "policies/packs.yaml"]
    assert all(c.startswith("policies/privacy/") or c == "policies/packs.yaml" for c in changed)

    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(dist),
            str(tree),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("govern_ml-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "govern/policies/privacy/privacy.rego" in names
    assert "govern/policies/privacy/defaults.yaml" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )
    example = ROOT / "examples" / "adult-income"
    spec = tmp_path / "spec.yaml"
    text = (example / "spec.yaml").read_text()
    text = text.replace("  packs: [", "  packs: [privacy, ", 1).replace(
        "waivers:", "privacy:\n  columns: [ssn, age]\n\nwaivers:", 1
    )
    spec.write_text(text)
    evidence = json.loads((example / "evidence.json").read_text())
    evidence["privacy_scan"] = None
    evidence["missing"]["privacy_scan"] = "no scanner ran"
    evidence_path = tmp_path / "evidence.json"
    evidence_path.write_text(json.dumps(evidence))
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(spec), str(evidence_path)],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "RUST_LIB_BACKTRACE": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert "privacy" in seen["packs"]
    assert "GOV-PRIV-001" in seen["rules"]
    assert seen["params"] == {"allowed": ["age"], "columns": ["ssn", "age"]}
    assert seen["result"] == ["fail", "column ssn is personal data"]
    assert seen["sections"][-1] == "privacy_scan"
    assert seen["locations"] == [["privacy"]]

"""The spec is typed once, at load: nothing outside the loader reads it field by field."""

from __future__ import annotations

import re
from pathlib import Path

from govern.engine.spec import load_spec

from .conftest import ROOT, SPEC

RAW_READ = re.compile(r"\bspec\.data(\.get\(|\[)")


def test_no_raw_spec_reads_outside_the_loader() -> None:
    offenders = []
    for folder in ("engine", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "engine" / "spec.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if RAW_READ.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_typed_spec_keeps_lines_for_errors() -> None:
    spec = load_spec(Path(SPEC))
    assert spec.metadata.name == "adult-income"
    assert spec.requirements.champion is not None
    assert spec.requirements.champion.max_regression == 0.01
    assert spec.fairness is not None
    assert spec.fairness.sensitive_features == ("sex", "race")
    assert spec.datasets.evaluation is not None
    assert spec.datasets.evaluation.positive_label == ">50K"
    location = spec.location(("fairness", "thresholds"))
    assert location.line is not None
    assert location.line > 1
    assert str(location).startswith(str(SPEC))

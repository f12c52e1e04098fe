from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from govern.engine.errors import SpecError
from govern.engine.params import build_params, parse_param_override
from govern.engine.spec import RiskTier, Stage, load_spec

from .conftest import SPEC


def write_spec(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(SPEC.read_text())
    mutate(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_example_spec_loads() -> None:
    spec = load_spec(SPEC)
    assert spec.name == "adult-income"
    assert spec.risk_tier is RiskTier.HIGH
    assert spec.waivers[0].rule == "GOV-FAIR-001"
    assert spec.waivers[0].expires == dt.date(2027, 6, 30)
    assert spec.waivers[0].stages == (Stage.REGISTER, Stage.DEPLOY)
    assert spec.data["requirements"]["champion"]["higher_is_better"] is True


def test_unknown_field_names_line_and_path(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    text = SPEC.read_text().replace("  owner: credit", "  ownr: credit")
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    loc = info.value.location
    assert loc is not None
    assert loc.field == "metadata.ownr"
    assert loc.line == text.splitlines().index("  ownr: credit-risk-ml@example.com") + 1
    assert "unknown field 'ownr'" in info.value.message


def test_bad_enum(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda d: d["metadata"].update(risk_tier="severe"))
    with pytest.raises(SpecError, match="'severe' is not one of") as info:
        load_spec(path)
    assert info.value.location is not None
    assert info.value.location.field == "metadata.risk_tier"


def test_waiver_without_approver_is_an_error(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda d: d["waivers"][0].pop("approver"))
    with pytest.raises(SpecError, match="missing required field 'approver'"):
        load_spec(path)


def test_impossible_waiver_date(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda d: d["waivers"][0].update(expires="2027-02-30"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.location is not None
    assert info.value.location.field == "waivers[0].expires"


def test_version_and_alias_together(tmp_path: Path) -> None:
    path = write_spec(tmp_path, lambda d: d["model"]["registered"].update(version=3))
    with pytest.raises(SpecError, match="either a version or an alias"):
        load_spec(path)


def test_params_precedence(tmp_path: Path) -> None:
    def mutate(d):  # type: ignore[no-untyped-def]
        d["fairness"]["thresholds"].pop("demographic_parity_difference")
        d["policies"]["params"] = {"fairness": {"min_group_size": 99}}

    spec = load_spec(write_spec(tmp_path, mutate))
    params = build_params(spec, [parse_param_override("data.max_psi=0.5")])
    assert params["tier"] == "high"
    # the high tier tightens the default 0.10 when the spec does not set its own
    assert params["fairness"]["demographic_parity_difference"] == 0.05
    assert params["fairness"]["equalized_odds_difference"] == 0.10  # the spec's own value wins over the tier
    assert params["fairness"]["min_group_size"] == 99  # policies.params wins over the spec sections
    assert params["data"]["max_psi"] == 0.5  # --param wins over everything
    assert params["metrics"]["accuracy"] == {"min": 0.85}


def test_param_override_parsing() -> None:
    assert parse_param_override("a.b=1") == {"a": {"b": 1}}
    assert parse_param_override("a=text") == {"a": "text"}
    with pytest.raises(Exception, match=r"key\.path=value"):
        parse_param_override("novalue")


@pytest.mark.parametrize(
    ("example", "schema"),
    [("spec.yaml", "MODEL_SPEC"), ("evidence.json", "EVIDENCE"), ("decision.json", "DECISION")],
)
def test_each_schema_documents_an_example_that_validates(example: str, schema: str) -> None:
    from govern.engine.documents import load_document
    from govern.engine.schemas import Schema, load_schema, validation_errors

    doc, _ = load_document(SPEC.parent / example, SpecError)
    assert validation_errors(doc, Schema[schema]) == []
    assert f"examples/adult-income/{example}" in load_schema(Schema[schema])["description"]

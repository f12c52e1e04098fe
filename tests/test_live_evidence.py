"""Live evidence without a server: durations, query templates, and drops in exact decimals."""

from __future__ import annotations

from pathlib import Path

import pytest

from govern.engine.errors import ConfigError
from govern.engine.evidence.live import add_baselines
from govern.engine.evidence.prometheus import parse_duration, render_query
from govern.engine.spec import load_spec

SPEC = Path(__file__).resolve().parent.parent / "examples" / "live-rollback" / "spec.yaml"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5)])
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "5m 1s", "0s"])
def test_bad_durations_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_labels_are_escaped_as_promql_strings_and_the_window_is_not() -> None:
    query = render_query('m{version="$version"}[$window]', {"version": 'a"b\\c', "window": "5m"}, "f")
    assert query == 'm{version="a\\"b\\\\c"}[5m]'


def test_an_unknown_template_variable_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"requirements.live.auc.query: unknown template variable \$team"):
        render_query('m{team="$team"}', {"version": "1"}, "requirements.live.auc.query")


def test_drops_are_exact_decimals_not_binary_floats() -> None:
    spec = load_spec(SPEC)
    live = {"metrics": {"auc": 0.84, "error_rate": 0.0}}
    add_baselines(spec, live, {"auc": 0.86})
    # 0.86 - 0.84 is 0.020000000000000018 in binary floating point
    assert live["drops"]["auc"]["absolute"] == 0.02
    assert live["drops"]["auc"]["relative"] == 0.023255814
    assert live["baseline"] == {"auc": 0.86}
    assert "error_rate" not in live["drops"]  # no drop rule on it


def test_no_validation_value_leaves_the_baseline_out() -> None:
    live = {"metrics": {"auc": 0.84}}
    add_baselines(load_spec(SPEC), live, {"accuracy": 0.9})
    assert live["baseline"] == {}
    assert live["drops"] == {}


def test_monitoring_without_the_live_pack_is_a_spec_error(tmp_path: Path) -> None:
    from govern.engine.errors import SpecError

    text = SPEC.read_text().replace("packs: [metrics, live]", "packs: [metrics]")
    bad = tmp_path / "spec.yaml"
    # no requirements at all: only monitoring asks for the live pack
    bad.write_text(text.split("requirements:")[0] + "monitoring:" + text.split("monitoring:")[1])
    with pytest.raises(SpecError, match=r"monitoring is set, but policies\.packs leaves out the 'live' pack"):
        load_spec(bad)

"""Invariants of decisions, checked over generated results."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from govern.engine.decision import Decision, Result, RuleResult
from govern.engine.policyset import Severity
from govern.engine.spec import Stage, Waiver
from govern.engine.waivers import apply_waivers

TODAY = dt.date(2026, 11, 27)

results_st = st.lists(
    st.builds(
        RuleResult,
        rule_id=st.sampled_from([f"R-{i}" for i in range(8)]),
        package=st.just("p"),
        rule=st.just("deny_x"),
        result=st.sampled_from(list(Result)),
        severity=st.sampled_from(list(Severity)),
        message=st.just("m"),
    ),
    max_size=12,
    unique_by=lambda r: r.rule_id,
)
waivers_st = st.lists(
    st.builds(
        Waiver,
        rule=st.sampled_from([f"R-{i}" for i in range(10)]),
        reason=st.just("a reason long enough"),
        approver=st.just("a@b"),
        expires=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31)),
        stages=st.one_of(st.none(), st.just((Stage.DEPLOY,)), st.just((Stage.REGISTER,))),
        ticket=st.none(),
        line=st.none(),
    ),
    max_size=6,
)


def decision(results: list[RuleResult]) -> Decision:
    return Decision(
        decision_id="00000000-0000-0000-0000-000000000000",
        timestamp="2026-11-27T00:00:00Z",
        spec={},
        model={},
        stage=Stage.DEPLOY,
        results=tuple(results),
        policy_digest="",
        params_digest="",
        evidence_digest="",
        backend="fake",
        backend_version="fake 1",
        engine_version="0",
        as_of=TODAY,
    )


@given(results_st, st.sampled_from([Result.FAIL, Result.ERROR, Result.WARN]), st.booleans(), st.booleans())
def test_adding_a_bad_result_never_lowers_the_exit_code(
    results: list[RuleResult], extra: Result, fail_on_warn: bool, no_fail: bool
) -> None:
    before = decision(results).exit_code(fail_on_warn=fail_on_warn, no_fail=no_fail)
    added = RuleResult("NEW", "p", "deny_new", extra, Severity.HIGH, "new")
    after = decision([*results, added]).exit_code(fail_on_warn=fail_on_warn, no_fail=no_fail)
    assert after >= before


@given(results_st, waivers_st, st.sampled_from(list(Stage)))
def test_waivers_never_touch_errors_and_never_add_failures(
    results: list[RuleResult], waivers: list[Waiver], stage: Stage
) -> None:
    waived, uses = apply_waivers(results, waivers, stage, TODAY)
    assert len(waived) == len(results)
    assert len(uses) == len(waivers)
    for old, new in zip(results, waived, strict=True):
        if old.result is Result.ERROR:
            assert new.result is Result.ERROR
        if new.result is Result.WAIVED and old.result is not Result.WAIVED:
            assert old.result in (Result.FAIL, Result.WARN)
            assert new.waiver is not None
            assert new.waiver.expires >= TODAY
        if old.result is Result.PASS:
            assert new.result is Result.PASS
    assert decision(waived).exit_code() <= decision(results).exit_code() or any(
        r.result is Result.ERROR for r in results
    )


@given(results_st)
def test_summary_counts_add_up(results: list[RuleResult]) -> None:
    summary = decision(results).summary
    assert summary.total == len(results)
    assert (
        summary.passed + summary.failed + summary.warned + summary.waived + summary.skipped + summary.errored
        == summary.total
    )


def _feature_result(features: list[str]) -> RuleResult:
    from govern.engine.decision import Violation

    return RuleResult(
        rule_id="GOV-FAIR-001",
        package="govern.fairness",
        rule="deny_demographic_parity_difference",
        result=Result.FAIL,
        severity=Severity.HIGH,
        message=f"gap for {features[0]}",
        violations=tuple(Violation(f"gap for {f}", {"feature": f, "value": 0.2}) for f in features),
    )


def _feature_waiver(features: tuple[str, ...] | None) -> Waiver:
    return Waiver(
        rule="GOV-FAIR-001",
        reason="a reason long enough",
        approver="a@b",
        expires=dt.date(2027, 1, 1),
        stages=None,
        ticket=None,
        line=None,
        features=features,
    )


def test_a_waiver_for_one_feature_leaves_the_others_failing() -> None:
    from govern.engine.decision import WaiverStatus

    [result], [use] = apply_waivers(
        [_feature_result(["sex", "race"])], [_feature_waiver(("sex",))], Stage.DEPLOY, TODAY
    )
    assert result.result is Result.FAIL
    assert [v.details["feature"] for v in result.violations] == ["race"]
    assert result.message.startswith("gap for race")
    assert use.status is WaiverStatus.PARTIAL
    [result], [use] = apply_waivers(
        [_feature_result(["sex", "race"])], [_feature_waiver(("sex", "race"))], Stage.DEPLOY, TODAY
    )
    assert result.result is Result.WAIVED
    assert use.status is WaiverStatus.APPLIED
    [result], [use] = apply_waivers(
        [_feature_result(["race"])], [_feature_waiver(("sex",))], Stage.DEPLOY, TODAY
    )
    assert result.result is Result.FAIL
    assert use.status is WaiverStatus.UNUSED


@given(
    failing=st.lists(
        st.sampled_from(["sex", "race", "age", "sex&race"]), min_size=1, max_size=4, unique=True
    ),
    named=st.lists(st.sampled_from(["sex", "race", "age", "sex&race"]), min_size=1, max_size=4, unique=True),
)
def test_a_feature_waiver_never_hides_a_feature_it_does_not_name(
    failing: list[str], named: list[str]
) -> None:
    [result], _ = apply_waivers(
        [_feature_result(failing)], [_feature_waiver(tuple(named))], Stage.DEPLOY, TODAY
    )
    unnamed = [f for f in failing if f not in named]
    if unnamed:
        assert result.result is Result.FAIL
        assert sorted(v.details["feature"] for v in result.violations) == sorted(unnamed)
    else:
        assert result.result is Result.WAIVED

package govern.live_test

import rego.v1

import data.govern.live

params := {"live": {"accuracy": {"min": 0.8}, "latency_p95_ms": {"max": 250}}}

base := {
	"stage": "rollback",
	"live": {"metrics": {"accuracy": 0.84, "latency_p95_ms": 120}, "source": "prometheus", "window": "7d"},
	"missing": {},
}

with_metrics(m) := object.union(base, {"live": {"metrics": m}})

findings(doc, p) := f if {
	missing := live.deny_evidence_missing with input as doc with data.govern.params as p
	below := live.deny_live_metric_below_min with input as doc with data.govern.params as p
	above := live.deny_live_metric_above_max with input as doc with data.govern.params as p
	unreported := live.deny_live_metric_not_reported with input as doc with data.govern.params as p
	f := {"missing": missing, "below": below, "above": above, "unreported": unreported}
}

none := {"missing": set(), "below": set(), "above": set(), "unreported": set()}

only(f, key) if object.remove(f, [key]) == object.remove(none, [key])

test_healthy_live_metrics_have_no_findings if findings(base, params) == none

test_below_min_fires if {
	f := findings(with_metrics({"accuracy": 0.79}), params)
	only(f, "below")
	[r] := [x | some x in f.below]
	r.metric == "accuracy"
	r.msg == "Live metric accuracy is 0.79 over 7d, below the required minimum of 0.8"
}

test_float_noise_below_min_fires if count(findings(with_metrics({"accuracy": 0.7999999999999999}), params).below) == 1

test_above_max_fires if {
	f := findings(with_metrics({"latency_p95_ms": 300}), params)
	only(f, "above")
	[r] := [x | some x in f.above]
	r.value == 300
	r.threshold == 250
}

test_not_reported_fires if {
	f := findings(json.remove(base, ["live/metrics/accuracy"]), params)
	only(f, "unreported")
	[r] := [x | some x in f.unreported]
	r.msg == "Live metric accuracy has a threshold but was not reported by prometheus"
}

test_live_evidence_missing if {
	f := findings(object.union(base, {"live": null, "missing": {"live": "no monitoring source configured"}}), params)
	only(f, "missing")
	[r] := [x | some x in f.missing]
	r.reason == "no monitoring source configured"
	r.msg == "Live metrics are required but missing (no monitoring source configured)"
}

test_no_live_bounds_nothing_required if findings(object.union(base, {"live": null}), {"live": {}}) == none

test_rollback_stage_only if {
	findings(object.union(with_metrics({"accuracy": 0.5}), {"stage": "deploy"}), params) == none
	findings(object.union(base, {"stage": "register", "live": null}), params) == none
}

drop_params := {
	"live": {"auc": {"max_relative_drop": 0.02}, "error_rate": {"max": 0.05}, "score": {"max_drop": 0.01}},
	"live_samples": {"min": 500},
}

drop_doc := {
	"stage": "rollback",
	"live": {
		"metrics": {"auc": 0.89, "error_rate": 0.01, "score": 0.7},
		"source": "prometheus http://prom:9090",
		"window": "10m",
		"samples": 800,
		"judged": true,
		"baseline": {"auc": 0.9, "score": 0.71},
		"drops": {"auc": {"absolute": 0.01, "relative": 0.011111111}, "score": {"absolute": 0.01, "relative": 0.014084507}},
	},
	"missing": {},
}

drop_findings(doc) := f if {
	relative := live.deny_live_metric_relative_drop with input as doc with data.govern.params as drop_params
	absolute := live.deny_live_metric_dropped with input as doc with data.govern.params as drop_params
	above := live.deny_live_metric_above_max with input as doc with data.govern.params as drop_params
	unreported := live.deny_live_metric_not_reported with input as doc with data.govern.params as drop_params
	baseline := live.deny_live_baseline_missing with input as doc with data.govern.params as drop_params
	f := {"relative": relative, "absolute": absolute, "above": above, "unreported": unreported, "baseline": baseline}
}

no_drops := {"relative": set(), "absolute": set(), "above": set(), "unreported": set(), "baseline": set()}

test_drops_within_limits_pass if drop_findings(drop_doc) == no_drops

test_relative_drop_beyond_limit_fails if {
	doc := json.patch(drop_doc, [
		{"op": "replace", "path": "/live/metrics/auc", "value": 0.85},
		{"op": "replace", "path": "/live/drops/auc", "value": {"absolute": 0.05, "relative": 0.055555556}},
	])
	f := drop_findings(doc)
	[r] := [x | some x in f.relative]
	r.metric == "auc"
	r.drop == 0.055555556
	r.baseline == 0.9
	object.remove(f, ["relative"]) == object.remove(no_drops, ["relative"])
}

test_absolute_drop_equal_to_limit_passes if count(drop_findings(drop_doc).absolute) == 0

test_absolute_drop_beyond_limit_fails if {
	doc := json.patch(drop_doc, [{"op": "replace", "path": "/live/drops/score", "value": {"absolute": 0.010001, "relative": 0.0141}}])
	[r] := [x | some x in drop_findings(doc).absolute]
	r.metric == "score"
	r.threshold == 0.01
}

test_windowed_error_rate_above_max_fails if {
	doc := json.patch(drop_doc, [{"op": "replace", "path": "/live/metrics/error_rate", "value": 0.07}])
	[r] := [x | some x in drop_findings(doc).above]
	r.msg == "Live metric error_rate is 0.07 over 10m, above the allowed maximum of 0.05"
}

test_too_few_samples_skips_every_metric_rule if {
	doc := json.patch(drop_doc, [
		{"op": "replace", "path": "/live/samples", "value": 120},
		{"op": "replace", "path": "/live/metrics/error_rate", "value": 0.9},
	])
	f := drop_findings(doc)
	[r] := [x | some x in f.above]
	r.skip == true
	r.msg == "not enough live samples over 10m: 120, fewer than the 500 required; not judged"
	f.relative == {r}
	f.absolute == {r}
	f.unreported == {r}
}

test_metrics_not_queried_skip if {
	doc := json.patch(drop_doc, [
		{"op": "replace", "path": "/live/judged", "value": false},
		{"op": "replace", "path": "/live/metrics", "value": {}},
		{"op": "replace", "path": "/live/drops", "value": {}},
		{"op": "replace", "path": "/live/samples", "value": 0},
	])
	f := drop_findings(doc)
	every key in ["relative", "absolute", "above", "unreported"] {
		[r] := [x | some x in f[key]]
		r.skip == true
	}
}

test_missing_baseline_fails if {
	doc := json.remove(drop_doc, ["live/baseline/auc", "live/drops/auc"])
	f := drop_findings(doc)
	[r] := [x | some x in f.baseline]
	r.metric == "auc"
	r.msg == "evidence missing: live metric auc is judged by its drop, but the version's run has no validation metric auc"
}

test_samples_at_minimum_are_enough if {
	doc := json.patch(drop_doc, [{"op": "replace", "path": "/live/samples", "value": 500}])
	drop_findings(doc) == no_drops
}

test_a_restored_version_without_live_metrics_skips if {
	doc := object.union(base, {
		"live": null,
		"missing": {"live": "no live metrics yet"},
		"model": {"tags": {"govern.restored.decision_id": "d-9"}},
	})
	f := findings(doc, params)
	[r] := [x | some x in f.missing]
	r.skip == true
	r.msg == "restored by rollback decision d-9 and no live metrics of its own yet (no live metrics yet); not judged"
}

test_a_restored_version_with_live_metrics_is_judged if {
	doc := object.union(with_metrics({"accuracy": 0.79}), {"model": {"tags": {"govern.restored.decision_id": "d-9"}}})
	f := findings(doc, params)
	only(f, "below")
}

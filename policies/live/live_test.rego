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

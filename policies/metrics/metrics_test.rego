package govern.metrics_test

import rego.v1

import data.govern.metrics

params := {"metrics": {
	"accuracy": {"min": 0.85},
	"roc_auc": {"min": 0.9, "max": 1},
	"log_loss": {"max": 0.3},
}}

base := {
	"stage": "deploy",
	"run": {"id": "run-1", "params": {}, "tags": {}, "metrics": {"accuracy": 0.86, "roc_auc": 0.91, "log_loss": 0.29}},
	"missing": {},
}

with_metrics(m) := object.union(base, {"run": {"metrics": m}})

findings(doc) := {"below": b, "above": a, "not_logged": n} if {
	b := metrics.deny_metric_below_min with input as doc with data.govern.params as params
	a := metrics.deny_metric_above_max with input as doc with data.govern.params as params
	n := metrics.deny_metric_not_logged with input as doc with data.govern.params as params
}

none := {"below": set(), "above": set(), "not_logged": set()}

test_passing_run_has_no_findings if findings(base) == none

test_below_min_fires if {
	f := findings(with_metrics({"accuracy": 0.84}))
	[r] := [x | some x in f.below]
	r.metric == "accuracy"
	r.value == 0.84
	r.threshold == 0.85
	r.msg == "Metric accuracy is 0.84, below the required minimum of 0.85"
	f.above == set()
}

test_at_min_does_not_fire if findings(with_metrics({"accuracy": 0.85})) == none

# Numbers are compared as they are: binary-float noise below a minimum is below it.
test_float_noise_below_min_fires if count(findings(with_metrics({"accuracy": 0.8499999999999999})).below) == 1

test_one_millionth_below_min_fires if count(findings(with_metrics({"accuracy": 0.849999})).below) == 1

test_above_max_fires if {
	f := findings(with_metrics({"log_loss": 0.31}))
	[r] := [x | some x in f.above]
	r.metric == "log_loss"
	r.value == 0.31
	r.threshold == 0.3
	contains(r.msg, "above the allowed maximum of 0.3")
}

test_float_noise_above_max_fires if count(findings(with_metrics({"log_loss": 0.30000000000000004})).above) == 1

test_min_and_max_on_one_metric if {
	count(findings(with_metrics({"roc_auc": 0.89})).below) == 1
	count(findings(with_metrics({"roc_auc": 1.01})).above) == 1
}

test_not_logged_fires if {
	f := findings(json.remove(base, ["run/metrics/roc_auc"]))
	[r] := [x | some x in f.not_logged]
	r.metric == "roc_auc"
	r.msg == "Metric roc_auc has a threshold but is not logged on run run-1"
}

test_run_missing_reports_every_metric_with_reason if {
	f := findings(object.union(base, {"run": null, "missing": {"run": "model version 3 has no run"}}))
	{r.metric | some r in f.not_logged} == {"accuracy", "roc_auc", "log_loss"}
	some r in f.not_logged
	r.reason == "model version 3 has no run"
	contains(r.msg, "run evidence is missing (model version 3 has no run)")
	f.below == set()
}

test_run_missing_without_reason if {
	f := findings(object.union(base, {"run": null}))
	some r in f.not_logged
	r.reason == "no reason was recorded"
}

test_no_thresholds_no_findings if {
	doc := object.union(base, {"run": null})
	metrics.deny_metric_not_logged == set() with input as doc with data.govern.params as {"metrics": {}}
	metrics.deny_metric_not_logged == set() with input as doc with data.govern.params as {}
}

test_null_bound_is_ignored if {
	p := {"metrics": {"f1": {"min": null}}}
	metrics.deny_metric_not_logged == set() with input as base with data.govern.params as p
	metrics.deny_metric_below_min == set() with input as base with data.govern.params as p
}

test_other_stages_skipped if {
	findings(object.union(with_metrics({"accuracy": 0.5}), {"stage": "rollback"})) == none
	count(findings(object.union(with_metrics({"accuracy": 0.5}), {"stage": "register"})).below) == 1
}

measured_doc(metrics_run, measured, integrity) := object.union(base, {
	"run": {"metrics": metrics_run},
	"performance": {"task": "classification", "rows": 1000, "metrics": measured, "integrity": integrity},
})

integrity_params := object.union(params, {"performance": {"integrity_tolerance": 0.01}})

test_measured_value_wins_over_the_logged_one if {
	doc := measured_doc({"accuracy": 0.95}, {"accuracy": {"value": 0.80, "ci": [0.78, 0.82]}}, [])
	below := metrics.deny_metric_below_min with input as doc with data.govern.params as params
	[r] := [x | some x in below]
	r.value == 0.8
}

test_measured_metric_need_not_be_logged if {
	doc := object.union(measured_doc({}, {"accuracy": {"value": 0.9}, "roc_auc": {"value": 0.95}, "log_loss": {"value": 0.2}}, []), {"run": {"metrics": {}}})
	not_logged := metrics.deny_metric_not_logged with input as doc with data.govern.params as params
	not_logged == set()
}

test_integrity_fails_beyond_the_tolerance if {
	item := {"metric": "accuracy", "logged_as": "accuracy", "logged": 0.95, "measured": 0.7833, "difference": 0.1667}
	doc := measured_doc({"accuracy": 0.95}, {"accuracy": {"value": 0.7833}}, [item])
	found := metrics.deny_metric_integrity with input as doc with data.govern.params as integrity_params
	[r] := [x | some x in found]
	r.metric == "accuracy"
	r.difference == 0.1667
	r.msg == "Metric accuracy is logged as 0.95 (accuracy) but measures 0.7833 on 1000 evaluation rows: off by 0.1667, more than the tolerance 0.01"
}

test_integrity_passes_within_the_tolerance if {
	item := {"metric": "roc_auc", "logged_as": "auc", "logged": 0.91, "measured": 0.905, "difference": 0.005}
	doc := measured_doc({"auc": 0.91}, {"roc_auc": {"value": 0.905}}, [item])
	found := metrics.deny_metric_integrity with input as doc with data.govern.params as integrity_params
	found == set()
}

test_integrity_disabled_by_a_null_tolerance if {
	item := {"metric": "accuracy", "logged": 0.95, "measured": 0.7, "difference": 0.25}
	doc := measured_doc({"accuracy": 0.95}, {"accuracy": {"value": 0.7}}, [item])
	p := object.union(params, {"performance": {"integrity_tolerance": null}})
	found := metrics.deny_metric_integrity with input as doc with data.govern.params as p
	found == set()
}

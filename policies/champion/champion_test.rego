package govern.champion_test

import rego.v1

import data.govern.champion

params := {"champion": {"alias": "champion", "metric": "accuracy", "max_regression": 0.02, "higher_is_better": true}}

base := {
	"stage": "deploy",
	"run": {"id": "run-2", "params": {}, "tags": {}, "metrics": {"accuracy": 0.80, "log_loss": 0.30}},
	"champion": {"alias": "champion", "version": "1", "metrics": {"accuracy": 0.81, "log_loss": 0.30}},
	"missing": {},
}

challenger(m) := object.union(base, {"run": {"metrics": m}})

findings(doc, p) := {"regression": r, "no_champion": w, "not_comparable": n} if {
	r := champion.deny_regression with input as doc with data.govern.params as p
	w := champion.warn_no_champion with input as doc with data.govern.params as p
	n := champion.deny_metric_not_comparable with input as doc with data.govern.params as p
}

none := {"regression": set(), "no_champion": set(), "not_comparable": set()}

test_within_allowance_no_findings if findings(base, params) == none

# 0.81 - 0.79 > 0.02 is true in binary floats, false in exact decimals: it must not fire.
test_regression_equal_to_allowance_does_not_fire if findings(challenger({"accuracy": 0.79}), params) == none

test_regression_beyond_allowance_fires if {
	f := findings(challenger({"accuracy": 0.78}), params)
	[r] := [x | some x in f.regression]
	r.metric == "accuracy"
	r.value == 0.78
	r.champion_value == 0.81
	r.regression == 0.03
	r.threshold == 0.02
	r.msg == "Metric accuracy regressed from 0.81 (champion, version 1) to 0.78: worse by 0.03, more than the allowed 0.02 (higher is better)"
}

test_improvement_does_not_fire if findings(challenger({"accuracy": 0.9}), params) == none

test_max_regression_defaults_to_zero if {
	p := {"champion": {"metric": "accuracy"}}
	count(findings(challenger({"accuracy": 0.8099}), p).regression) == 1
	findings(challenger({"accuracy": 0.81}), p) == none
	findings(challenger({"accuracy": 0.81}), {"champion": {"metric": "accuracy", "max_regression": null}}) == none
}

test_lower_is_better if {
	p := {"champion": {"metric": "log_loss", "max_regression": 0.01, "higher_is_better": false}}

	# 0.31 - 0.30 > 0.01 is true in binary floats: it must not fire.
	findings(challenger({"log_loss": 0.31}), p) == none
	findings(challenger({"log_loss": 0.2}), p) == none
	f := findings(challenger({"log_loss": 0.32}), p)
	some r in f.regression
	r.regression == 0.02
	contains(r.msg, "(lower is better)")
}

test_first_deployment_warns if {
	doc := object.union(base, {"champion": null, "missing": {"champion": "no version of adult-income has alias champion"}})
	f := findings(doc, params)
	[w] := [x | some x in f.no_champion]
	w.reason == "no version of adult-income has alias champion"
	contains(w.msg, "no version of adult-income has alias champion")
	f.regression == set()
	f.not_comparable == set()
}

test_metric_missing_on_champion if {
	doc := json.remove(base, ["champion/metrics/accuracy"])
	f := findings(doc, params)
	[r] := [x | some x in f.not_comparable]
	r.metric == "accuracy"
	contains(r.msg, "the champion (version 1) did not log it")
	f.regression == set()
}

test_metric_missing_on_challenger if {
	f := findings(json.remove(base, ["run/metrics/accuracy"]), params)
	some r in f.not_comparable
	contains(r.msg, "the challenger run run-2 did not log it")
}

test_challenger_run_missing if {
	f := findings(object.union(base, {"run": null, "missing": {"run": "registered model has no run"}}), params)
	some r in f.not_comparable
	contains(r.msg, "challenger run evidence is missing (registered model has no run)")
}

test_nothing_without_configuration if {
	doc := object.union(challenger({"accuracy": 0.5}), {"champion": null})
	findings(doc, {"champion": null}) == none
	findings(challenger({"accuracy": 0.5}), {}) == none
}

test_deploy_stage_only if {
	findings(object.union(challenger({"accuracy": 0.5}), {"stage": "register"}), params) == none
	findings(object.union(challenger({"accuracy": 0.5}), {"stage": "rollback"}), params) == none
}

comparison(mode, p, extra) := object.union(
	{
		"metric": "roc_auc", "mode": mode, "margin": 0.01, "alpha": 0.05, "champion": 0.90,
		"challenger": 0.91, "improvement": 0.01, "regression": -0.01, "confidence": 0.95,
		"test": "DeLong (Sun & Xu fast algorithm)", "p_value": p, "p_value_two_sided": 0.2,
		"ci": [-0.005, 0.025],
	},
	extra,
)

paired_doc(c) := object.union(base, {"performance": {
	"task": "classification", "rows": 16281, "metrics": {}, "integrity": [],
	"champion": {"model_uri": "models:/m/1", "alias": "champion", "version": "1", "rows": 16281, "comparisons": {"roc_auc": c}},
}})

proven(c) := found if {
	found := champion.deny_not_proven with input as paired_doc(c) with data.govern.params as params
}

test_superiority_not_significant_fails if {
	[r] := [x | some x in proven(comparison("superiority", 0.1, {}))]
	r.metric == "roc_auc"
	r.p_value == 0.1
	r.threshold == 0.05
	r.msg == "Metric roc_auc: the challenger (0.91) is not significantly better than the champion (0.9, version 1) on the same 16281 rows: DeLong (Sun & Xu fast algorithm) p = 0.1 (alpha 0.05), improvement 0.01, 95% interval [-0.005, 0.025]"
}

test_superiority_significant_passes if proven(comparison("superiority", 0.01, {})) == set()

test_p_value_equal_to_alpha_is_not_significant if count(proven(comparison("superiority", 0.05, {}))) == 1

test_missing_p_value_fails_closed if count(proven(comparison("non_inferiority", null, {}))) == 1

test_non_inferiority_shown_passes if proven(comparison("non_inferiority", 0.001, {})) == set()

test_point_mode_judges_the_measured_regression if {
	proven(comparison("point", null, {})) == set()
	[r] := [x | some x in proven(comparison("point", null, {"regression": 0.02, "improvement": -0.02}))]
	r.regression == 0.02
	r.threshold == 0.01
}

test_point_regression_equal_to_margin_passes if proven(comparison("point", null, {"regression": 0.01})) == set()

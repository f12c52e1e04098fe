package govern.fairness_test

import rego.v1

import data.govern.fairness

params := {"fairness": {
	"sensitive_features": ["sex"],
	"demographic_parity_difference": 0.1,
	"demographic_parity_ratio": 0.8,
	"equalized_odds_difference": 0.1,
	"min_group_size": 30,
	"group_floor": {"metric": "accuracy", "min": 0.75},
}}

sex := {
	"group_sizes": {"Female": 100, "Male": 200},
	"small_groups": [],
	"metrics": {"accuracy": {"overall": 0.85, "by_group": {"Female": 0.9, "Male": 0.8}}},
	"demographic_parity_difference": 0.05,
	"demographic_parity_ratio": 0.85,
	"equalized_odds_difference": 0.05,
}

base := {"stage": "register", "fairness": {"rows": 300, "features": {"sex": sex}}, "missing": {}}

# with_sex(patch) is base with patch merged into the evidence for sex.
with_sex(patch) := object.union(base, {"fairness": {"features": {"sex": patch}}})

with_params(patch) := object.union(params, {"fairness": patch})

findings(doc, p) := f if {
	missing := fairness.deny_evidence_missing with input as doc with data.govern.params as p
	dpd := fairness.deny_demographic_parity_difference with input as doc with data.govern.params as p
	dpr := fairness.deny_demographic_parity_ratio with input as doc with data.govern.params as p
	eod := fairness.deny_equalized_odds_difference with input as doc with data.govern.params as p
	group_floor := fairness.deny_group_floor with input as doc with data.govern.params as p
	small := fairness.warn_small_group with input as doc with data.govern.params as p
	f := {"missing": missing, "dpd": dpd, "dpr": dpr, "eod": eod, "floor": group_floor, "small": small}
}

none := {"missing": set(), "dpd": set(), "dpr": set(), "eod": set(), "floor": set(), "small": set()}

# only(f, key) is the findings f except key are all empty.
only(f, key) if object.remove(f, [key]) == object.remove(none, [key])

test_fair_model_has_no_findings if findings(base, params) == none

test_demographic_parity_difference_fires if {
	f := findings(with_sex({"demographic_parity_difference": 0.15}), params)
	only(f, "dpd")
	[r] := [x | some x in f.dpd]
	r.feature == "sex"
	r.value == 0.15
	r.threshold == 0.1
	r.msg == "Demographic parity difference for sex is 0.15, above the maximum of 0.1"
}

test_demographic_parity_difference_at_threshold if findings(with_sex({"demographic_parity_difference": 0.1}), params) == none

# 0.1 + 0.2 is 0.30000000000000004 in binary floats: numbers are compared as they are, so it
# is above a maximum of 0.3 on both engines.
test_demographic_parity_difference_float_noise if {
	f := findings(with_sex({"demographic_parity_difference": 0.30000000000000004}), with_params({"demographic_parity_difference": 0.3}))
	count(f.dpd) == 1
}

test_null_difference_is_a_failure if {
	f := findings(with_sex({"demographic_parity_difference": null}), params)
	[r] := [x | some x in f.dpd]
	r.value == null
	contains(r.msg, "for sex could not be computed")
}

test_absent_difference_is_a_failure if {
	f := findings(json.remove(base, ["fairness/features/sex/equalized_odds_difference"]), params)
	only(f, "eod")
	count(f.eod) == 1
}

test_demographic_parity_ratio_fires if {
	f := findings(with_sex({"demographic_parity_ratio": 0.7}), params)
	only(f, "dpr")
	[r] := [x | some x in f.dpr]
	r.msg == "Demographic parity ratio for sex is 0.7, below the minimum of 0.8"
}

test_demographic_parity_ratio_float_noise if {
	count(findings(with_sex({"demographic_parity_ratio": 0.7999999999999999}), params).dpr) == 1
}

test_null_ratio_is_a_failure if count(findings(with_sex({"demographic_parity_ratio": null}), params).dpr) == 1

test_null_threshold_disables_check if {
	findings(with_sex({"demographic_parity_ratio": null}), with_params({"demographic_parity_ratio": null})) == none
}

test_equalized_odds_difference_fires if {
	f := findings(with_sex({"equalized_odds_difference": 0.12}), params)
	only(f, "eod")
	[r] := [x | some x in f.eod]
	r.msg == "Equalized odds difference for sex is 0.12, above the maximum of 0.1"
}

test_every_feature_in_evidence_is_checked if {
	doc := object.union(base, {"fairness": {"features": {"race": object.union(sex, {"equalized_odds_difference": 0.2})}}})
	{r.feature | some r in findings(doc, params).eod} == {"race"}
}

test_group_floor_fires if {
	f := findings(with_sex({"metrics": {"accuracy": {"by_group": {"Male": 0.7}}}}), params)
	only(f, "floor")
	[r] := [x | some x in f.floor]
	r.group == "Male"
	r.metric == "accuracy"
	r.value == 0.7
	r.threshold == 0.75
	r.msg == "accuracy for sex=Male is 0.7, below the per-group floor of 0.75"
}

test_group_floor_at_threshold if findings(with_sex({"metrics": {"accuracy": {"by_group": {"Male": 0.75}}}}), params) == none

test_group_floor_skips_small_groups if {
	doc := with_sex({"group_sizes": {"Female": 100, "Male": 20}, "metrics": {"accuracy": {"by_group": {"Male": 0.5}}}})
	f := findings(doc, params)
	f.floor == set()
	[r] := [x | some x in f.small] # GOV-FAIR-005 warns about the very group GOV-FAIR-004 skipped
	r.group == "Male"
}

# The small-group decision is Rego's (params.fairness.min_group_size), not the collector's list.
test_small_groups_follow_the_params_not_the_collector if {
	doc := with_sex({"small_groups": ["Male"], "metrics": {"accuracy": {"by_group": {"Male": 0.5}}}})
	f := findings(doc, params)
	count(f.floor) == 1
	f.small == set()
}

intervals(i) := with_sex({"demographic_parity_difference": 0.09, "intervals": {"confidence": 0.95, "demographic_parity_difference": i}})

uncertain(mode) := with_params({"uncertainty": mode})

test_interval_must_clear_fails_when_the_upper_bound_is_above if {
	f := findings(intervals([0.05, 0.13]), uncertain("interval_must_clear"))
	[r] := [x | some x in f.dpd]
	r.value == 0.09
	r.uncertainty == "interval_must_clear"
	r.msg == "Demographic parity difference for sex is 0.09 (95% interval [0.05, 0.13], judged by interval_must_clear), above the maximum of 0.1"
	findings(intervals([0.05, 0.13]), params).dpd == set() # the point estimate clears it
}

test_fail_beyond_fails_only_when_the_whole_interval_is_above if {
	findings(with_sex({"demographic_parity_difference": 0.12, "intervals": {"demographic_parity_difference": [0.08, 0.16]}}), uncertain("fail_beyond")).dpd == set()
	count(findings(with_sex({"demographic_parity_difference": 0.14, "intervals": {"demographic_parity_difference": [0.11, 0.16]}}), uncertain("fail_beyond")).dpd) == 1
}

test_ratio_bounds_swap_for_a_minimum if {
	doc := with_sex({"demographic_parity_ratio": 0.82, "intervals": {"demographic_parity_ratio": [0.78, 0.9]}})
	count(findings(doc, uncertain("interval_must_clear")).dpr) == 1
	findings(doc, uncertain("fail_beyond")).dpr == set()
}

test_missing_interval_fails_closed if {
	f := findings(base, uncertain("interval_must_clear"))
	[r] := [x | some x in f.dpd]
	contains(r.msg, "has no bootstrap interval")
}

test_per_feature_threshold_and_mode if {
	p := with_params({"per_feature": {"sex": {"demographic_parity_difference": 0.04}}})
	[r] := [x | some x in findings(base, p).dpd]
	r.threshold == 0.04
	q := with_params({"per_feature": {"race": {"demographic_parity_difference": 0.04}}})
	findings(base, q).dpd == set()
}

test_group_floor_null_value_is_a_failure if {
	f := findings(with_sex({"metrics": {"accuracy": {"by_group": {"Female": null}}}}), params)
	[r] := [x | some x in f.floor]
	r.group == "Female"
	contains(r.msg, "could not be computed")
}

test_group_floor_metric_not_computed if {
	f := findings(json.remove(base, ["fairness/features/sex/metrics/accuracy"]), params)
	[r] := [x | some x in f.floor]
	r.msg == "accuracy was not computed per group of sex, so the per-group floor of 0.75 cannot be checked"
}

test_group_floor_off_when_null if {
	doc := with_sex({"metrics": {"accuracy": {"by_group": {"Male": 0.5}}}})
	findings(doc, with_params({"group_floor": null})) == none
}

test_small_group_warns if {
	f := findings(with_sex({"group_sizes": {"Female": 12}}), params)
	only(f, "small")
	[r] := [x | some x in f.small]
	r.group == "Female"
	r.value == 12
	r.msg == "Group sex=Female has 12 rows, fewer than the 30 needed for reliable fairness estimates"
}

test_group_at_min_size_does_not_warn if findings(with_sex({"group_sizes": {"Female": 30}}), params) == none

test_missing_fairness_evidence if {
	doc := object.union(base, {"fairness": null, "missing": {"fairness": "no evaluation dataset in spec"}})
	f := findings(doc, with_params({"sensitive_features": ["sex", "race"]}))
	only(f, "missing")
	{r.feature | some r in f.missing} == {"sex", "race"}
	some r in f.missing
	r.feature == "sex"
	r.msg == "Sensitive feature sex was declared but fairness evidence is missing (no evaluation dataset in spec)"
}

test_declared_feature_without_evidence if {
	f := findings(base, with_params({"sensitive_features": ["sex", "race"]}))
	[r] := [x | some x in f.missing]
	r.feature == "race"
	r.msg == "Sensitive feature race was declared but has no fairness evidence"
}

test_nothing_declared_nothing_required if {
	findings(object.union(base, {"fairness": null}), with_params({"sensitive_features": []})) == none
}

test_not_checked_at_rollback if {
	doc := object.union(with_sex({"demographic_parity_difference": 0.5}), {"stage": "rollback"})
	findings(doc, params) == none
}

proxy_doc := object.union(base, {"fairness": {"proxies": {"rows": 1000, "pairs": [
	{"feature": "personal_status", "sensitive_feature": "sex", "method": "cramers_v", "value": 0.9},
	{"feature": "housing", "sensitive_feature": "sex", "method": "cramers_v", "value": 0.23},
]}}})

proxy_params(action) := with_params({"proxy_threshold": 0.5, "proxy_action": action})

test_proxy_above_threshold_warns if {
	found := fairness.warn_proxy with input as proxy_doc with data.govern.params as proxy_params("warn")
	[r] := [x | some x in found]
	r.feature == "personal_status"
	r.msg == "Input personal_status is a proxy for the sensitive feature sex: cramers_v = 0.9, above 0.5"
	denied := fairness.deny_proxy with input as proxy_doc with data.govern.params as proxy_params("warn")
	denied == set()
}

test_proxy_fails_when_the_spec_says_so if {
	found := fairness.deny_proxy with input as proxy_doc with data.govern.params as proxy_params("fail")
	count(found) == 1
	warned := fairness.warn_proxy with input as proxy_doc with data.govern.params as proxy_params("fail")
	warned == set()
}

test_proxy_at_threshold_passes if {
	doc := object.union(base, {"fairness": {"proxies": {"pairs": [{"feature": "a", "sensitive_feature": "sex", "method": "spearman", "value": 0.5}]}}})
	found := fairness.warn_proxy with input as doc with data.govern.params as proxy_params("warn")
	found == set()
}

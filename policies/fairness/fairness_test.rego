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
	floor := fairness.deny_group_floor with input as doc with data.govern.params as p
	small := fairness.warn_small_group with input as doc with data.govern.params as p
	f := {"missing": missing, "dpd": dpd, "dpr": dpr, "eod": eod, "floor": floor, "small": small}
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
	doc := with_sex({"small_groups": ["Male"], "metrics": {"accuracy": {"by_group": {"Male": 0.5}}}})
	findings(doc, params).floor == set()
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

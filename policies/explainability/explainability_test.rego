package govern.explainability_test

import rego.v1

import data.govern.explainability

params := {
	"explainability": {"required": true, "top_k": 3, "prohibited_features": ["zip_code"], "max_feature_share": 0.5},
	"fairness": {"sensitive_features": ["sex"]},
}

importance(pairs) := [{"feature": f, "mean_abs_shap": s * 2, "share": s} | some [f, s] in pairs]

shares := [["income", 0.4], ["age", 0.3], ["tenure", 0.2], ["sex", 0.06], ["zip_code", 0.04]]

base := {
	"stage": "deploy",
	"explanations": {"method": "tree", "sample_size": 100, "global_importance": importance(shares)},
	"missing": {},
}

ranked(pairs) := object.union(base, {"explanations": {"global_importance": importance(pairs)}})

findings(doc, p) := f if {
	missing := explainability.deny_evidence_missing with input as doc with data.govern.params as p
	top_k := explainability.deny_prohibited_feature_top_k with input as doc with data.govern.params as p
	dominant := explainability.warn_dominant_feature with input as doc with data.govern.params as p
	f := {"missing": missing, "top_k": top_k, "dominant": dominant}
}

none := {"missing": set(), "top_k": set(), "dominant": set()}

test_clean_explanations_have_no_findings if findings(base, params) == none

test_sensitive_feature_in_top_k_fires if {
	f := findings(ranked([["income", 0.4], ["sex", 0.3], ["age", 0.2], ["zip_code", 0.1]]), params)
	[r] := [x | some x in f.top_k]
	r.feature == "sex"
	r.rank == 2
	r.share == 0.3
	r.threshold == 3
	r.msg == "Feature sex ranks #2 of the model's drivers (share 0.3), within the top 3 where prohibited and sensitive features are not allowed"
	f.dominant == set()
}

test_prohibited_feature_at_rank_k_fires if {
	f := findings(ranked([["income", 0.4], ["age", 0.3], ["zip_code", 0.2], ["sex", 0.1]]), params)
	{[r.feature, r.rank] | some r in f.top_k} == {["zip_code", 3]}
}

test_rank_below_k_does_not_fire if {
	findings(ranked([["income", 0.4], ["age", 0.3], ["tenure", 0.2], ["zip_code", 0.1]]), params) == none
}

test_rank_ignores_list_order if {
	f := findings(ranked([["zip_code", 0.05], ["income", 0.5], ["sex", 0.3], ["age", 0.15]]), params)
	{[r.feature, r.rank] | some r in f.top_k} == {["sex", 2]}
}

test_ties_share_the_better_rank if {
	f := findings(ranked([["income", 0.4], ["age", 0.2], ["tenure", 0.2], ["sex", 0.2]]), params)
	{[r.feature, r.rank] | some r in f.top_k} == {["sex", 2]}
}

# Equal larger shares each count: after two features at 0.4, the next one ranks third.
test_rank_counts_every_larger_share if {
	pairs := [["income", 0.4], ["age", 0.4], ["sex", 0.2], ["tenure", 0.1]]
	[r] := [x | some x in findings(ranked(pairs), params).top_k]
	r.rank == 3
	findings(ranked(pairs), object.union(params, {"explainability": {"top_k": 2}})).top_k == set()
}

# Entries that are not objects, or have a blank feature or a non-numeric share, are not ranked.
test_malformed_entries_neither_rank_nor_count if {
	doc := object.union(base, {"explanations": {"global_importance": [
		"income",
		{"feature": " ", "share": 0.9},
		{"feature": "age", "share": "0.8"},
		{"feature": "income", "share": 0.4},
		{"feature": "sex", "share": 0.3},
	]}})
	[r] := [x | some x in findings(doc, params).top_k]
	r.feature == "sex"
	r.rank == 2
}

test_dominant_feature_warns if {
	f := findings(ranked([["income", 0.7], ["age", 0.3]]), params)
	[r] := [x | some x in f.dominant]
	r.feature == "income"
	r.share == 0.7
	r.msg == "Feature income carries 0.7 of the total attribution, more than the 0.5 allowed for one feature"
}

test_dominant_at_threshold_does_not_warn if {
	findings(ranked([["income", 0.5], ["age", 0.5]]), params) == none
}

test_a_share_above_the_threshold_by_float_noise_warns if {
	f := findings(ranked([["income", 0.5000000000000001], ["age", 0.4999999999999999]]), params)
	[r] := [x | some x in f.dominant]
	r.feature == "income"
}

test_missing_explanations_when_required if {
	doc := object.union(base, {"explanations": null, "missing": {"explanations": "shap is not installed"}})
	f := findings(doc, params)
	[r] := [x | some x in f.missing]
	r.msg == "Explanations are required for this model but are missing (shap is not installed)"
	f.top_k == set()
}

test_missing_explanations_when_not_required if {
	doc := object.union(base, {"explanations": null})
	findings(doc, object.union(params, {"explainability": {"required": false}})) == none
}

test_not_checked_at_rollback if {
	doc := object.union(ranked([["sex", 0.9], ["age", 0.1]]), {"stage": "rollback", "explanations": null})
	findings(doc, params) == none
}

unverified_doc := object.union(base, {"explanations": {
	"method": "tree", "sample_size": 200, "global_importance": [],
	"additivity": [{"explainer": "tree", "max_abs_error": 6.26, "tolerance": 0.001, "passed": false}],
	"error": "tree SHAP values do not add up to the model output (max error 6.26)",
}})

test_unverified_explanations_fail if {
	found := explainability.deny_explanation_unverified with input as unverified_doc with data.govern.params as params
	[r] := [x | some x in found]
	r.msg == "Explanations could not be verified: tree SHAP values do not add up to the model output (max error 6.26)"
}

test_verified_explanations_pass if {
	found := explainability.deny_explanation_unverified with input as base with data.govern.params as params
	found == set()
}

package govern.documentation_test

import rego.v1

import data.govern.documentation

params := {"tier": "high", "documentation": {"min_description_length": 20}}

base := {
	"stage": "register",
	"spec": {
		"metadata": {"name": "adult-income", "owner": "ml-team@example.com", "risk_tier": "high", "description": "Predicts income above 50K from census data."},
		"intended_use": {"primary_uses": ["Pre-screening, reviewed by a human."], "out_of_scope": ["Automated decisions."]},
	},
	"missing": {},
}

with_spec(patch) := object.union(base, {"spec": patch})

findings(doc, p) := f if {
	owner := documentation.deny_missing_owner with input as doc with data.govern.params as p
	use := documentation.deny_missing_intended_use with input as doc with data.govern.params as p
	scope := documentation.deny_missing_out_of_scope with input as doc with data.govern.params as p
	scope_warn := documentation.warn_missing_out_of_scope with input as doc with data.govern.params as p
	unacceptable := documentation.deny_unacceptable_risk with input as doc with data.govern.params as p
	short := documentation.warn_short_description with input as doc with data.govern.params as p
	f := {"owner": owner, "use": use, "scope": scope, "scope_warn": scope_warn, "unacceptable": unacceptable, "short": short}
}

none := {"owner": set(), "use": set(), "scope": set(), "scope_warn": set(), "unacceptable": set(), "short": set()}

only(f, key) if object.remove(f, [key]) == object.remove(none, [key])

test_documented_model_has_no_findings if findings(base, params) == none

test_missing_owner_fires if {
	f := findings(json.remove(base, ["spec/metadata/owner"]), params)
	only(f, "owner")
	[r] := [x | some x in f.owner]
	r.msg == "Model adult-income has no accountable owner (metadata.owner)"
	count(findings(with_spec({"metadata": {"owner": "  "}}), params).owner) == 1
}

test_missing_intended_use_fires if {
	f := findings(with_spec({"intended_use": {"primary_uses": []}}), params)
	only(f, "use")
	count(f.use) == 1
	count(findings(json.remove(base, ["spec/intended_use"]), params).use) == 1
}

test_missing_out_of_scope_denied_for_high_tier if {
	f := findings(with_spec({"intended_use": {"out_of_scope": []}}), params)
	only(f, "scope")
	[r] := [x | some x in f.scope]
	r.msg == "High-risk model adult-income does not document its out-of-scope uses (intended_use.out_of_scope is empty)"
}

test_missing_out_of_scope_warned_below_high_tier if {
	doc := json.remove(base, ["spec/intended_use/out_of_scope"])
	f := findings(doc, object.union(params, {"tier": "limited"}))
	only(f, "scope_warn")
	[r] := [x | some x in f.scope_warn]
	r.tier == "limited"
}

test_tier_falls_back_to_spec if {
	doc := object.union(json.remove(base, ["spec/intended_use/out_of_scope"]), {"spec": {"metadata": {"risk_tier": "minimal"}}})
	f := findings(doc, {"documentation": {"min_description_length": 20}})
	count(f.scope_warn) == 1
	f.scope == set()
}

test_unacceptable_risk_fires_at_every_stage if {
	p := object.union(params, {"tier": "unacceptable"})
	every stage in ["register", "deploy", "rollback"] {
		f := findings(object.union(base, {"stage": stage}), p)
		[r] := [x | some x in f.unacceptable]
		r.tier == "unacceptable"
		contains(r.msg, "Art. 5")
	}
}

test_unacceptable_risk_in_spec_alone_fires if {
	doc := with_spec({"metadata": {"risk_tier": "unacceptable"}})
	count(findings(doc, object.union(params, {"tier": "minimal"})).unacceptable) == 1
}

test_short_description_warns if {
	f := findings(with_spec({"metadata": {"description": "  A model.  "}}), params)
	only(f, "short")
	[r] := [x | some x in f.short]
	r.value == 8
	r.threshold == 20
	r.msg == "Model adult-income has a description of 8 characters, shorter than the 20 expected"
}

test_description_at_min_length_does_not_warn if {
	findings(with_spec({"metadata": {"description": "12345678901234567890"}}), params) == none
}

test_missing_description_warns if count(findings(json.remove(base, ["spec/metadata/description"]), params).short) == 1

test_only_unacceptable_checked_at_rollback if {
	doc := object.union(json.remove(base, ["spec/metadata/owner", "spec/intended_use"]), {"stage": "rollback"})
	findings(doc, params) == none
}

# METADATA
# scope: package
# title: Explainability
# description: >-
#   Global feature attributions (input.explanations.global_importance, mean absolute SHAP
#   values sorted largest first) must exist when required and must not be driven by
#   prohibited or sensitive features.
package govern.explainability

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

params := lib.section("explainability")

# explanations_present: input.explanations is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
explanations_present if is_object(lib.evidence("explanations"))

importance := [item |
	some item in lib.arr(lib.get(lib.evidence("explanations"), "global_importance", []))
	is_number(item.share)
	is_string(item.feature)
	trim_space(item.feature) != ""
]

watched := lib.names(object.get(params, "prohibited_features", [])) | lib.names(object.get(lib.section("fairness"), "sensitive_features", []))

# shares is every share, ascending.
shares := sort([item.share | some item in importance])

# rank_of[share] is 1 + the number of features with a strictly larger share (ties share a
# rank): for the last of equal shares at index i of the ascending list, count(shares) - i.
# One pass over the sorted shares, so ranking stays linear after the sort.
rank_of := {share: rank |
	some i, share in shares
	not shares[i + 1] == share
	rank := share_count - i
}

share_count := count(shares)

# METADATA
# title: Explanation evidence present
# description: When params.explainability.required is true, global feature attributions must have been computed.
# custom:
#   id: GOV-XAI-000
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.13", "NIST-AI-RMF:MEASURE-2.9"]
#   requires: [explanations]
#   configured_by: [params.explainability.required]
deny_evidence_missing contains result if {
	input.stage in stages
	params.required == true
	not explanations_present
	reason := lib.missing_reason("explanations")
	result := {
		"msg": sprintf("Explanations are required for this model but are missing (%s)", [reason]),
		"reason": reason,
	}
}

# METADATA
# title: No prohibited or sensitive feature among the top drivers
# description: >-
#   No feature in params.explainability.prohibited_features or
#   params.fairness.sensitive_features may rank within the top params.explainability.top_k
#   features by mean absolute SHAP value.
# custom:
#   id: GOV-XAI-001
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "EU-AI-Act:Art.13", "NIST-AI-RMF:MEASURE-2.9", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [explanations.global_importance]
#   configured_by: [params.explainability.required, params.explainability.top_k]
deny_prohibited_feature_top_k contains result if {
	input.stage in stages
	top_k := object.get(params, "top_k", null)
	is_number(top_k)
	some item in importance
	item.feature in watched
	position := rank_of[item.share]
	position <= top_k
	result := {
		"msg": sprintf("Feature %s ranks #%v of the model's drivers (share %v), within the top %v where prohibited and sensitive features are not allowed", [item.feature, position, item.share, top_k]),
		"feature": item.feature,
		"rank": position,
		"share": item.share,
		"threshold": top_k,
	}
}

# METADATA
# title: No single dominant feature
# description: >-
#   One feature carrying more than params.explainability.max_feature_share of the total
#   attribution suggests leakage or a brittle model.
# custom:
#   id: GOV-XAI-002
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.9"]
#   requires: [explanations.global_importance]
#   configured_by: [params.explainability.required, params.explainability.max_feature_share]
warn_dominant_feature contains result if {
	input.stage in stages
	threshold := object.get(params, "max_feature_share", null)
	is_number(threshold)
	some item in importance
	item.share > threshold
	result := {
		"msg": sprintf("Feature %s carries %v of the total attribution, more than the %v allowed for one feature", [item.feature, item.share, threshold]),
		"feature": item.feature,
		"share": item.share,
		"threshold": threshold,
	}
}

# METADATA
# title: Explanations verified
# description: >-
#   The SHAP values must add up to the model's own output on the explained rows (govern checks
#   additivity and falls back to a permutation explainer). When no explainer produced verified
#   values, input.explanations.error says why, and no ranking from it can be trusted.
# custom:
#   id: GOV-XAI-003
#   severity: high
#   stages: [register, deploy]
#   requires: [explanations]
#   controls: ["EU-AI-Act:Art.13", "NIST-AI-RMF:MEASURE-2.9"]
deny_explanation_unverified contains result if {
	lib.applies(stages)
	reason := lib.get(lib.evidence("explanations"), "error", null)
	is_string(reason)
	result := {
		"msg": sprintf("Explanations could not be verified: %s", [reason]),
		"reason": reason,
		"additivity": lib.get(lib.evidence("explanations"), "additivity", []),
	}
}

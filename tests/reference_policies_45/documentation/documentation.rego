# METADATA
# scope: package
# title: Documentation
# description: >-
#   The model spec (input.spec) must document who is accountable for the model, what it is
#   for and what it must not be used for, and its risk tier must allow it to be used at all.
package govern.documentation

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

all_stages := {"register", "deploy", "rollback"}

spec := lib.obj(lib.evidence("spec"))

metadata := lib.obj(object.get(spec, "metadata", {}))

intended_use := lib.obj(object.get(spec, "intended_use", {}))

model_name := n if {
	n := object.get(metadata, "name", null)
	lib.present(n)
} else := "(unnamed model)"

# METADATA
# title: Accountable owner named
# description: The spec must name an accountable owner (metadata.owner), a team or a person.
# custom:
#   id: GOV-DOC-001
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.14", "NIST-AI-RMF:GOVERN-2.1"]
#   requires: [spec.metadata]
deny_missing_owner contains result if {
	input.stage in stages
	not lib.present(object.get(metadata, "owner", null))
	result := {"msg": sprintf("Model %s has no accountable owner (metadata.owner)", [model_name])}
}

# METADATA
# title: Intended use documented
# description: The spec must list at least one primary use (intended_use.primary_uses).
# custom:
#   id: GOV-DOC-002
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.13", "NIST-AI-RMF:MAP-1.1"]
#   requires: [spec]
deny_missing_intended_use contains result if {
	input.stage in stages
	count(lib.names(object.get(intended_use, "primary_uses", []))) == 0
	result := {"msg": sprintf("Model %s does not document its intended use (intended_use.primary_uses is empty)", [model_name])}
}

# METADATA
# title: Out-of-scope uses documented for high-risk models
# description: A high-risk model must list the uses it is not fit for (intended_use.out_of_scope).
# custom:
#   id: GOV-DOC-003
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.13", "NIST-AI-RMF:MAP-1.1"]
#   requires: [spec]
deny_missing_out_of_scope contains result if {
	input.stage in stages
	lib.tier == "high"
	not has_out_of_scope
	result := {
		"msg": sprintf("High-risk model %s does not document its out-of-scope uses (intended_use.out_of_scope is empty)", [model_name]),
		"tier": lib.tier,
	}
}

# METADATA
# title: Out-of-scope uses documented
# description: A model below the high risk tier should still list the uses it is not fit for (intended_use.out_of_scope).
# custom:
#   id: GOV-DOC-006
#   severity: low
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.13", "NIST-AI-RMF:MAP-1.1"]
#   requires: [spec]
warn_missing_out_of_scope contains result if {
	input.stage in stages
	lib.tier != "high"
	not has_out_of_scope
	result := {
		"msg": sprintf("Model %s does not document its out-of-scope uses (intended_use.out_of_scope is empty)", [model_name]),
		"tier": lib.tier,
	}
}

has_out_of_scope if count(lib.names(object.get(intended_use, "out_of_scope", []))) > 0

# METADATA
# title: Risk tier is not unacceptable
# description: >-
#   A model classified as an unacceptable risk falls under the practices prohibited by the
#   EU AI Act and can never be registered, deployed or rolled back to.
# custom:
#   id: GOV-DOC-004
#   severity: critical
#   stages: [register, deploy, rollback]
#   controls: ["EU-AI-Act:Art.5", "NIST-AI-RMF:GOVERN-1.1"]
#   requires: [spec.metadata]
deny_unacceptable_risk contains result if {
	input.stage in all_stages
	unacceptable
	result := {
		"msg": sprintf("Model %s is classified as an unacceptable risk (EU AI Act Art. 5 prohibited practice) and cannot be put into use", [model_name]),
		"tier": "unacceptable",
	}
}

unacceptable if lib.tier == "unacceptable"

unacceptable if metadata.risk_tier == "unacceptable"

# METADATA
# title: Description long enough to be useful
# description: The spec's metadata.description should have at least params.documentation.min_description_length characters.
# custom:
#   id: GOV-DOC-005
#   severity: low
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "NIST-AI-RMF:MAP-1.1"]
#   requires: [spec.metadata]
#   configured_by: [params.documentation.min_description_length]
warn_short_description contains result if {
	input.stage in stages
	threshold := object.get(lib.section("documentation"), "min_description_length", null)
	is_number(threshold)
	length := count(trim_space(lib.str(object.get(metadata, "description", ""))))
	length < threshold
	result := {
		"msg": sprintf("Model %s has a description of %v characters, shorter than the %v expected", [model_name, length, threshold]),
		"value": length,
		"threshold": threshold,
	}
}

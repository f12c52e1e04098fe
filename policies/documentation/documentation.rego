# METADATA
# scope: package
# title: Documentation
# description: >-
#   The model spec (input.spec) must document who is accountable for the model, what it is
#   for and what it must not be used for, and its risk tier must allow it to be used at all.
package govern.documentation

import rego.v1

stages := {"register", "deploy"}

all_stages := {"register", "deploy", "rollback"}

spec := s if {
	s := input.spec
	is_object(s)
} else := {}

metadata := m if {
	m := spec.metadata
	is_object(m)
} else := {}

intended_use := u if {
	u := spec.intended_use
	is_object(u)
} else := {}

# tier: the risk tier the parameters were built for, falling back to the spec's (as lib.tier,
# read here so that the pack needs no rule of another package on its way).
tier := t if {
	t := data.govern.params.tier
	is_string(t)
	trim_space(t) != ""
} else := t if {
	t := metadata.risk_tier
	is_string(t)
	trim_space(t) != ""
} else := "minimal"

model_name := n if {
	n := metadata.name
	is_string(n)
	trim_space(n) != ""
} else := "(unnamed model)"

owner_named if {
	owner := metadata.owner
	is_string(owner)
	trim_space(owner) != ""
}

# has_primary_use: intended_use.primary_uses lists a non-blank string.
has_primary_use if {
	uses := intended_use.primary_uses
	is_array(uses)
	some use in uses
	is_string(use)
	trim_space(use) != ""
}

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
	not owner_named
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
	not has_primary_use
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
	tier == "high"
	not has_out_of_scope
	result := {
		"msg": sprintf("High-risk model %s does not document its out-of-scope uses (intended_use.out_of_scope is empty)", [model_name]),
		"tier": tier,
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
	tier != "high"
	not has_out_of_scope
	result := {
		"msg": sprintf("Model %s does not document its out-of-scope uses (intended_use.out_of_scope is empty)", [model_name]),
		"tier": tier,
	}
}

has_out_of_scope if {
	uses := intended_use.out_of_scope
	is_array(uses)
	some use in uses
	is_string(use)
	trim_space(use) != ""
}

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

description := d if {
	d := metadata.description
	is_string(d)
} else := ""

unacceptable if tier == "unacceptable"

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
	threshold := data.govern.params.documentation.min_description_length
	is_number(threshold)
	length := count(trim_space(description))
	length < threshold
	result := {
		"msg": sprintf("Model %s has a description of %v characters, shorter than the %v expected", [model_name, length, threshold]),
		"value": length,
		"threshold": threshold,
	}
}

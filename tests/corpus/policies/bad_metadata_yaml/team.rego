package team.badyaml

import rego.v1

# METADATA
# title: Owner named
# custom:
#   id: TEAM-YAML-001
#   severity: [high
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
}

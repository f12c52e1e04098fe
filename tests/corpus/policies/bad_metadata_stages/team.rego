package team.badstages

import rego.v1

# METADATA
# title: Owner named
# custom:
#   id: TEAM-STAGE-001
#   severity: high
#   stages: [register, production]
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
}

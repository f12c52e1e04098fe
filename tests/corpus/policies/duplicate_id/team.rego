package team.dupid

import rego.v1

# METADATA
# custom:
#   id: TEAM-DUP-001
#   severity: high
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
}

# METADATA
# custom:
#   id: TEAM-DUP-001
#   severity: medium
warn_no_licence contains msg if {
	not input.spec.metadata.licence
	msg := "no licence"
}

package team.badseverity

import rego.v1

# METADATA
# title: Owner named
# custom:
#   id: TEAM-SEV-001
#   severity: blocker
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
}

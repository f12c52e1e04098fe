package team.syntax

import rego.v1

# METADATA
# custom:
#   id: TEAM-SYN-001
#   severity: high
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
# the closing brace is missing

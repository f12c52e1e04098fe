package team.runtime

import rego.v1

# METADATA
# custom:
#   id: TEAM-RT-001
#   severity: high
deny_x contains msg if {
	x := to_number("abc")
	msg := sprintf("%v", [x])
}

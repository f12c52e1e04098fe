package team.unsafe

import rego.v1

# METADATA
# custom:
#   id: TEAM-UNSAFE-001
#   severity: high
deny_unsafe contains msg if {
	msg := sprintf("threshold %v", [threshold])
}

package team.meta

import rego.v1

# METADATA
# custom:
#   id: TEAM-M-001
#   stages: []
deny_x contains "x" if {
	input.stage == "nowhere"
}

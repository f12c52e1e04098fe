package team.meta

import rego.v1

# METADATA
# custom:
#   id: "GOV-FAIR-001\n"
deny_x contains "x" if {
	input.stage == "nowhere"
}

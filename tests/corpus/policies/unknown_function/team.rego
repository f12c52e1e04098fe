package team.unknownfn

import rego.v1

# METADATA
# custom:
#   id: TEAM-FN-001
#   severity: high
deny_unknown_fn contains msg if {
	acc := input.run.metrics.accuracy
	strings.to_percent(acc) < 85
	msg := "accuracy below 85%"
}

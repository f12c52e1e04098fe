package team.dupbuiltin

import rego.v1

# METADATA
# custom:
#   id: GOV-PERF-001
#   severity: high
deny_accuracy contains msg if {
	input.run.metrics.accuracy < 0.5
	msg := "accuracy below 0.5"
}

package team.legacyfn

# METADATA
# custom:
#   id: TEAM-V0FN-001
#   severity: high
deny_low_accuracy[msg] {
	acc := input.run.metrics.accuracy
	strings.to_percent(acc) < 85
	msg := "accuracy below 85%"
}

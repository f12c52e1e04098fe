package team.legacyunsafe

# METADATA
# custom:
#   id: TEAM-V0UNSAFE-001
#   severity: high
deny_unsafe[msg] {
	input.run.metrics.accuracy < 0.9
	msg := sprintf("threshold %v", [threshold])
}

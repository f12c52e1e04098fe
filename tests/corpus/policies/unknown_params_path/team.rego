package team.params

import rego.v1

# METADATA
# custom:
#   id: TEAM-P-001
deny_gap contains msg if {
	some feature, stats in input.fairness.features
	stats.demographic_parity_difference > data.govern.params.fairness.demographic_parity_diff
	msg := sprintf("gap on %s", [feature])
}

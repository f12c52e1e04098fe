package team.legacy

# METADATA
# custom:
#   id: TEAM-V0-001
#   severity: high
deny_no_owner[msg] {
	not input.spec.metadata.owner
	msg := "no owner"
}

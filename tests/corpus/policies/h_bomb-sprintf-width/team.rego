package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	s := sprintf("%999999999999d", [1])
	count(s) > 0
	msg := "denied"
}

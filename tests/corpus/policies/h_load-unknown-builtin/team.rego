package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	x := not_a_builtin(1)
	x
	msg := "denied"
}

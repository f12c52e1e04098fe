package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	x := to_number("abc")
	x > 0
	msg := "denied"
}

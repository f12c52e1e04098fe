package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	regex.match("(", "x")
	msg := "denied"
}

package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	x := 1 / (count(input.model.aliases) - count(input.model.aliases))
	x > 0
	msg := "denied"
}

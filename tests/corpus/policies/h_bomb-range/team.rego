package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	xs := numbers.range(1, 2000000000)
	count(xs) > 0
	msg := "denied"
}

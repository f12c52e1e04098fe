package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	xs := [x | some x in numbers.range(1, 25000000)]
	count(xs) > 0
	msg := "denied"
}

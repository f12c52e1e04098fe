package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	s := concat("", [x | some i in numbers.range(1, 30000000); x := "abcdefghij"])
	count(s) > 0
	msg := "denied"
}

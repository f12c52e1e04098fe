package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	xs := [concat("", [y | some y in array.concat(["x"], [z | some z in numbers.range(1, 3000000); z > 0; y := "x"])]) | some k in numbers.range(1, 50)]
	count(xs) > 0
	msg := "denied"
}

package team.h

# METADATA
# title: Hostile rule
# custom:
#   id: TEAM-H-001
#   severity: high
deny contains msg if {
	x := object.get("notobj", "k", 1)
	x > 0
	msg := "denied"
}

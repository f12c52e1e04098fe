package team.h

# METADATA
# title: Conflict
# custom:
#   id: TEAM-H-001
#   severity: high
deny_one := "a"

deny_one := "b" if { input.stage }

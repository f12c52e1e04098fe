package team.h

# METADATA
# title: x
# custom:
#   severity: high
deny contains m if { m := input.run.metrics.x }

package team.conflict

import rego.v1

# METADATA
# custom:
#   id: TEAM-CONFLICT-001
#   severity: high
deny_conflict := "accuracy too low" if input.run.metrics.accuracy > 0

deny_conflict := "roc_auc too low" if input.run.metrics.roc_auc > 0

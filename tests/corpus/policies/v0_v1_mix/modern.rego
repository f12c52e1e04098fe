package team.modern

import rego.v1

deny_no_owner contains "no owner" if {
	not input.spec.metadata.owner
}

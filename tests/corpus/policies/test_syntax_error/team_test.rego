package team.syntax_test

import rego.v1

test_owner_present if {
	input.spec.metadata.owner == "x" with input as {"spec": {"metadata": {"owner": "x"}}
}

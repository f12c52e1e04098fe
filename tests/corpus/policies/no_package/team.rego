import rego.v1

# METADATA
# custom:
#   id: TEAM-NOPKG-001
deny_no_owner contains msg if {
	not input.spec.metadata.owner
	msg := "no owner"
}

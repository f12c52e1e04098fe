package govern.live_quarantine_test

import rego.v1

import data.govern.live

base := {
	"stage": "deploy",
	"model": {"name": "m", "version": "3", "tags": {"govern.deploy.outcome": "pass"}},
	"missing": {},
}

quarantined := object.union(base, {"model": {"tags": {
	"govern.quarantine.decision_id": "d-1",
	"govern.quarantine.reason": "GOV-LIVE-005",
}}})

denials(doc) := d if {
	d := live.deny_quarantined with input as doc
}

test_a_version_without_the_tag_passes if count(denials(base)) == 0

test_a_quarantined_version_is_denied if {
	[r] := [x | some x in denials(quarantined)]
	r.decision_id == "d-1"
	r.msg == "Version 3 is quarantined: rolled back by decision d-1 (GOV-LIVE-005)"
}

test_only_at_deploy if count(denials(object.union(quarantined, {"stage": "rollback"}))) == 0

test_a_blank_tag_is_no_quarantine if {
	count(denials(object.union(base, {"model": {"tags": {"govern.quarantine.decision_id": " "}}}))) == 0
}

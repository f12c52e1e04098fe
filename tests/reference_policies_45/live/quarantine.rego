# Quarantine, part of the live pack: a version the rollback gate moved an alias away from, for
# failing its live rules, carries the model-version tag govern.quarantine.decision_id. It must not
# be promoted again unless a waiver for this rule says so.
package govern.live

import rego.v1

import data.govern.lib

quarantine_stages := {"deploy"}

version_tags := lib.obj(lib.get(lib.evidence("model"), "tags", {}))

# METADATA
# title: Version not quarantined after a rollback
# description: >-
#   A version rolled back for failing live rules is quarantined (tag govern.quarantine.decision_id);
#   promoting it again needs a waiver for this rule.
# custom:
#   id: GOV-LIVE-007
#   severity: critical
#   stages: [deploy]
#   requires: [model]
#   controls: ["EU-AI-Act:Art.72", "NIST-AI-RMF:MANAGE-4.1", "NIST-AI-RMF:MANAGE-2.4"]
deny_quarantined contains result if {
	lib.applies(quarantine_stages)
	decision := version_tags["govern.quarantine.decision_id"]
	lib.present(decision)
	reason := lib.get(version_tags, "govern.quarantine.reason", "failed its live rules")
	result := {
		"msg": sprintf("Version %v is quarantined: rolled back by decision %s (%s)", [lib.get(lib.evidence("model"), "version", null), decision, reason]),
		"decision_id": decision,
		"reason": reason,
	}
}

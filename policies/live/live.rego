# METADATA
# scope: package
# title: Live performance
# description: >-
#   At rollback, the monitored live metrics (input.live.metrics) of the version being
#   rolled back to must meet the bounds in params.live (from the spec's requirements.live).
package govern.live

import rego.v1

import data.govern.lib

stages := {"rollback"}

bounds := lib.section("live")

# live_present: input.live is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
live_present if is_object(lib.evidence("live"))

live_metrics := lib.obj(lib.get(lib.evidence("live"), "metrics", {}))

window := w if {
	w := lib.get(lib.evidence("live"), "window", null)
	lib.present(w)
} else := "the monitoring window"

# METADATA
# title: Live metric evidence present
# description: When params.live sets bounds, live metrics must have been collected.
# custom:
#   id: GOV-LIVE-000
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_evidence_missing contains result if {
	input.stage in stages
	count(bounds) > 0
	not live_present
	reason := lib.missing_reason("live")
	result := {
		"msg": sprintf("Live metrics are required but missing (%s)", [reason]),
		"reason": reason,
	}
}

# METADATA
# title: Live metric at or above its minimum
# description: Each live metric with a min in params.live must be at least that min.
# custom:
#   id: GOV-LIVE-001
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_live_metric_below_min contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_min(bound)
	value := live_metrics[name]
	is_number(value)
	value < threshold
	result := {
		"msg": sprintf("Live metric %s is %v over %s, below the required minimum of %v", [name, value, window, threshold]),
		"metric": name,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Live metric at or below its maximum
# description: Each live metric with a max in params.live must be at most that max.
# custom:
#   id: GOV-LIVE-002
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_live_metric_above_max contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_max(bound)
	value := live_metrics[name]
	is_number(value)
	value > threshold
	result := {
		"msg": sprintf("Live metric %s is %v over %s, above the allowed maximum of %v", [name, value, window, threshold]),
		"metric": name,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Live metric with a threshold reported
# description: Each metric with a bound in params.live must be reported by the live source.
# custom:
#   id: GOV-LIVE-003
#   severity: medium
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.12", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_live_metric_not_reported contains result if {
	input.stage in stages
	live_present
	some name, bound in bounds
	has_threshold(bound)
	not is_number(object.get(live_metrics, name, null))
	source := live_source
	result := {
		"msg": sprintf("Live metric %s has a threshold but was not reported by %v", [name, source]),
		"metric": name,
		"value": null,
	}
}

has_threshold(bound) if lib.bound_min(bound)

has_threshold(bound) if lib.bound_max(bound)

live_source := s if {
	s := lib.get(lib.evidence("live"), "source", null)
	lib.present(s)
} else := "the live source"

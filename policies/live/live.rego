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

bounds := b if {
	b := data.govern.params.live
	is_object(b)
} else := {}

# live_present: input.live is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
live_present if is_object(input.live)

live := l if {
	l := input.live
	is_object(l)
} else := {}

live_metrics := m if {
	m := live.metrics
	is_object(m)
} else := {}

live_drops := d if {
	d := live.drops
	is_object(d)
} else := {}

baselines := b if {
	b := live.baseline
	is_object(b)
} else := {}

min_samples := m if {
	m := data.govern.params.live_samples.min
	is_number(m)
}

live_samples := object.get(live, "samples", null)

# samples_short: too few live samples to judge the live metrics. The rules below then skip with
# this reason instead of judging: a rollback is never decided on too little data.
samples_short if live.judged == false

samples_short if {
	is_number(live_samples)
	live_samples < min_samples
}

required_samples := m if {
	m := min_samples
} else := object.get(live, "min_samples", null)

short_result := {
	"msg": sprintf("not enough live samples over %s: %v, fewer than the %v required; not judged", [window, live_samples, required_samples]),
	"skip": true,
	"samples": live_samples,
}

# Each live-metric rule skips (a result with skip: true) when the samples are too few.
skips contains short_result if {
	input.stage in stages
	count(bounds) > 0
	samples_short
}

# ... and when the version is one a rollback restored, with no live metrics of its own yet.
skips contains restored_result if {
	input.stage in stages
	count(bounds) > 0
	not live_present
	restored
}

restored_result := {
	"msg": sprintf("restored by rollback decision %s and no live metrics of its own yet (%s); not judged", [restored_by, lib.missing_reason("live")]),
	"skip": true,
	"reason": lib.missing_reason("live"),
}

# The numeric limits of each bound: min, max, max_drop and max_relative_drop.
min_bounds := {name: m |
	some name, bound in bounds
	m := bound.min
	is_number(m)
}

max_bounds := {name: m |
	some name, bound in bounds
	m := bound.max
	is_number(m)
}

max_drops := {name: m |
	some name, bound in bounds
	m := bound.max_drop
	is_number(m)
}

max_relative_drops := {name: m |
	some name, bound in bounds
	m := bound.max_relative_drop
	is_number(m)
}

# drop_judged: the metrics judged by a drop; thresholded: those with any limit.
drop_judged := {name | some name, _ in max_drops} | {name | some name, _ in max_relative_drops}

thresholded := ({name | some name, _ in min_bounds} | {name | some name, _ in max_bounds}) | drop_judged

window := w if {
	w := live.window
	is_string(w)
	trim_space(w) != ""
} else := "the monitoring window"

# METADATA
# title: Live metric evidence present
# description: When params.live sets bounds, live metrics must have been collected.
# custom:
#   id: GOV-LIVE-000
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
#   requires: [live]
#   configured_by: [params.live]
deny_evidence_missing contains result if {
	input.stage in stages
	count(bounds) > 0
	not live_present
	not restored
	reason := lib.missing_reason("live")
	result := {
		"msg": sprintf("Live metrics are required but missing (%s)", [reason]),
		"reason": reason,
	}
}

# A version the rollback gate moved an alias back to has no live evidence of its own at first:
# until it has, it is not judged (a skip naming the rollback), rather than failed for lacking it.
deny_evidence_missing contains result if {
	input.stage in stages
	count(bounds) > 0
	not live_present
	restored
	reason := lib.missing_reason("live")
	result := {
		"msg": sprintf("restored by rollback decision %s and no live metrics of its own yet (%s); not judged", [restored_by, reason]),
		"skip": true,
		"reason": reason,
	}
}

restored_by := r if {
	tags := input.model.tags
	is_object(tags)
	r := object.get(tags, "govern.restored.decision_id", "")
} else := ""

restored if {
	is_string(restored_by)
	trim_space(restored_by) != ""
}

# METADATA
# title: Live metric at or above its minimum
# description: Each live metric with a min in params.live must be at least that min.
# custom:
#   id: GOV-LIVE-001
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
#   requires: [live.metrics]
#   configured_by: [params.live]
deny_live_metric_below_min contains result if some result in skips

deny_live_metric_below_min contains result if {
	input.stage in stages
	some name, threshold in min_bounds
	not samples_short
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
#   requires: [live.metrics]
#   configured_by: [params.live]
deny_live_metric_above_max contains result if some result in skips

deny_live_metric_above_max contains result if {
	input.stage in stages
	some name, threshold in max_bounds
	not samples_short
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
#   requires: [live]
#   configured_by: [params.live]
deny_live_metric_not_reported contains result if some result in skips

deny_live_metric_not_reported contains result if {
	input.stage in stages
	live_present
	some name in thresholded
	not samples_short
	not is_number(object.get(live_metrics, name, null))
	result := {
		"msg": sprintf("Live metric %s has a threshold but was not reported by %v", [name, live_source]),
		"metric": name,
		"value": null,
	}
}

live_source := s if {
	s := live.source
	is_string(s)
	trim_space(s) != ""
} else := "the live source"

# METADATA
# title: Live metric within its allowed drop from validation
# description: >-
#   Each live metric with max_drop in params.live must not have dropped by more than that from
#   the version's own validation value (the drop is computed at collection, in live.drops).
# custom:
#   id: GOV-LIVE-004
#   requires: [live]
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_live_metric_dropped contains result if some result in skips

deny_live_metric_dropped contains result if {
	input.stage in stages
	some name, limit in max_drops
	not samples_short
	drop := live_drops[name].absolute
	is_number(drop)
	drop > limit
	result := {
		"msg": sprintf("Live metric %s is %v over %s, %v below its validation value of %v (allowed drop %v)", [name, live_metrics[name], window, drop, baselines[name], limit]),
		"metric": name,
		"value": live_metrics[name],
		"baseline": baselines[name],
		"drop": drop,
		"threshold": limit,
	}
}

# METADATA
# title: Live metric within its allowed relative drop from validation
# description: >-
#   Each live metric with max_relative_drop in params.live (0.02 = 2 %) must not have dropped by
#   more than that fraction of the version's own validation value.
# custom:
#   id: GOV-LIVE-005
#   requires: [live]
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "EU-AI-Act:Art.72", "NIST-AI-RMF:MEASURE-2.4", "NIST-AI-RMF:MANAGE-4.1"]
deny_live_metric_relative_drop contains result if some result in skips

deny_live_metric_relative_drop contains result if {
	input.stage in stages
	some name, limit in max_relative_drops
	not samples_short
	drop := live_drops[name].relative
	is_number(drop)
	drop > limit
	result := {
		"msg": sprintf("Live metric %s is %v over %s, a relative drop of %v from its validation value of %v (allowed %v)", [name, live_metrics[name], window, drop, baselines[name], limit]),
		"metric": name,
		"value": live_metrics[name],
		"baseline": baselines[name],
		"drop": drop,
		"threshold": limit,
	}
}

# METADATA
# title: Validation baseline present for a drop rule
# description: >-
#   A live metric judged by its drop needs the version's validation value (a run metric of the
#   same name, or the bound's baseline); without it the drop cannot be judged, which is a failure.
# custom:
#   id: GOV-LIVE-006
#   requires: [live]
#   configured_by: [params.live]
#   severity: high
#   stages: [rollback]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.4"]
deny_live_baseline_missing contains result if some result in skips

deny_live_baseline_missing contains result if {
	input.stage in stages
	live_present
	some name in drop_judged
	not is_number(object.get(baselines, name, null))
	source := object.get(bounds[name], "baseline", name)
	result := {
		"msg": sprintf("evidence missing: live metric %s is judged by its drop, but the version's run has no validation metric %s", [name, source]),
		"metric": name,
		"baseline": source,
	}
}

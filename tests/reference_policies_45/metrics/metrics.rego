# METADATA
# scope: package
# title: Performance metrics
# description: >-
#   The model's logged evaluation metrics (input.run.metrics) must meet the bounds in
#   params.metrics (from the spec's requirements.metrics).
package govern.metrics

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

bounds := lib.section("metrics")

# run_present: input.run is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
run_present if is_object(lib.evidence("run"))

run_metrics := lib.obj(lib.get(lib.evidence("run"), "metrics", {}))

# Scores govern measured on the evaluation data (input.performance); they win over logged ones.
measured := lib.obj(lib.get(lib.evidence("performance"), "metrics", {}))

measured_value(name) := v if {
	v := object.get(object.get(measured, name, {}), "value", null)
	is_number(v)
}

# metric_values[name]: the measured value when govern measured it, else the logged one.
metric_values[name] := v if {
	some name, _ in bounds
	v := measured_value(name)
}

metric_values[name] := v if {
	some name, _ in bounds
	not measured_value(name)
	v := run_metrics[name]
}

integrity_tolerance := t if {
	t := object.get(object.get(lib.params, "performance", {}), "integrity_tolerance", null)
	is_number(t)
}

# METADATA
# title: Metric at or above its minimum
# description: Each metric with a min in params.metrics must be logged on the run with a value of at least that min.
# custom:
#   id: GOV-PERF-001
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MEASURE-2.5"]
#   requires: [run.metrics]
#   configured_by: [params.metrics]
deny_metric_below_min contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_min(bound)
	value := metric_values[name]
	is_number(value)
	value < threshold
	result := {
		"msg": sprintf("Metric %s is %v, below the required minimum of %v", [name, value, threshold]),
		"metric": name,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Metric at or below its maximum
# description: Each metric with a max in params.metrics must be logged on the run with a value of at most that max.
# custom:
#   id: GOV-PERF-002
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MEASURE-2.5"]
#   requires: [run.metrics]
#   configured_by: [params.metrics]
deny_metric_above_max contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_max(bound)
	value := metric_values[name]
	is_number(value)
	value > threshold
	result := {
		"msg": sprintf("Metric %s is %v, above the allowed maximum of %v", [name, value, threshold]),
		"metric": name,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Metric with a threshold is logged
# description: >-
#   A metric that has a threshold in params.metrics must be logged on the run; a missing
#   metric, or missing run evidence, cannot be taken as a pass.
# custom:
#   id: GOV-PERF-003
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3"]
#   requires: [run.metrics]
#   configured_by: [params.metrics]
deny_metric_not_logged contains result if {
	input.stage in stages
	some name, bound in bounds
	has_threshold(bound)
	run_present
	not is_number(object.get(run_metrics, name, null))
	not measured_value(name)
	result := {
		"msg": sprintf("Metric %s has a threshold but is not logged on run %v", [name, lib.get(lib.evidence("run"), "id", "(unknown)")]),
		"metric": name,
		"value": null,
	}
}

deny_metric_not_logged contains result if {
	input.stage in stages
	not run_present
	some name, bound in bounds
	has_threshold(bound)
	reason := lib.missing_reason("run")
	result := {
		"msg": sprintf("Metric %s cannot be checked: run evidence is missing (%s)", [name, reason]),
		"metric": name,
		"value": null,
		"reason": reason,
	}
}

has_threshold(bound) if lib.bound_min(bound)

has_threshold(bound) if lib.bound_max(bound)

# METADATA
# title: Logged metric agrees with the measured one
# description: >-
#   A metric logged on the run that govern also measured on the evaluation data
#   (input.performance.integrity) must not differ from the measured value by more than
#   params.performance.integrity_tolerance: self-reported figures are checked, not trusted.
# custom:
#   id: GOV-PERF-004
#   severity: high
#   stages: [register, deploy]
#   requires: [performance]
#   configured_by: [spec.data.evaluation]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MEASURE-2.5"]
deny_metric_integrity contains result if {
	lib.applies(stages)
	tolerance := integrity_tolerance
	some item in lib.get(lib.evidence("performance"), "integrity", [])
	item.difference > tolerance
	result := {
		"msg": sprintf(
			"Metric %s is logged as %v (%s) but measures %v on %v evaluation rows: off by %v, more than the tolerance %v",
			[item.metric, item.logged, object.get(item, "logged_as", item.metric), item.measured, lib.get(lib.evidence("performance"), "rows", "?"), item.difference, tolerance],
		),
		"metric": item.metric,
		"value": item.logged,
		"measured": item.measured,
		"difference": item.difference,
		"threshold": tolerance,
	}
}

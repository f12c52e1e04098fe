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

# METADATA
# title: Metric at or above its minimum
# description: Each metric with a min in params.metrics must be logged on the run with a value of at least that min.
# custom:
#   id: GOV-PERF-001
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MEASURE-2.5"]
deny_metric_below_min contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_min(bound)
	value := run_metrics[name]
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
deny_metric_above_max contains result if {
	input.stage in stages
	some name, bound in bounds
	threshold := lib.bound_max(bound)
	value := run_metrics[name]
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
deny_metric_not_logged contains result if {
	input.stage in stages
	some name, bound in bounds
	has_threshold(bound)
	run_present
	not is_number(object.get(run_metrics, name, null))
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

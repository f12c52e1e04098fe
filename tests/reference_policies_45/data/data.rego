# METADATA
# scope: package
# title: Data quality and drift
# description: >-
#   The evaluation data (input.data) must be complete, conform to the expected schema, be
#   large enough, and not have drifted from the reference data beyond params.data.
package govern.data

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

params := lib.section("data")

# data_present: input.data is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
data_present if is_object(lib.evidence("data"))

evaluation := lib.obj(lib.get(lib.evidence("data"), "evaluation", {}))

dataset_name := n if {
	n := object.get(evaluation, "name", null)
	lib.present(n)
} else := "evaluation data"

drift := lib.obj(lib.get(lib.evidence("data"), "drift", {}))

# METADATA
# title: Data evidence present
# description: The evaluation data must have been profiled.
# custom:
#   id: GOV-DATA-000
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.3"]
#   requires: [data]
deny_evidence_missing contains result if {
	input.stage in stages
	not data_present
	reason := lib.missing_reason("data")
	result := {
		"msg": sprintf("Data quality cannot be checked: data evidence is missing (%s)", [reason]),
		"reason": reason,
	}
}

# METADATA
# title: Null share within threshold
# description: No column of the evaluation data may have a share of null values above params.data.max_null_share.
# custom:
#   id: GOV-DATA-001
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.3"]
#   requires: [data.evaluation.columns]
#   configured_by: [params.data.max_null_share]
deny_null_share contains result if {
	input.stage in stages
	threshold := object.get(params, "max_null_share", null)
	is_number(threshold)
	some column, profile in lib.obj(object.get(evaluation, "columns", {}))
	value := profile.null_share
	is_number(value)
	value > threshold
	result := {
		"msg": sprintf("Column %s of the %s is %v null, above the maximum null share of %v", [column, dataset_name, value, threshold]),
		"column": column,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Population stability within threshold
# description: >-
#   The population stability index (PSI) of each feature between the reference and the
#   evaluation data must not exceed params.data.max_psi. Features without a PSI are skipped.
# custom:
#   id: GOV-DATA-002
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.5"]
#   requires: [data.drift]
#   configured_by: [params.data.max_psi, spec.data.reference]
deny_drift_psi contains result if {
	input.stage in stages
	threshold := object.get(params, "max_psi", null)
	is_number(threshold)
	some feature, stats in drift
	value := stats.psi
	is_number(value)
	value > threshold
	result := {
		"msg": sprintf("Feature %s has drifted: PSI %v between reference and evaluation data is above the maximum of %v", [feature, value, threshold]),
		"feature": feature,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Kolmogorov-Smirnov statistic within threshold
# description: >-
#   The two-sample Kolmogorov-Smirnov statistic of each numeric feature between the
#   reference and the evaluation data should not exceed params.data.max_ks_statistic.
# custom:
#   id: GOV-DATA-003
#   severity: low
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.5"]
#   requires: [data.drift]
#   configured_by: [params.data.max_ks_statistic, spec.data.reference]
warn_drift_ks contains result if {
	input.stage in stages
	threshold := object.get(params, "max_ks_statistic", null)
	is_number(threshold)
	some feature, stats in drift
	value := stats.ks_statistic
	is_number(value)
	value > threshold
	result := {
		"msg": sprintf("Feature %s may have drifted: KS statistic %v is above %v", [feature, value, threshold]),
		"feature": feature,
		"value": value,
		"threshold": threshold,
	}
}

# METADATA
# title: Enough evaluation rows
# description: The evaluation data must have at least params.data.min_rows rows.
# custom:
#   id: GOV-DATA-004
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.3"]
#   requires: [data.evaluation]
#   configured_by: [params.data.min_rows]
deny_too_few_rows contains result if {
	input.stage in stages
	data_present
	threshold := object.get(params, "min_rows", null)
	is_number(threshold)
	rows := object.get(evaluation, "rows", 0)
	is_number(rows)
	rows < threshold
	result := {
		"msg": sprintf("The %s has %v rows, fewer than the minimum of %v", [dataset_name, rows, threshold]),
		"value": rows,
		"threshold": threshold,
	}
}

# METADATA
# title: Evaluation data matches the expected schema
# description: Each schema violation found while profiling the evaluation data (a missing column, a wrong type) is a failure.
# custom:
#   id: GOV-DATA-005
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.3"]
#   requires: [data]
deny_schema_violations contains result if {
	input.stage in stages
	some violation in lib.arr(lib.get(lib.evidence("data"), "schema_violations", []))
	result := {
		"msg": sprintf("The %s violates the expected schema: %v", [dataset_name, violation]),
		"violation": violation,
	}
}

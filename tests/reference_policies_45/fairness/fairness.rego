# METADATA
# scope: package
# title: Fairness
# description: >-
#   Group fairness of the model's predictions over each sensitive feature
#   (input.fairness.features), against the thresholds in params.fairness. A metric that
#   could not be computed is a failure, never a pass.
package govern.fairness

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

params := lib.section("fairness")

declared := lib.names(object.get(params, "sensitive_features", []))

# fairness_present: input.fairness is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
fairness_present if is_object(lib.evidence("fairness"))

features := lib.obj(lib.get(lib.evidence("fairness"), "features", {}))

# METADATA
# title: Fairness evidence present
# description: >-
#   Every sensitive feature declared in params.fairness.sensitive_features must have
#   fairness evidence in input.fairness.features.
# custom:
#   id: GOV-FAIR-000
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness]
#   configured_by: [params.fairness.sensitive_features]
deny_evidence_missing contains result if {
	input.stage in stages
	not fairness_present
	some feature in declared
	reason := lib.missing_reason("fairness")
	result := {
		"msg": sprintf("Sensitive feature %s was declared but fairness evidence is missing (%s)", [feature, reason]),
		"feature": feature,
		"reason": reason,
	}
}

deny_evidence_missing contains result if {
	input.stage in stages
	fairness_present
	some feature in declared
	not is_object(object.get(features, feature, null))
	result := {
		"msg": sprintf("Sensitive feature %s was declared but has no fairness evidence", [feature]),
		"feature": feature,
	}
}

# METADATA
# title: Demographic parity difference within threshold
# description: >-
#   The gap in selection rate between the groups of each sensitive feature must not exceed
#   params.fairness.demographic_parity_difference.
# custom:
#   id: GOV-FAIR-001
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness.features]
#   configured_by: [params.fairness.sensitive_features, params.fairness.demographic_parity_difference]
deny_demographic_parity_difference contains result if {
	input.stage in stages
	some result in exceeds("demographic_parity_difference", "Demographic parity difference")
}

# METADATA
# title: Demographic parity ratio above threshold
# description: >-
#   The ratio of the lowest to the highest group selection rate of each sensitive feature
#   must be at least params.fairness.demographic_parity_ratio.
# custom:
#   id: GOV-FAIR-002
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness.features]
#   configured_by: [params.fairness.sensitive_features, params.fairness.demographic_parity_ratio]
deny_demographic_parity_ratio contains result if {
	input.stage in stages
	some result in falls_short("demographic_parity_ratio", "Demographic parity ratio")
}

# METADATA
# title: Equalized odds difference within threshold
# description: >-
#   The larger of the gaps in true-positive and false-positive rate between the groups of
#   each sensitive feature must not exceed params.fairness.equalized_odds_difference.
# custom:
#   id: GOV-FAIR-003
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness.features]
#   configured_by: [params.fairness.sensitive_features, params.fairness.equalized_odds_difference]
deny_equalized_odds_difference contains result if {
	input.stage in stages
	some result in exceeds("equalized_odds_difference", "Equalized odds difference")
}

# exceeds(key, label) is the set of results for features whose value of key is above their
# threshold (params.fairness[key], or params.fairness.per_feature[feature][key]), judged as
# their uncertainty mode says, or could not be computed.
exceeds(key, label) := {result |
	some feature, evidence in features
	threshold := threshold_for(feature, key)
	is_number(threshold)
	mode := uncertainty_for(feature)
	judged := judged_max(evidence, key, mode)
	is_number(judged)
	judged > threshold
	value := lib.get(evidence, key, null)
	result := {
		"msg": sprintf("%s for %s is %v%s, above the maximum of %v", [label, feature, value, how(evidence, key, mode), threshold]),
		"feature": feature,
		"value": value,
		"threshold": threshold,
		"uncertainty": mode,
	}
} | not_computed(key, label)

# falls_short(key, label) is the same for a minimum.
falls_short(key, label) := {result |
	some feature, evidence in features
	threshold := threshold_for(feature, key)
	is_number(threshold)
	mode := uncertainty_for(feature)
	judged := judged_min(evidence, key, mode)
	is_number(judged)
	judged < threshold
	value := lib.get(evidence, key, null)
	result := {
		"msg": sprintf("%s for %s is %v%s, below the minimum of %v", [label, feature, value, how(evidence, key, mode), threshold]),
		"feature": feature,
		"value": value,
		"threshold": threshold,
		"uncertainty": mode,
	}
} | not_computed(key, label)

not_computed(key, label) := {result |
	some feature, evidence in features
	threshold := threshold_for(feature, key)
	is_number(threshold)
	not is_number(lib.get(evidence, key, null))
	result := {
		"msg": sprintf("%s for %s could not be computed, so the threshold of %v cannot be shown to hold", [label, feature, threshold]),
		"feature": feature,
		"value": null,
		"threshold": threshold,
	}
} | {result |
	some feature, evidence in features
	threshold := threshold_for(feature, key)
	is_number(threshold)
	mode := uncertainty_for(feature)
	mode != "point"
	is_number(lib.get(evidence, key, null))
	not interval(evidence, key)
	result := {
		"msg": sprintf("%s for %s has no bootstrap interval, so the threshold of %v cannot be judged by %s (set fairness.bootstrap)", [label, feature, threshold, mode]),
		"feature": feature,
		"value": lib.get(evidence, key, null),
		"threshold": threshold,
		"uncertainty": mode,
	}
}

# Per-feature settings: params.fairness.per_feature[feature] over params.fairness.
per_feature(feature) := lib.obj(lib.get(lib.get(params, "per_feature", {}), feature, {}))

threshold_for(feature, key) := t if {
	t := lib.get(per_feature(feature), key, null)
	is_number(t)
} else := lib.get(params, key, null)

uncertainty_for(feature) := u if {
	u := lib.get(per_feature(feature), "uncertainty", null)
	is_string(u)
} else := u if {
	u := lib.get(params, "uncertainty", null)
	is_string(u)
} else := "point"

interval(evidence, key) := i if {
	i := lib.get(lib.get(evidence, "intervals", {}), key, null)
	is_array(i)
	count(i) == 2
	is_number(i[0])
	is_number(i[1])
}

# The figure judged against a maximum: the point estimate, the interval's upper bound (the
# whole interval must clear the threshold) or its lower bound (fail only when the whole
# interval lies beyond). For a minimum, the bounds swap.
judged_max(evidence, key, "point") := lib.get(evidence, key, null)

judged_max(evidence, key, "interval_must_clear") := interval(evidence, key)[1]

judged_max(evidence, key, "fail_beyond") := interval(evidence, key)[0]

judged_min(evidence, key, "point") := lib.get(evidence, key, null)

judged_min(evidence, key, "interval_must_clear") := interval(evidence, key)[0]

judged_min(evidence, key, "fail_beyond") := interval(evidence, key)[1]

how(_, _, "point") := ""

how(evidence, key, mode) := sprintf(" (%v%% interval %s, judged by %s)", [lib.percent(lib.get(lib.get(evidence, "intervals", {}), "confidence", "?")), lib.interval_text(interval(evidence, key)), mode]) if {
	mode != "point"
}

# small_groups(evidence): groups with fewer rows than params.fairness.min_group_size, decided
# here (the collector only counts) so that GOV-FAIR-004 and GOV-FAIR-005 agree.
small_groups(evidence) := {group |
	threshold := lib.get(params, "min_group_size", null)
	is_number(threshold)
	some group, size in lib.obj(lib.get(evidence, "group_sizes", {}))
	is_number(size)
	size < threshold
}

group_floor := f if {
	f := object.get(params, "group_floor", null)
	is_object(f)
	lib.present(f.metric)
	is_number(f.min)
}

# floor_by_group[feature] is the per-group values of the floor's metric ({} when absent).
floor_by_group := {feature: by_group |
	some feature, evidence in features
	by_group := lib.obj(lib.get(lib.get(lib.get(evidence, "metrics", {}), group_floor.metric, {}), "by_group", {}))
}

# METADATA
# title: Per-group performance floor
# description: >-
#   For each sensitive feature, every group that is not too small to measure must reach
#   params.fairness.group_floor.min on the metric params.fairness.group_floor.metric.
# custom:
#   id: GOV-FAIR-004
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness.features]
#   configured_by: [params.fairness.sensitive_features, params.fairness.group_floor]
deny_group_floor contains result if {
	lib.applies(stages)
	some feature, by_group in floor_by_group
	small := small_groups(features[feature])
	some group, value in by_group
	not group in small
	is_number(value)
	value < group_floor.min
	result := {
		"msg": sprintf("%s for %s=%s is %v, below the per-group floor of %v", [group_floor.metric, feature, group, value, group_floor.min]),
		"feature": feature,
		"group": group,
		"metric": group_floor.metric,
		"value": value,
		"threshold": group_floor.min,
	}
}

deny_group_floor contains result if {
	lib.applies(stages)
	some feature, by_group in floor_by_group
	small := small_groups(features[feature])
	some group, value in by_group
	not group in small
	not is_number(value)
	result := {
		"msg": sprintf("%s for %s=%s could not be computed, so the per-group floor of %v cannot be shown to hold", [group_floor.metric, feature, group, group_floor.min]),
		"feature": feature,
		"group": group,
		"metric": group_floor.metric,
		"value": null,
		"threshold": group_floor.min,
	}
}

deny_group_floor contains result if {
	lib.applies(stages)
	some feature, by_group in floor_by_group
	count(by_group) == 0
	result := {
		"msg": sprintf("%s was not computed per group of %s, so the per-group floor of %v cannot be checked", [group_floor.metric, feature, group_floor.min]),
		"feature": feature,
		"metric": group_floor.metric,
		"value": null,
		"threshold": group_floor.min,
	}
}

# METADATA
# title: Groups large enough to measure
# description: >-
#   Groups of a sensitive feature with fewer rows than params.fairness.min_group_size give
#   unreliable fairness estimates and are reported.
# custom:
#   id: GOV-FAIR-005
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
#   requires: [fairness.features]
#   configured_by: [params.fairness.sensitive_features, params.fairness.min_group_size]
warn_small_group contains result if {
	input.stage in stages
	threshold := object.get(params, "min_group_size", null)
	is_number(threshold)
	some feature, evidence in features
	some group, size in lib.obj(lib.get(evidence, "group_sizes", {}))
	is_number(size)
	size < threshold
	result := {
		"msg": sprintf("Group %s=%s has %v rows, fewer than the %v needed for reliable fairness estimates", [feature, group, size, threshold]),
		"feature": feature,
		"group": group,
		"value": size,
		"threshold": threshold,
	}
}

proxy_pairs := [p |
	some p in lib.get(lib.get(lib.evidence("fairness"), "proxies", {}), "pairs", [])
	is_number(lib.get(params, "proxy_threshold", null))
	p.value > params.proxy_threshold
]

proxy_result(p) := {
	"msg": sprintf(
		"Input %s is a proxy for the sensitive feature %s: %s = %v, above %v",
		[p.feature, p.sensitive_feature, p.method, p.value, params.proxy_threshold],
	),
	"feature": p.feature,
	"sensitive_feature": p.sensitive_feature,
	"value": p.value,
	"threshold": params.proxy_threshold,
}

# METADATA
# title: No input is a strong proxy for a sensitive feature
# description: >-
#   The association of each model input with each sensitive feature (input.fairness.proxies:
#   Cramér's V, correlation ratio or |Spearman| by type, in [0, 1]) must not exceed
#   params.fairness.proxy_threshold. A warning by default; a failure when
#   params.fairness.proxy_action is "fail".
# custom:
#   id: GOV-FAIR-006
#   severity: medium
#   stages: [register, deploy]
#   requires: [fairness]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
warn_proxy contains result if {
	lib.applies(stages)
	lib.get(params, "proxy_action", "warn") != "fail"
	some p in proxy_pairs
	result := proxy_result(p)
}

# METADATA
# title: No input is a strong proxy for a sensitive feature (enforced)
# description: >-
#   As GOV-FAIR-006, failing instead of warning when params.fairness.proxy_action is "fail".
# custom:
#   id: GOV-FAIR-007
#   severity: high
#   stages: [register, deploy]
#   requires: [fairness]
#   controls: ["EU-AI-Act:Art.10", "NIST-AI-RMF:MEASURE-2.11"]
deny_proxy contains result if {
	lib.applies(stages)
	lib.get(params, "proxy_action", "warn") == "fail"
	some p in proxy_pairs
	result := proxy_result(p)
}

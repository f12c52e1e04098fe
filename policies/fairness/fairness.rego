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

params := p if {
	p := data.govern.params.fairness
	is_object(p)
} else := {}

# declared: the non-blank names in params.fairness.sensitive_features.
declared := {name |
	names := object.get(params, "sensitive_features", [])
	is_array(names)
	some name in names
	is_string(name)
	trim_space(name) != ""
}

# fairness_present: input.fairness is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
fairness_present if is_object(input.fairness)

features := f if {
	f := input.fairness.features
	is_object(f)
} else := {}

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

# The three judged figures. Everything a fairness rule reads about a feature is computed once
# per evaluation below (one row per judged figure and feature), so that a rule walks the
# features once and calls no helper function per feature.
judged_keys := ["demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"]

# Per-feature settings: params.fairness.per_feature[feature] over params.fairness.
own_settings := {feature: own |
	per_feature := params.per_feature
	is_object(per_feature)
	some feature, own in per_feature
	is_object(own)
}

own_thresholds := {key: {feature: t |
	some feature, own in own_settings
	t := own[key]
	is_number(t)
} |
	some key in judged_keys
}

own_modes := {feature: u |
	some feature, own in own_settings
	u := own.uncertainty
	is_string(u)
}

default_mode := u if {
	u := params.uncertainty
	is_string(u)
} else := "point"

# The evidence of each feature that is an object, and its intervals when they are an object.
feature_objects := {feature: evidence |
	some feature, evidence in features
	is_object(evidence)
}

feature_intervals := {feature: intervals |
	some feature, evidence in feature_objects
	intervals := evidence.intervals
	is_object(intervals)
}

# valid_intervals[key][feature]: a [low, high] pair of numbers, when the evidence has one.
valid_intervals := {key: {feature: i |
	some feature, intervals in feature_intervals
	i := intervals[key]
	is_array(i)
	count(i) == 2
	is_number(i[0])
	is_number(i[1])
} |
	some key in judged_keys
}

# rows[key][feature]: the threshold (params.fairness[key], or per_feature[feature][key]), the
# uncertainty mode, the value and the interval (null when absent) of each feature whose
# threshold is a number.
rows := {key: {feature: row |
	some feature, _ in features
	threshold := object.get(own_thresholds[key], feature, object.get(params, key, null))
	is_number(threshold)
	row := {
		"threshold": threshold,
		"mode": object.get(own_modes, feature, default_mode),
		"value": object.get(object.get(feature_objects, feature, {}), key, null),
		"interval": object.get(valid_intervals[key], feature, null),
	}
} |
	some key in judged_keys
}

# The bound of the interval judged against a maximum: its upper bound (the whole interval must
# clear the threshold) or its lower bound (fail only when the whole interval lies beyond). For
# a minimum, the bounds swap. A point estimate is judged as it is.
max_bound := {"interval_must_clear": 1, "fail_beyond": 0}

min_bound := {"interval_must_clear": 0, "fail_beyond": 1}

# how(feature, row) says how an interval was judged, for the message.
how(feature, row) := sprintf(" (%v%% interval %s, judged by %s)", [
	lib.percent(object.get(object.get(feature_intervals, feature, {}), "confidence", "?")),
	lib.interval_text(row.interval), row.mode,
])

# exceeds(key, label) is the set of results for features whose value of key is above their
# threshold, judged as their uncertainty mode says, or could not be computed.
exceeds(key, label) := ({result |
	some feature, row in rows[key]
	row.mode == "point"
	is_number(row.value)
	row.value > row.threshold
	result := {
		"msg": sprintf("%s for %s is %v, above the maximum of %v", [label, feature, row.value, row.threshold]),
		"feature": feature,
		"value": row.value,
		"threshold": row.threshold,
		"uncertainty": row.mode,
	}
} | {result |
	some feature, row in rows[key]
	is_array(row.interval)
	row.interval[max_bound[row.mode]] > row.threshold
	result := {
		"msg": sprintf("%s for %s is %v%s, above the maximum of %v", [label, feature, row.value, how(feature, row), row.threshold]),
		"feature": feature,
		"value": row.value,
		"threshold": row.threshold,
		"uncertainty": row.mode,
	}
}) | not_computed(key, label)

# falls_short(key, label) is the same for a minimum.
falls_short(key, label) := ({result |
	some feature, row in rows[key]
	row.mode == "point"
	is_number(row.value)
	row.value < row.threshold
	result := {
		"msg": sprintf("%s for %s is %v, below the minimum of %v", [label, feature, row.value, row.threshold]),
		"feature": feature,
		"value": row.value,
		"threshold": row.threshold,
		"uncertainty": row.mode,
	}
} | {result |
	some feature, row in rows[key]
	is_array(row.interval)
	row.interval[min_bound[row.mode]] < row.threshold
	result := {
		"msg": sprintf("%s for %s is %v%s, below the minimum of %v", [label, feature, row.value, how(feature, row), row.threshold]),
		"feature": feature,
		"value": row.value,
		"threshold": row.threshold,
		"uncertainty": row.mode,
	}
}) | not_computed(key, label)

not_computed(key, label) := {result |
	some feature, row in rows[key]
	not is_number(row.value)
	result := {
		"msg": sprintf("%s for %s could not be computed, so the threshold of %v cannot be shown to hold", [label, feature, row.threshold]),
		"feature": feature,
		"value": null,
		"threshold": row.threshold,
	}
} | {result |
	some feature, row in rows[key]
	row.mode != "point"
	is_number(row.value)
	row.interval == null
	result := {
		"msg": sprintf("%s for %s has no bootstrap interval, so the threshold of %v cannot be judged by %s (set fairness.bootstrap)", [label, feature, row.threshold, row.mode]),
		"feature": feature,
		"value": row.value,
		"threshold": row.threshold,
		"uncertainty": row.mode,
	}
}

min_group_size := m if {
	m := params.min_group_size
	is_number(m)
}

# group_sizes[feature]: the counted rows per group, when they are an object.
group_sizes := {feature: sizes |
	some feature, evidence in feature_objects
	sizes := evidence.group_sizes
	is_object(sizes)
}

# small_groups[feature]: groups with fewer rows than params.fairness.min_group_size, decided
# here (the collector only counts) so that GOV-FAIR-004 and GOV-FAIR-005 agree.
small_groups := {feature: small |
	some feature, _ in features
	small := {group |
		threshold := min_group_size
		some group, size in object.get(group_sizes, feature, {})
		is_number(size)
		size < threshold
	}
}

group_floor := f if {
	f := object.get(params, "group_floor", null)
	is_object(f)
	is_string(f.metric)
	trim_space(f.metric) != ""
	is_number(f.min)
}

# floor_by_group[feature] is the per-group values of the floor's metric ({} when absent).
floor_by_group := {feature: by_group |
	group_floor
	some feature, _ in features
	by_group := object.get(floor_values, feature, {})
}

floor_values := {feature: by_group |
	metric := group_floor.metric
	some feature, evidence in feature_objects
	by_group := evidence.metrics[metric].by_group
	is_object(by_group)
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
	input.stage in stages
	some feature, by_group in floor_by_group
	small := small_groups[feature]
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
	input.stage in stages
	some feature, by_group in floor_by_group
	small := small_groups[feature]
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
	input.stage in stages
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
	threshold := min_group_size
	some feature, sizes in group_sizes
	some group, size in sizes
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

proxy_threshold := t if {
	t := params.proxy_threshold
	is_number(t)
}

proxy_list := l if {
	l := input.fairness.proxies.pairs
} else := []

proxy_pairs := [p |
	threshold := proxy_threshold
	some p in proxy_list
	p.value > threshold
]

proxy_action := object.get(params, "proxy_action", "warn")

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
	input.stage in stages
	proxy_action != "fail"
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
	input.stage in stages
	proxy_action == "fail"
	some p in proxy_pairs
	result := proxy_result(p)
}

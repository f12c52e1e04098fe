# METADATA
# scope: package
# title: Champion comparison
# description: >-
#   At deploy, the challenger (input.run) must not regress against the current champion
#   (input.champion) on the metric named in params.champion. Nothing is checked when
#   params.champion is null.
package govern.champion

import rego.v1

import data.govern.lib

stages := {"deploy"}

config := c if {
	c := data.govern.params.champion
	is_object(c)
	is_string(c.metric)
	trim_space(c.metric) != ""
}

metric := config.metric

alias := a if {
	a := config.alias
	is_string(a)
	trim_space(a) != ""
} else := "champion"

max_regression := m if {
	m := object.get(config, "max_regression", null)
	is_number(m)
} else := 0

higher_is_better := h if {
	h := object.get(config, "higher_is_better", null)
	is_boolean(h)
} else := true

# run_present: input.run is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
run_present if is_object(input.run)

# champion_present: input.champion is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
champion_present if is_object(input.champion)

challenger_metrics := m if {
	m := input.run.metrics
	is_object(m)
} else := {}

champion_metrics := m if {
	m := input.champion.metrics
	is_object(m)
} else := {}

champion_version := v if {
	v := input.champion.version
	is_string(v)
	trim_space(v) != ""
} else := "(unknown version)"

# regression is how much worse the challenger is, in millionths (negative when better).
regression := lib.fixed(champion_metrics[metric]) - lib.fixed(challenger_metrics[metric]) if higher_is_better

regression := lib.fixed(challenger_metrics[metric]) - lib.fixed(champion_metrics[metric]) if not higher_is_better

direction := "higher" if {
	higher_is_better
} else := "lower"

# METADATA
# title: No regression against the champion
# description: >-
#   The challenger's value of params.champion.metric must not be worse than the champion's
#   by more than params.champion.max_regression (0 when absent), honouring higher_is_better.
# custom:
#   id: GOV-CHAMP-001
#   severity: high
#   stages: [deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MANAGE-2.2"]
#   requires: [champion.metrics, run.metrics]
#   configured_by: [params.champion]
#   skip_without: [champion]
deny_regression contains result if {
	input.stage in stages
	regression > lib.fixed(max_regression)
	challenger := challenger_metrics[metric]
	champion := champion_metrics[metric]
	result := {
		"msg": sprintf(
			"Metric %s regressed from %v (%s, version %s) to %v: worse by %v, more than the allowed %v (%s is better)",
			[metric, champion, alias, champion_version, challenger, lib.unfixed(regression), max_regression, direction],
		),
		"metric": metric,
		"value": challenger,
		"champion_value": champion,
		"regression": lib.unfixed(regression),
		"threshold": max_regression,
		"alias": alias,
	}
}

# METADATA
# title: Champion available for comparison
# description: >-
#   A champion comparison is configured but no champion evidence exists, as for a first
#   deployment; the comparison is skipped and the reason reported.
# custom:
#   id: GOV-CHAMP-002
#   severity: low
#   stages: [deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MANAGE-2.2"]
#   configured_by: [params.champion]
warn_no_champion contains result if {
	input.stage in stages
	metric
	not champion_present
	reason := lib.missing_reason("champion")
	result := {
		"msg": sprintf("No champion under alias %s to compare %s against (%s); treating this as a first deployment", [alias, metric, reason]),
		"metric": metric,
		"alias": alias,
		"reason": reason,
	}
}

# METADATA
# title: Champion metric comparable
# description: The metric named in params.champion must be logged for both the challenger run and the champion.
# custom:
#   id: GOV-CHAMP-003
#   severity: high
#   stages: [deploy]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3"]
#   configured_by: [params.champion]
#   skip_without: [champion]
deny_metric_not_comparable contains result if {
	input.stage in stages
	metric
	champion_present
	some side in missing_sides
	result := {
		"msg": sprintf("Metric %s cannot be compared with the %s: %s", [metric, alias, side]),
		"metric": metric,
		"alias": alias,
		"reason": side,
	}
}

missing_sides contains sprintf("challenger run evidence is missing (%s)", [lib.missing_reason("run")]) if {
	not run_present
}

missing_sides contains sprintf("the challenger run %v did not log it", [lib.get(lib.evidence("run"), "id", "(unknown)")]) if {
	run_present
	not is_number(object.get(challenger_metrics, metric, null))
}

missing_sides contains sprintf("the champion (version %s) did not log it", [champion_version]) if {
	not is_number(object.get(champion_metrics, metric, null))
}

# The champion scored by govern on the challenger's evaluation rows (input.performance.champion).
paired := p if {
	p := input.performance.champion
	is_object(p)
} else := {}

comparisons := c if {
	c := paired.comparisons
	is_object(c)
} else := {}

# significant: the comparisons whose p-value is below their alpha.
significant := {name |
	some name, c in comparisons
	is_number(c.p_value)
	is_number(c.alpha)
	c.p_value < c.alpha
}

hypothesis := {
	"superiority": "significantly better than",
	"non_inferiority": "shown not worse (by the margin) than",
}

# METADATA
# title: Challenger proven against the champion on the same rows
# description: >-
#   The champion is scored on the challenger's evaluation data and each compared metric is
#   judged as the spec says (requirements.champion.test and .compare): superiority needs a
#   one-sided p-value below alpha that the challenger is better; non-inferiority needs one that
#   it is not worse by the margin or more; point fails when the measured regression exceeds
#   the margin. p-values, the test and the interval of the improvement are in the message.
# custom:
#   id: GOV-CHAMP-004
#   severity: high
#   stages: [deploy]
#   requires: [performance.champion]
#   configured_by: [params.champion, spec.data.evaluation]
#   skip_without: [champion]
#   controls: ["EU-AI-Act:Art.15", "NIST-AI-RMF:MEASURE-2.3", "NIST-AI-RMF:MANAGE-2.2"]
deny_not_proven contains result if {
	input.stage in stages
	some name, c in comparisons
	c.mode in {"superiority", "non_inferiority"}
	not name in significant
	result := {
		"msg": sprintf(
			"Metric %s: the challenger (%v) is not %s the %s (%v, version %v) on the same %v rows: %s p = %v (alpha %v), improvement %v, %v%% interval %s",
			[name, c.challenger, hypothesis[c.mode], object.get(paired, "alias", alias), c.champion, object.get(paired, "version", "?"), object.get(paired, "rows", "?"), c.test, c.p_value, c.alpha, c.improvement, lib.percent(object.get(c, "confidence", "?")), lib.interval_text(c.ci)],
		),
		"metric": name,
		"value": c.challenger,
		"champion_value": c.champion,
		"p_value": c.p_value,
		"threshold": c.alpha,
		"ci": c.ci,
		"test": c.test,
	}
}

deny_not_proven contains result if {
	input.stage in stages
	some name, c in comparisons
	c.mode == "point"
	is_number(c.regression)
	c.regression > object.get(c, "margin", 0)
	result := {
		"msg": sprintf(
			"Metric %s regressed from %v (%s, measured) to %v on the same %v rows: worse by %v, more than the allowed %v (%s p = %v, %v%% interval of the improvement %s)",
			[name, c.champion, object.get(paired, "alias", alias), c.challenger, object.get(paired, "rows", "?"), c.regression, object.get(c, "margin", 0), c.test, object.get(c, "p_value_two_sided", null), lib.percent(object.get(c, "confidence", "?")), lib.interval_text(c.ci)],
		),
		"metric": name,
		"value": c.challenger,
		"champion_value": c.champion,
		"regression": c.regression,
		"threshold": object.get(c, "margin", 0),
		"ci": c.ci,
		"test": c.test,
	}
}

package govern.data_test

import rego.v1

import data.govern.data as quality

params := {"data": {"max_null_share": 0.05, "max_psi": 0.2, "max_ks_statistic": 0.1, "min_rows": 100}}

base := {
	"stage": "deploy",
	"data": {
		"evaluation": {"name": "adult_test", "rows": 1000, "columns": {"age": {"null_share": 0}, "sex": {"null_share": 0.01}}},
		"reference": {"name": "adult_train", "rows": 2000, "columns": {"age": {"null_share": 0}, "sex": {"null_share": 0}}},
		"drift": {
			"age": {"kind": "numeric", "ks_statistic": 0.02, "p_value": 0.4, "psi": 0.01},
			"sex": {"kind": "categorical", "chi2_statistic": 1.2, "p_value": 0.3, "psi": 0.02},
		},
		"schema_violations": [],
	},
	"missing": {},
}

with_data(patch) := object.union(base, {"data": patch})

findings(doc, p) := f if {
	missing := quality.deny_evidence_missing with input as doc with data.govern.params as p
	nulls := quality.deny_null_share with input as doc with data.govern.params as p
	psi := quality.deny_drift_psi with input as doc with data.govern.params as p
	ks := quality.warn_drift_ks with input as doc with data.govern.params as p
	rows := quality.deny_too_few_rows with input as doc with data.govern.params as p
	schema := quality.deny_schema_violations with input as doc with data.govern.params as p
	f := {"missing": missing, "nulls": nulls, "psi": psi, "ks": ks, "rows": rows, "schema": schema}
}

none := {"missing": set(), "nulls": set(), "psi": set(), "ks": set(), "rows": set(), "schema": set()}

only(f, key) if object.remove(f, [key]) == object.remove(none, [key])

test_clean_data_has_no_findings if findings(base, params) == none

test_missing_data_evidence if {
	f := findings(object.union(base, {"data": null, "missing": {"data": "no evaluation dataset in spec"}}), params)
	only(f, "missing")
	[r] := [x | some x in f.missing]
	r.msg == "Data quality cannot be checked: data evidence is missing (no evaluation dataset in spec)"
}

test_null_share_fires if {
	f := findings(with_data({"evaluation": {"columns": {"sex": {"null_share": 0.06}}}}), params)
	only(f, "nulls")
	[r] := [x | some x in f.nulls]
	r.column == "sex"
	r.msg == "Column sex of the adult_test is 0.06 null, above the maximum null share of 0.05"
}

test_null_share_float_noise if {
	count(findings(with_data({"evaluation": {"columns": {"sex": {"null_share": 0.05000000000000001}}}}), params).nulls) == 1
}

test_psi_fires if {
	f := findings(with_data({"drift": {"age": {"psi": 0.25}}}), params)
	only(f, "psi")
	[r] := [x | some x in f.psi]
	r.feature == "age"
	r.msg == "Feature age has drifted: PSI 0.25 between reference and evaluation data is above the maximum of 0.2"
}

test_psi_at_threshold_and_null_do_not_fire if {
	findings(with_data({"drift": {"age": {"psi": 0.2}, "sex": {"psi": null}}}), params) == none
}

test_ks_warns if {
	f := findings(with_data({"drift": {"age": {"ks_statistic": 0.15}}}), params)
	only(f, "ks")
	[r] := [x | some x in f.ks]
	r.value == 0.15
	r.threshold == 0.1
}

test_no_drift_section if findings(with_data({"drift": null, "reference": null}), params) == none

test_too_few_rows_fires if {
	f := findings(with_data({"evaluation": {"rows": 99}}), params)
	only(f, "rows")
	[r] := [x | some x in f.rows]
	r.msg == "The adult_test has 99 rows, fewer than the minimum of 100"
	findings(with_data({"evaluation": {"rows": 100}}), params) == none
}

test_schema_violations_each_fire if {
	f := findings(with_data({"schema_violations": ["column income is missing", "column age is not numeric"]}), params)
	only(f, "schema")
	{r.violation | some r in f.schema} == {"column income is missing", "column age is not numeric"}
}

test_not_checked_at_rollback if findings(object.union(base, {"stage": "rollback", "data": null}), params) == none

package govern.lineage_test

import rego.v1

import data.govern.lineage

params := {"lineage": {"params": ["max_depth", "n_estimators"], "tags": ["team"], "git_commit": true, "training_dataset": true}}

base := {
	"stage": "register",
	"run": {
		"id": "run-1",
		"params": {"max_depth": "3", "n_estimators": "100"},
		"metrics": {},
		"tags": {"team": "credit-risk"},
		"git_commit": "4f1c2a9",
		"datasets": [{"name": "train", "context": "training"}, {"name": "test", "context": "evaluation"}],
	},
	"missing": {},
}

findings(doc, p) := f if {
	run := lineage.deny_run_missing with input as doc with data.govern.params as p
	params_ := lineage.deny_missing_params with input as doc with data.govern.params as p
	tags := lineage.deny_missing_tags with input as doc with data.govern.params as p
	commit := lineage.deny_missing_git_commit with input as doc with data.govern.params as p
	dataset := lineage.deny_missing_training_dataset with input as doc with data.govern.params as p
	f := {"run": run, "params": params_, "tags": tags, "commit": commit, "dataset": dataset}
}

none := {"run": set(), "params": set(), "tags": set(), "commit": set(), "dataset": set()}

only(f, key) if object.remove(f, [key]) == object.remove(none, [key])

test_complete_lineage_has_no_findings if findings(base, params) == none

test_run_missing_fires_alone if {
	f := findings(object.union(base, {"run": null, "missing": {"run": "model was logged outside a run"}}), params)
	only(f, "run")
	[r] := [x | some x in f.run]
	r.msg == "The model cannot be traced to its training run: run evidence is missing (model was logged outside a run)"
}

test_missing_param_fires if {
	f := findings(json.remove(base, ["run/params/max_depth"]), params)
	only(f, "params")
	[r] := [x | some x in f.params]
	r.param == "max_depth"
	r.msg == "Training parameter max_depth is not logged on run run-1"
}

test_blank_param_counts_as_missing if {
	count(findings(object.union(base, {"run": {"params": {"n_estimators": " "}}}), params).params) == 1
}

test_missing_tag_fires if {
	f := findings(object.union(base, {"run": {"tags": {"team": ""}}}), params)
	only(f, "tags")
	[r] := [x | some x in f.tags]
	r.msg == "Tag team is not set on run run-1"
}

test_missing_git_commit_fires if {
	count(findings(object.union(base, {"run": {"git_commit": null}}), params).commit) == 1
	count(findings(object.union(base, {"run": {"git_commit": ""}}), params).commit) == 1
	f := findings(json.remove(base, ["run/git_commit"]), params)
	only(f, "commit")
	[r] := [x | some x in f.commit]
	r.msg == "Run run-1 does not record the git commit of the code that trained the model"
}

test_git_commit_not_required if {
	p := object.union(params, {"lineage": {"git_commit": false}})
	findings(object.union(base, {"run": {"git_commit": null}}), p) == none
}

test_missing_training_dataset_fires if {
	f := findings(object.union(base, {"run": {"datasets": [{"name": "test", "context": "evaluation"}]}}), params)
	only(f, "dataset")
	[r] := [x | some x in f.dataset]
	r.msg == "Run run-1 logs no dataset with context \"training\", so the training data cannot be traced"
	count(findings(json.remove(base, ["run/datasets"]), params).dataset) == 1
	count(findings(object.union(base, {"run": {"datasets": null}}), params).dataset) == 1
}

test_training_dataset_not_required if {
	p := object.union(params, {"lineage": {"training_dataset": false}})
	findings(json.remove(base, ["run/datasets"]), p) == none
}

test_nothing_required_by_default if {
	p := {"lineage": {"params": [], "tags": [], "git_commit": false, "training_dataset": false}}
	findings({"stage": "deploy", "run": {"id": "r", "params": {}, "metrics": {}, "tags": {}}}, p) == none
}

test_not_checked_at_rollback if {
	findings(object.union(base, {"stage": "rollback", "run": null}), params) == none
}

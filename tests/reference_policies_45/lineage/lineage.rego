# METADATA
# scope: package
# title: Lineage
# description: >-
#   The training run (input.run) must record what is needed to reproduce the model: its
#   parameters, tags, source commit and training dataset, as listed in params.lineage.
package govern.lineage

import rego.v1

import data.govern.lib

stages := {"register", "deploy"}

params := lib.section("lineage")

# run_present: input.run is an object. A flag rather than a copy of the
# section, so that the package's own value stays small.
run_present if is_object(lib.evidence("run"))

run := lib.obj(lib.evidence("run"))

run_id := id if {
	id := object.get(run, "id", null)
	lib.present(id)
} else := "(unknown)"

# METADATA
# title: Training run evidence present
# description: The model must be traceable to the MLflow run that trained it.
# custom:
#   id: GOV-LIN-000
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.12", "NIST-AI-RMF:GOVERN-1.6"]
#   requires: [run]
deny_run_missing contains result if {
	input.stage in stages
	not run_present
	reason := lib.missing_reason("run")
	result := {
		"msg": sprintf("The model cannot be traced to its training run: run evidence is missing (%s)", [reason]),
		"reason": reason,
	}
}

# METADATA
# title: Required training parameters logged
# description: Every parameter named in params.lineage.params must be logged on the training run.
# custom:
#   id: GOV-LIN-001
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.12", "NIST-AI-RMF:GOVERN-1.6"]
#   requires: [run.params]
#   configured_by: [params.lineage.params]
deny_missing_params contains result if {
	input.stage in stages
	run_present
	some name in lib.names(object.get(params, "params", []))
	not lib.present(lib.get(object.get(run, "params", {}), name, null))
	result := {
		"msg": sprintf("Training parameter %s is not logged on run %s", [name, run_id]),
		"param": name,
		"run_id": run_id,
	}
}

# METADATA
# title: Required run tags set
# description: Every tag named in params.lineage.tags must be set on the training run.
# custom:
#   id: GOV-LIN-002
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.12", "NIST-AI-RMF:GOVERN-1.6"]
#   requires: [run.tags]
#   configured_by: [params.lineage.tags]
deny_missing_tags contains result if {
	input.stage in stages
	run_present
	some name in lib.names(object.get(params, "tags", []))
	not lib.present(lib.get(object.get(run, "tags", {}), name, null))
	result := {
		"msg": sprintf("Tag %s is not set on run %s", [name, run_id]),
		"tag": name,
		"run_id": run_id,
	}
}

# METADATA
# title: Source commit recorded
# description: When params.lineage.git_commit is true, the training run must record the git commit of the code that produced it.
# custom:
#   id: GOV-LIN-003
#   severity: medium
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.11", "EU-AI-Act:Art.12", "NIST-AI-RMF:GOVERN-1.6"]
#   requires: [run]
#   configured_by: [params.lineage.git_commit]
deny_missing_git_commit contains result if {
	input.stage in stages
	run_present
	params.git_commit == true
	not lib.present(object.get(run, "git_commit", null))
	result := {
		"msg": sprintf("Run %s does not record the git commit of the code that trained the model", [run_id]),
		"run_id": run_id,
	}
}

# METADATA
# title: Training dataset logged
# description: When params.lineage.training_dataset is true, the training run must log a dataset input with context "training".
# custom:
#   id: GOV-LIN-004
#   severity: high
#   stages: [register, deploy]
#   controls: ["EU-AI-Act:Art.10", "EU-AI-Act:Art.11", "NIST-AI-RMF:GOVERN-1.6"]
#   requires: [run.datasets]
#   configured_by: [params.lineage.training_dataset]
deny_missing_training_dataset contains result if {
	input.stage in stages
	run_present
	params.training_dataset == true
	not has_training_dataset
	result := {
		"msg": sprintf("Run %s logs no dataset with context \"training\", so the training data cannot be traced", [run_id]),
		"run_id": run_id,
	}
}

has_training_dataset if {
	some dataset in lib.arr(object.get(run, "datasets", []))
	lib.get(dataset, "context", null) == "training"
}

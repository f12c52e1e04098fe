#!/usr/bin/env bash
# The main job, end to end, on the embedded defaults (local sqlite MLflow store, embedded Rego):
# train an income model on UCI Adult, check and register it, promote it, train a second version
# and promote it against the champion, then report a degraded live metric and roll back.
# Every decision is printed and audited; the audit log is verified at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
setup_start=$SECONDS
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
# Installed or not is asked of the import system without importing (importing takes seconds).
if [ ! -x "$VENV/bin/govern" ] || ! "$VENV/bin/python" -c "
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in ('mlflow', 'shap', 'fairlearn', 'sklearn')) else 1)
" 2>/dev/null; then
  echo "setting up $VENV (one time) ..." >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[mlflow,ml]'
fi
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

WORK="${GOVERN_DEMO_DIR:-.govern/demo}"
rm -rf "$WORK" && mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
unset MLFLOW_REGISTRY_URI  # the registry is the same store (a registry URI from the caller would split them)
export GOVERN_AUDIT_LOG="$WORK/audit.jsonl"
SPEC=examples/adult-income/spec.yaml
started=$SECONDS
declare -a PHASES=()
phase_name=""
phase_start=$SECONDS
# step NAME: start a phase (and close the one before, recording its time)
step() {
  if [ -n "$phase_name" ]; then PHASES+=("$(printf '%5d s  %s' $((SECONDS - phase_start)) "$phase_name")"); fi
  phase_name="$*"
  phase_start=$SECONDS
  [ -z "$*" ] || printf '\n\033[1m== %s\033[0m\n' "$*"
}
# A gate exits 1 when it denies or rolls back: that is an answer, not a failure of this script.
# Gates judge waivers as of today (never an earlier day): the example's waivers expire on
# 2027-06-30, and after that day the registration is denied until they are renewed.
gate() { govern gate "$@" || { code=$?; [ "$code" -eq 1 ] || exit "$code"; }; }

step "validate the spec"
govern validate "$SPEC"

step "train version 1 (GradientBoosting, 100 trees, depth 3) and log it to MLflow"
RUN1=$(python examples/adult-income/train.py --n-estimators 100 --max-depth 3 --train-rows 16000 2>/dev/null)
echo "run $RUN1"

step "gate register: evidence from MLflow, fairlearn, SHAP and the data; register only on pass"
gate register "$SPEC" --run-id "$RUN1"

step "gate promote version 1 to @champion (first deployment: no champion to compare with)"
gate promote "$SPEC" --version 1

step "train version 2 (150 trees, depth 4) and register it"
RUN2=$(python examples/adult-income/train.py --n-estimators 150 --max-depth 4 --train-rows 16000 2>/dev/null)
gate register "$SPEC" --run-id "$RUN2"

step "gate promote version 2: compared with the champion (version 1) on accuracy"
gate promote "$SPEC" --version 2

step "monitoring reports a degraded live accuracy for version 2"
python examples/adult-income/monitor.py --version 2 --accuracy 0.71

step "gate rollback: version 2 fails on live evidence, so @champion goes back to the last vetted version"
gate rollback "$SPEC"

step "the audit log"
govern audit show
govern audit verify

step "replay every gate decision from its stored record and evidence"
govern replay --audit-log "$GOVERN_AUDIT_LOG"
step ""
echo
echo "time per step (setup before them: $((started - setup_start)) s):"
for line in "${PHASES[@]}"; do echo "  $line"; done
echo "done in $((SECONDS - started)) s"

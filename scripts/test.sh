#!/usr/bin/env bash
# Set up a virtualenv with the dev tools and run every check CI runs:
# ruff (lint + format), mypy (strict), import-linter (layering), the Rego unit tests (govern
# test, and opa test/check/fmt on a real OPA), pytest. The time of each phase is printed at the end.
#
# The OPA build (tools/opa/build.sh: cached after the first run, minutes on a fresh machine) starts
# in the background first and runs alongside the install and the static checks.
# Slow tests (marked `slow`) run here as in CI; `scripts/test.sh -m "not slow"` leaves them out.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

declare -a PHASES=()
phase_name=""
phase_start=$SECONDS
total_start=$SECONDS
phase() {
  if [ -n "$phase_name" ]; then PHASES+=("$(printf '%-44s %5d s' "$phase_name" $((SECONDS - phase_start)))"); fi
  phase_name="$1"
  phase_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}
report() {
  local code=$?
  phase ""
  echo
  echo "== time per phase"
  local line
  for line in "${PHASES[@]}"; do echo "  $line"; done
  printf '  %-44s %5d s\n' "total" $((SECONDS - total_start))
  [ -z "${OPA_LOG:-}" ] || rm -f "$OPA_LOG" "$OPA_OUT"
  exit "$code"
}
trap report EXIT

# Started first, waited for before the OPA phase.
OPA_LOG="$(mktemp)"
OPA_OUT="$(mktemp)"
opa_build_start=$SECONDS
tools/opa/build.sh >"$OPA_OUT" 2>"$OPA_LOG" &
OPA_PID=$!

phase "virtualenv + install"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

phase "ruff"
ruff check .
ruff format --check .
phase "mypy"
# The sources live in engine/ and cli/ but import as govern.engine / govern.cli: give mypy
# that layout through a folder of links.
rm -rf .typecheck && mkdir -p .typecheck/govern
ln -s ../../engine .typecheck/govern/engine
ln -s ../../cli .typecheck/govern/cli
(cd .typecheck && MYPYPATH=. mypy --config-file ../pyproject.toml -p govern.engine -p govern.cli)
phase "import-linter"
(cd .typecheck && PYTHONPATH=. lint-imports --config ../pyproject.toml)
phase "govern test (built-in Rego library)"
govern test
phase "real OPA: wait for the build, opa test / check / fmt"
# The OPA backend tests (tests/test_opa_*.py, tests/conformance/) start this binary as a server.
# Under CI they must run; a developer without Go (and no cached build) gets them skipped.
if wait "$OPA_PID"; then
  GOVERN_OPA_BIN="$(cat "$OPA_OUT")"
  export GOVERN_OPA_BIN
  echo "OPA ready after $((SECONDS - opa_build_start)) s (in the background): $GOVERN_OPA_BIN"
  "$GOVERN_OPA_BIN" test policies/
  "$GOVERN_OPA_BIN" check --strict policies/
  # the same type check govern runs at load: every input.* reference against the evidence schema
  schema_dir="$(mktemp -d)"
  python scripts/opa_input_schema.py "$schema_dir/input.json"
  "$GOVERN_OPA_BIN" check --strict --schema "$schema_dir/input.json" policies/
  # and only the built-ins govern allows (no network, clock or randomness)
  "$GOVERN_OPA_BIN" capabilities --current | python scripts/opa_capabilities.py > "$schema_dir/capabilities.json"
  "$GOVERN_OPA_BIN" check --strict --capabilities "$schema_dir/capabilities.json" policies/
  rm -rf "$schema_dir"
  "$GOVERN_OPA_BIN" fmt --fail --list policies/
elif [ "${CI:-}" = "true" ]; then
  cat "$OPA_LOG" >&2
  echo "tools/opa/build.sh failed: CI needs a real OPA" >&2
  exit 1
else
  tail -n 5 "$OPA_LOG" >&2
  echo "no OPA binary (install Go to build one): the OPA backend tests will be skipped"
fi
phase "Regal lint of policies/ (.regal/config.yaml: every rule on reports nothing)"
# Regal is not served by the Go module proxy these machines reach, so it cannot be built here like
# OPA; a developer with a regal binary on PATH (or GOVERN_REGAL_BIN) gets the lint.
REGAL_BIN="${GOVERN_REGAL_BIN:-$(command -v regal || true)}"
if [ -n "$REGAL_BIN" ]; then
  "$REGAL_BIN" lint policies/
else
  echo "regal not found: policies/ not linted by Regal (set GOVERN_REGAL_BIN to a regal binary)"
fi
phase "headless Chromium (for the model-card rendering tests)"
# The HTML card is opened in Debian's chromium. Under CI it is installed when missing and the
# tests must run; locally they are skipped with a reason when it is absent.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not found: the browser tests will be skipped (apt-get install chromium)"
  fi
fi
phase "Prometheus (for the live-evidence tests)"
# The live tests start Debian's prometheus on loopback, scraping an exporter they start. Under CI
# it is installed when missing and the tests must run; locally they are skipped with a reason.
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  else
    echo "prometheus not found: the live-evidence tests will be skipped (apt-get install prometheus)"
  fi
fi
phase "pytest"
python -m pytest --durations=15 "$@"

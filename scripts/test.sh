#!/usr/bin/env bash
# Set up a virtualenv with the dev tools and run every check CI runs:
# ruff (lint + format), mypy (strict), import-linter (layering), the Rego unit tests (govern
# test, and opa test/check/fmt on a real OPA), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
# The sources live in engine/ and cli/ but import as govern.engine / govern.cli: give mypy
# that layout through a folder of links.
rm -rf .typecheck && mkdir -p .typecheck/govern
ln -s ../../engine .typecheck/govern/engine
ln -s ../../cli .typecheck/govern/cli
(cd .typecheck && MYPYPATH=. mypy --config-file ../pyproject.toml -p govern.engine -p govern.cli)
echo "== import-linter"
(cd .typecheck && PYTHONPATH=. lint-imports --config ../pyproject.toml)
echo "== govern test (built-in Rego library)"
govern test
echo "== real OPA: opa test / check --strict / fmt over policies/ (tools/opa/build.sh, cached)"
# The OPA backend tests (tests/test_opa_*.py, tests/conformance/) start this binary as a server.
# Under CI they must run; a developer without Go (and no cached build) gets them skipped.
if GOVERN_OPA_BIN="$(tools/opa/build.sh)"; then
  export GOVERN_OPA_BIN
  "$GOVERN_OPA_BIN" test policies/
  "$GOVERN_OPA_BIN" check --strict policies/
  "$GOVERN_OPA_BIN" fmt --fail --list policies/
elif [ "${CI:-}" = "true" ]; then
  echo "tools/opa/build.sh failed: CI needs a real OPA" >&2
  exit 1
else
  echo "no OPA binary (install Go to build one): the OPA backend tests will be skipped"
fi
echo "== headless Chromium (for the model-card rendering tests)"
# The HTML card is opened in Debian's chromium. Under CI it is installed when missing and the
# tests must run; locally they are skipped with a reason when it is absent.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not found: the browser tests will be skipped (apt-get install chromium)"
  fi
fi
echo "== Prometheus (for the live-evidence tests)"
# The live tests start Debian's prometheus on loopback, scraping an exporter they start. Under CI
# it is installed when missing and the tests must run; locally they are skipped with a reason.
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  else
    echo "prometheus not found: the live-evidence tests will be skipped (apt-get install prometheus)"
  fi
fi
echo "== pytest"
python -m pytest "$@"

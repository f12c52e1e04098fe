#!/usr/bin/env bash
# Set up a virtualenv with the dev tools and run every check CI runs:
# ruff (lint + format), mypy (strict), import-linter (layering), the Rego unit tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
export PATH="$PWD/$VENV/bin:$PATH"

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
lint-imports
echo "== govern test (built-in Rego library)"
govern test
echo "== pytest"
python -m pytest "$@"

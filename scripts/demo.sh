#!/usr/bin/env bash
# Set up govern in a virtualenv and run the main job on the shipped example:
# check the Adult income model's evidence against the built-in policy library.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/govern" ]; then
  echo "setting up $VENV (one time) ..." >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e .
fi
"$VENV/bin/govern" validate examples/adult-income/spec.yaml
"$VENV/bin/govern" check examples/adult-income/spec.yaml --evidence examples/adult-income/evidence.json "$@"

#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install vp_bayes with the given extras (default: none),
# at the versions in constraints.txt (the ones the test suite passed with).
# VENV=path picks another environment; UNPINNED=1 installs the newest releases the ranges in
# pyproject.toml allow (scripts/refresh-lock.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  "$(bash scripts/python.sh)" -m venv "$venv"
fi
pin=(-c constraints.txt)
[ "${UNPINNED:-0}" = 1 ] && pin=()
"$venv/bin/python" -m pip install -q --upgrade pip "${pin[@]}"
if [ -n "$extras" ]; then
  "$venv/bin/python" -m pip install -q "${pin[@]}" -e ".[$extras]"
else
  "$venv/bin/python" -m pip install -q "${pin[@]}" -e .
fi

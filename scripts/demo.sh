#!/usr/bin/env bash
# The main job on the bundled demo wave: set up, validate, select items, fit the item model,
# score the simulated LLMs and their personas, contrast demographic groups, write the report.
# Outputs go to out/demo/ (override with OUT=...). Extra arguments are passed to `vp-bayes fit`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/demo}"
bash scripts/setup.sh
vp() { .venv/bin/vp-bayes "$@"; }
mkdir -p "$OUT"
echo "== validate the demo wave (data/demo)"
vp validate data/demo
echo "== the paper's correlation item selection"
vp select data/demo --out "$OUT/tags.csv" --n-permutations 0
echo "== fit the hierarchical item model"
vp fit data/demo --out "$OUT/model.nc" --draws 4000 --check-every 250 --tune 400 --chains 4 --keep-draws 1500 --no-progress "$@"
vp select-bayes "$OUT/model.nc" --tags "$OUT/tags.csv" --out "$OUT/selection.csv"
echo "== score the simulated LLMs and personas through the item posterior"
vp score "$OUT/model.nc" data/demo/llm_ratings.csv --out "$OUT/portraits.csv"
echo "== demographic contrasts: human groups, personas, bias"
vp contrast "$OUT/model.nc" "$OUT/portraits.nc" --axis gender --axis age \
  --out "$OUT/contrasts.csv" --plot "$OUT/contrasts.png"
echo "== report"
vp report "$OUT/model.nc" --portraits "$OUT/portraits.csv" --contrasts "$OUT/contrasts.csv" \
  --selection "$OUT/selection.csv" --out "$OUT/report"
echo
case "$OUT" in /*) report="$OUT/report/index.html" ;; *) report="$(pwd)/$OUT/report/index.html" ;; esac
echo "Report: $report"

"""The demo's contrasts against the simulator's truth (the README's worked example).

Reads the contrast table written by ``bash scripts/demo.sh`` (``out/demo/contrasts.csv``) and
the demo wave's ``truth.nc``. Human group means are ``effect_{axis}``; a persona of the
simulated LLM adds ``persona_distortion_{axis}``, so a pair bias (persona contrast minus human
contrast) is the difference of the distortions. Prints, for the human pair contrasts and the
pair biases: 90% coverage of the truth and the correlation of the posterior means with it;
then every credible pair bias with its true value.

Run: ``python benchmarks/demo_contrast_truth.py [--contrasts out/demo/contrasts.csv]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
KEYS = ["axis", "group_a", "group_b", "value"]


def truth_pairs(truth: xr.Dataset, prefix: str) -> pd.DataFrame:
    """``axis, group_a, group_b, value, truth``: every ordered pair of an axis's groups."""
    rows = []
    for name in truth.data_vars:
        if not str(name).startswith(prefix + "_"):
            continue
        axis = str(name)[len(prefix) + 1:]
        da = truth[name]
        dim = f"group_{axis}"
        groups = [str(g) for g in da[dim].values]
        for a in groups:
            for b in groups:
                if a == b:
                    continue
                diff = da.sel({dim: a}) - da.sel({dim: b})
                for v, x in zip(da["value"].values, diff.values, strict=True):
                    rows.append((axis, a, b, str(v), float(x)))
    return pd.DataFrame(rows, columns=[*KEYS, "truth"])


def recovery(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, float]:
    """(covered, cells, r) of the table's pair rows against the truth."""
    merged = table.merge(truth, on=KEYS, validate="1:1")
    covered = int(((merged["lower"] <= merged["truth"])
                   & (merged["truth"] <= merged["upper"])).sum())
    return covered, len(merged), float(np.corrcoef(merged["mean"], merged["truth"])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contrasts", type=Path, default=REPO / "out" / "demo" / "contrasts.csv")
    parser.add_argument("--truth", type=Path, default=REPO / "data" / "demo" / "truth.nc")
    args = parser.parse_args()
    if not args.contrasts.is_file():
        sys.exit(f"missing {args.contrasts}: run bash scripts/demo.sh first")
    table = pd.read_csv(args.contrasts, dtype={"group_a": str, "group_b": str})
    pairs = table[table["group_b"].notna() & (table["group_b"] != "")]
    truth = xr.open_dataset(args.truth)
    for source, prefix in (("human", "effect"), ("bias", "persona_distortion")):
        rows = pairs[pairs["source"] == source]
        for model, sub in rows.groupby(rows["model"].fillna("")):
            covered, cells, r = recovery(sub, truth_pairs(truth, prefix))
            label = f"{source} {model}".strip()
            print(f"{label}: 90% intervals cover {covered} of {cells}, r = {r:.2f}")
    bias = pairs[pairs["source"] == "bias"].merge(truth_pairs(truth, "persona_distortion"),
                                                  on=KEYS)
    credible = bias[(bias["lower"] > 0) | (bias["upper"] < 0)]
    print(f"credible pair biases: {len(credible)}")
    if len(credible):
        print(credible[["model", *KEYS, "mean", "lower", "upper", "truth"]].to_string(
            index=False, float_format=lambda x: f"{x:+.2f}"))


if __name__ == "__main__":
    main()

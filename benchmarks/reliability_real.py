"""Reliability of the paper's tagged item sets among the real wave's humans.

For each value and rater group, the published tags' items (rho > 0.3, p < 0.05) rated by the
group's participants: Cronbach's alpha and McDonald's omega with 90% bootstrap intervals
(``vp_bayes.selection.reliability``), then a summary per value. Needs
``../shared/valueportrait/release``.

Run: ``python benchmarks/reliability_real.py [--n-boot 1000]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait" / "release"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    if not RELEASE.is_dir():
        sys.exit(f"missing {RELEASE}")
    from vp_bayes.selection.correlation import published_correlations
    from vp_bayes.selection.reliability import tagged_set_reliability
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    table = tagged_set_reliability(read_valueportrait(RELEASE), published_correlations(RELEASE),
                                   n_boot=args.n_boot)
    pd.set_option("display.width", 160)
    print("Per value and rater group (90% bootstrap intervals over participants)")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    summary = table.groupby("value").agg(sets=("alpha", "size"), items=("n_items", "sum"),
                                         alpha_median=("alpha", "median"),
                                         alpha_min=("alpha", "min"), alpha_max=("alpha", "max"),
                                         omega_median=("omega", "median"))
    print("\nPer value")
    print(summary.to_string(float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()

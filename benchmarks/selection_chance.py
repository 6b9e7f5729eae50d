"""How many Value Portrait tags would the paper's rule give by chance?

Run: ``python benchmarks/selection_chance.py`` (needs ../shared/valueportrait). Prints the
per-test chance rate of "rho > threshold and p < 0.05" by the t approximation for a grid of
rater counts and thresholds, then the release's observed, chance (permutation, seed 0) and
FDR-corrected tag counts per value, with timings.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from vp_bayes.dims import VALUES_10
from vp_bayes.selection import (
    chance_tag_probability,
    expected_chance_tags,
    item_trait_correlations,
    published_correlations,
    select_items,
    tag_counts,
)
from vp_bayes.wave.importers.valueportrait import read_valueportrait

RELEASE = Path(__file__).resolve().parents[1].parent / "shared" / "valueportrait"


def main() -> None:
    """Print the chance grid and the release summary."""
    grid = pd.DataFrame(
        {thr: [float(chance_tag_probability(n, thr)) for n in (30, 47, 100, 300)]
         for thr in (0.2, 0.3, 0.4)},
        index=pd.Index([30, 47, 100, 300], name="raters"),
    )
    print("P(tag | rho = 0), t approximation, alpha 0.05, columns = r threshold")
    print(grid.round(4).to_string())
    if not RELEASE.is_dir():
        print(f"release not found at {RELEASE}")
        return
    wave = read_valueportrait(RELEASE)
    traits = wave.values[list(VALUES_10)]
    t0 = time.perf_counter()
    recomputed = item_trait_correlations(wave.ratings, traits)
    t1 = time.perf_counter()
    chance = expected_chance_tags(wave.ratings, traits, n_permutations=200, seed=0)
    t2 = time.perf_counter()
    pub = published_correlations(RELEASE)
    summary = pd.DataFrame({
        "published": tag_counts(pub, VALUES_10),
        "recomputed": tag_counts(recomputed, VALUES_10),
        "chance": chance.set_index("value")["expected_tags"].round(1),
        "fdr_bh": tag_counts(select_items(pub, correction="fdr_bh"), VALUES_10),
    })
    summary.loc["total"] = summary.sum()
    print(summary.to_string())
    print(f"correlations 520 items x 10 values: {t1 - t0:.2f} s; "
          f"permutation chance (200 per item): {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()

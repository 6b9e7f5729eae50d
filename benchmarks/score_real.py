"""Score the 27 published LLMs through a fitted real-wave item model; compare with the paper.

Needs ``models/valueportrait.nc`` (``vp-bayes fit`` on the imported Value Portrait wave) and
``../shared/valueportrait/{llm_ratings_27.csv,paper_scores_27.csv}``. Prints:

1. per value, the Spearman correlation between the posterior centred means and the
   published centred scores (value names through ``dims.canonical_trait``);
2. per value, how many of the published orderings between two models (score a > score b)
   the posterior does not support: the two centred intervals overlap, or the posterior
   probability P(a > b) (draw by draw) is below the interval mass; then the first few.

Run: ``python benchmarks/score_real.py [--model PATH] [--mass 0.9] [--portraits OUT.csv]``
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from vp_bayes import dims

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
N_LISTED = 15


def published(path: Path) -> pd.DataFrame:
    """Published centred scores, value names canonical: respondent x value."""
    paper = pd.read_csv(path)
    paper["value"] = paper["value"].map(dims.canonical_trait)
    return paper.pivot(index="respondent", columns="value", values="centered_mean")


def unsupported_orderings(draws, paper: pd.DataFrame, mass: float) -> pd.DataFrame:
    """Published orderings a > b not supported by the posterior (one row each)."""
    cen = draws[dims.THETA_CENTERED]
    lo = cen.quantile((1 - mass) / 2, dim=dims.SAMPLE)
    hi = cen.quantile((1 + mass) / 2, dim=dims.SAMPLE)
    rows = []
    models = [m for m in paper.index if m in set(draws[dims.RESPONDENT].values)]
    for value in paper.columns:
        for a, b in combinations(models, 2):
            if paper.loc[a, value] < paper.loc[b, value]:
                a, b = b, a
            diff = (cen.sel({dims.RESPONDENT: a, dims.VALUE: value})
                    - cen.sel({dims.RESPONDENT: b, dims.VALUE: value})).values
            prob = float((diff > 0).mean())
            overlap = bool(lo.sel({dims.RESPONDENT: a, dims.VALUE: value})
                           <= hi.sel({dims.RESPONDENT: b, dims.VALUE: value}))
            rows.append({"value": value, "higher": a, "lower": b,
                         "published_diff": paper.loc[a, value] - paper.loc[b, value],
                         "p_higher": prob, "intervals_overlap": overlap})
    out = pd.DataFrame(rows)
    out["supported_by_intervals"] = ~out["intervals_overlap"]
    out["supported_by_probability"] = out["p_higher"] >= mass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--mass", type=float, default=dims.INTERVAL_MASS)
    parser.add_argument("--item-draws", type=int, default=200)
    parser.add_argument("--portraits", type=Path, default=None,
                        help="Also write the portraits (CSV + .nc beside it).")
    args = parser.parse_args()
    ratings_file, paper_file = RELEASE / "llm_ratings_27.csv", RELEASE / "paper_scores_27.csv"
    for path in (args.model, ratings_file, paper_file):
        if not path.is_file():
            sys.exit(f"missing {path}: fit the real wave first (vp-bayes fit ... --out "
                     f"models/valueportrait.nc) and keep ../shared/valueportrait beside the repo")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import save_portraits, score
    from vp_bayes.wave.ratings import read_llm_ratings

    model = load_model(args.model)
    portraits = score(model, read_llm_ratings(ratings_file), mass=args.mass,
                      n_item_draws=args.item_draws)
    if args.portraits:
        save_portraits(portraits, args.portraits)
    for note in portraits.notes:
        print("note:", note)
    paper = published(paper_file)
    table = portraits.table.pivot(index="respondent", columns="value", values="centered_mean")
    common = paper.index.intersection(table.index)
    rows = []
    for value in paper.columns:
        rho = spearmanr(table.loc[common, value], paper.loc[common, value]).statistic
        rows.append({"value": value, "spearman_rho": round(float(rho), 3)})
    print(f"\nSpearman correlation over {len(common)} models: posterior centred mean vs "
          "published centred score")
    print(pd.DataFrame(rows).to_string(index=False))
    orders = unsupported_orderings(portraits.draws, paper.loc[common], args.mass)
    pct = f"{100 * args.mass:g}%"
    summary = orders.groupby("value").agg(
        orderings=("higher", "size"),
        overlapping=("intervals_overlap", "sum"),
        p_below_mass=("supported_by_probability", lambda s: int((~s).sum())))
    print(f"\nPublished orderings not supported: overlapping {pct} centred intervals, or "
          f"P(higher > lower) < {args.mass:g} (draw by draw)")
    print(summary.to_string())
    worst = orders[~orders["supported_by_probability"]].sort_values("p_higher")
    print(f"\nFirst {N_LISTED} unsupported orderings (lowest posterior probability):")
    print(worst.head(N_LISTED).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()

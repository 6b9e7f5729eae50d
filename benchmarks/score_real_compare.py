"""The 27 released LLMs: portraits under scoring settings, the paper's scores, person fit.

Needs ``models/valueportrait.nc`` and ``../shared/valueportrait`` (the release and the derived
``llm_ratings_27.csv``, ``paper_scores_27.csv``). Prints:

1. per value, the mean over the 27 LLMs of the centred value: the paper's centred score, a
   human-relative classic score (each LLM rating minus the humans' mean rating of that item,
   then the paper's centred mean over the tagged items), and the posterior centred mean under
   each scoring setting (the sensitivity analysis); Spearman of each column with the paper's
   over the ten values;
2. per model, the posterior predictive p-values (variant agreement, rating distribution,
   person fit) under the earlier default and the current one, and which models the item
   model fits;
3. per setting, how many of the paper's pairwise orderings (models a > b on a value) the
   posterior supports at 90% (P(a > b) >= 0.9, draw by draw), and seconds per model.

Run: ``python benchmarks/score_real_compare.py [--settings default earlier ...]``
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from vp_bayes import dims

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
SETTINGS = {
    "default": {},
    "earlier": {"method": "cut", "variant_offsets": False, "item_deviation": False,
                "prior_scale": 1.0},
    "prior_x1": {"prior_scale": 1.0},
    "prior_x4": {"prior_scale": 4.0},
    "no_noise": {"item_deviation": False},
    "no_offsets": {"variant_offsets": False},
    "cut_prior_x2": {"method": "cut", "variant_offsets": False, "item_deviation": False},
}


def paper_scores() -> pd.DataFrame:
    """Published centred scores: respondent x value (canonical names)."""
    paper = pd.read_csv(RELEASE / "paper_scores_27.csv")
    paper["value"] = paper["value"].map(dims.canonical_trait)
    return paper.pivot(index="respondent", columns="value", values="centered_mean")


def human_relative(ratings: pd.DataFrame) -> pd.DataFrame:
    """Classic centred scores of (LLM rating - humans' mean rating of the item)."""
    from vp_bayes.classic import classic_scores
    from vp_bayes.selection.correlation import published_correlations
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    wave = read_valueportrait(RELEASE / "release")
    human_mean = wave.ratings.groupby("item_id")["rating"].mean()
    shifted = ratings.copy()
    shifted["rating"] = shifted["rating"] - shifted["item_id"].astype(str).map(human_mean)
    scores = classic_scores(published_correlations(RELEASE / "release"), shifted)
    return scores.pivot(index="respondent", columns="value", values="centered_score")


def supported_orderings(draws, paper: pd.DataFrame, mass: float) -> tuple[int, int]:
    """(supported, total) published orderings a > b with P(a > b) >= mass."""
    cen = draws["theta_centred"]
    names = set(map(str, draws[dims.RESPONDENT].values))
    models = [m for m in paper.index if m in names]
    ok = total = 0
    for value in paper.columns:
        sub = cen.sel({dims.VALUE: value})
        for a, b in combinations(models, 2):
            if paper.loc[a, value] < paper.loc[b, value]:
                a, b = b, a
            diff = sub.sel({dims.RESPONDENT: a}).values - sub.sel({dims.RESPONDENT: b}).values
            ok += int((diff > 0).mean() >= mass)
            total += 1
    return ok, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=None,
                        help="Folder for each setting's portraits (CSV + .nc).")
    args = parser.parse_args()
    for path in (args.model, RELEASE / "llm_ratings_27.csv", RELEASE / "paper_scores_27.csv"):
        if not path.is_file():
            sys.exit(f"missing {path}")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import item_draws, save_portraits, score
    from vp_bayes.wave.ratings import read_llm_ratings

    model = load_model(args.model)
    ratings = read_llm_ratings(RELEASE / "llm_ratings_27.csv", scale=(1, 6))
    draws = item_draws(model, 200)
    paper = paper_scores()
    means = {"paper": paper.mean(), "human_relative_classic": human_relative(ratings).mean()}
    fit_rows, order_rows = [], []
    for name in args.settings:
        start = time.perf_counter()
        res = score(model, ratings, draws=draws, progress=False, **SETTINGS[name])
        sec = (time.perf_counter() - start) / res.draws.sizes[dims.RESPONDENT]
        if args.out:
            save_portraits(res, args.out / f"{name}.csv")
        cen = res.table.pivot(index="respondent", columns="value", values="centered_mean")
        means[name] = cen.mean()
        per = res.table.drop_duplicates("respondent").set_index("respondent")
        for resp, row in per.iterrows():
            fit_rows.append({"setting": name, "model": resp,
                             **{k: row[k] for k in ("ppp_agreement", "ppp_distribution",
                                                    "ppp_fit", "tau", "sigma", "pareto_k")}})
        ok, total = supported_orderings(res.draws, paper, dims.INTERVAL_MASS)
        order_rows.append({"setting": name, "supported": ok, "of": total,
                           "misfit_models": int(per["misfit"].sum()),
                           "khat_above_0.7": int((per["pareto_k"] > 0.7).sum()),
                           "mean_width_centred": float((res.table["centered_upper"]
                                                        - res.table["centered_lower"]).mean()),
                           "s_per_model": sec})
        print(f"{name}: {sec:.2f} s per model", flush=True)
    table = pd.DataFrame(means).loc[list(dims.VALUES_10)]
    print("\n1. Mean over the 27 LLMs of the centred value (paper: centred mean rating; "
          "posterior: theta units)")
    print(table.to_string(float_format=lambda x: f"{x:+.2f}"))
    rho = {c: spearmanr(table[c], table["paper"]).statistic for c in table.columns}
    print("Spearman with the paper over the 10 values: "
          + ", ".join(f"{k} {v:+.2f}" for k, v in rho.items()))
    fits = pd.DataFrame(fit_rows)
    print("\n2. Posterior predictive p-values per model")
    wide = fits.pivot(index="model", columns="setting",
                      values=["ppp_agreement", "ppp_distribution", "ppp_fit"])
    print(wide.to_string(float_format=lambda x: f"{x:.2f}"))
    for name in args.settings:
        f = fits[fits["setting"] == name]
        low = {k: int((f[k] < 0.01).sum()) for k in ("ppp_agreement", "ppp_distribution",
                                                     "ppp_fit")}
        print(f"{name}: models with p < 0.01: {low}; median tau {np.nanmedian(f['tau']):.2f},"
              f" median sigma {np.nanmedian(f['sigma']):.2f}")
    print("\n3. Published orderings supported at 90%, misfit and importance diagnostics")
    print(pd.DataFrame(order_rows).to_string(index=False, float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()

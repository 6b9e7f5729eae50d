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
   posterior supports at 90% (P(a > b) >= 0.9, draw by draw), and seconds per model;
4. why the methods disagree, per value: how the item model's loadings (posterior means,
   partial effects of the ten values together) relate to the paper's tags (marginal
   correlations), and a linear reading of the portrait, the least-squares regression of each
   LLM's human-relative ratings (its mean rating of an item minus the humans' mean) on the
   items' loadings, centred over the values like the portraits.

Item models refitted with other settings (``vp-bayes fit ... --config``: the loading prior,
the response style, the values as measured with error) are scored with the default
settings through ``--refit NAME=PATH`` and appear as columns of table 1.

Run: ``python benchmarks/score_real_compare.py [--settings default earlier ...]
[--refit normal_loadings=PATH ...]``
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
    cen = draws[dims.THETA_CENTERED]
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


def published_tags() -> set[str]:
    """Items the paper tags for at least one value."""
    from vp_bayes.selection.correlation import published_correlations

    tags = published_correlations(RELEASE / "release")
    return set(tags.loc[tags["tagged"].astype(bool), "item_id"].astype(str))


def human_residuals(ratings: pd.DataFrame, items: tuple[str, ...]) -> pd.DataFrame:
    """Each LLM's mean rating of an item minus the humans' mean rating (LLM x item)."""
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    wave = read_valueportrait(RELEASE / "release")
    human_mean = wave.ratings.groupby("item_id")["rating"].mean()
    llm = ratings.groupby(["respondent", "item_id"])["rating"].mean().unstack()
    return (llm - human_mean).reindex(columns=list(items))


def loadings_vs_tags(model, ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Per value: the loadings of its tagged items, and the linear reading of the portrait.

    Returns the per-value table and the mean over LLMs of the linear reading (centred).
    """
    from vp_bayes.selection.correlation import published_correlations

    post = model.posterior
    loads = post["beta"].mean((dims.CHAIN, dims.DRAW)).to_pandas()  # item x value
    loads = loads.loc[:, list(dims.VALUES_10)]
    tags = published_correlations(RELEASE / "release")
    tags["value"] = tags["value"].map(dims.canonical_trait)
    rho = tags.pivot(index="item_id", columns="value", values="r").reindex(loads.index)
    tagged = tags.pivot(index="item_id", columns="value", values="tagged").reindex(
        loads.index).fillna(False).astype(bool)
    resid = human_residuals(ratings, tuple(loads.index)).fillna(0.0)
    m = loads.to_numpy()
    linear = resid.to_numpy() @ m @ np.linalg.pinv(m.T @ m)  # LLM x value least squares
    linear = pd.DataFrame(linear, index=resid.index, columns=loads.columns)
    linear = linear.sub(linear.mean(axis=1), axis=0)
    rows = []
    for v in loads.columns:
        t = tagged[v].to_numpy()
        rows.append({"value": v, "tagged_items": int(t.sum()),
                     "mean_loading_tagged": float(m[t, list(loads.columns).index(v)].mean()),
                     "share_tagged_loading_positive": float((loads.loc[t, v] > 0).mean()),
                     "corr_rho_loading": float(np.corrcoef(rho[v], loads[v])[0, 1]),
                     "llm_resid_tagged": float(resid.loc[:, t].mean(axis=1).mean()),
                     "llm_resid_loading_weighted": float(
                         (resid.to_numpy() @ loads[v].to_numpy()).mean()
                         / np.abs(loads[v]).sum())})
    return pd.DataFrame(rows).set_index("value"), linear.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--tagged-only", action="store_true",
                        help="Also score with the default settings on tagged items only.")
    parser.add_argument("--refit", nargs="*", default=[], metavar="NAME=PATH",
                        help="Refitted item models, scored with the default settings.")
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
    why, means["linear_reading"] = loadings_vs_tags(model, ratings)
    runs = [(name, model, draws, SETTINGS[name], ratings) for name in args.settings]
    if args.tagged_only:  # the default scoring on the items the paper tags for some value
        tags = published_tags()
        runs.append(("tagged_items_only", model, draws, {},
                     ratings[ratings["item_id"].astype(str).isin(tags)]))
    for spec in args.refit:
        name, _, path = spec.partition("=")
        refit = load_model(Path(path))
        runs.append((name, refit, item_draws(refit, 200), {}, ratings))
    fit_rows, order_rows = [], []
    for name, item_model, run_draws, options, run_ratings in runs:
        start = time.perf_counter()
        res = score(item_model, run_ratings, draws=run_draws, progress=False, **options)
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
    for ref in ("paper", "default"):
        if ref in table.columns:
            rho = {c: spearmanr(table[c], table[ref]).statistic for c in table.columns}
            print(f"Spearman with {ref} over the 10 values: "
                  + ", ".join(f"{k} {v:+.2f}" for k, v in rho.items()))
    fits = pd.DataFrame(fit_rows)
    print("\n2. Posterior predictive p-values per model")
    wide = fits.pivot(index="model", columns="setting",
                      values=["ppp_agreement", "ppp_distribution", "ppp_fit"])
    print(wide.to_string(float_format=lambda x: f"{x:.2f}"))
    for name in [r[0] for r in runs]:
        f = fits[fits["setting"] == name]
        low = {k: int((f[k] < 0.01).sum()) for k in ("ppp_agreement", "ppp_distribution",
                                                     "ppp_fit")}
        print(f"{name}: models with p < 0.01: {low}; median tau {np.nanmedian(f['tau']):.2f},"
              f" median sigma {np.nanmedian(f['sigma']):.2f}")
    print("\n3. Published orderings supported at 90%, misfit and importance diagnostics")
    print(pd.DataFrame(order_rows).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print("\n4. The item model's loadings against the paper's tags (posterior-mean loadings;"
          " LLM residual = LLM mean rating - humans' mean rating of the item)")
    print(why.to_string(float_format=lambda x: f"{x:+.3f}"))


if __name__ == "__main__":
    main()

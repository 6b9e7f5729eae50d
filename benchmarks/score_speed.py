"""Speed of `vp_bayes.scoring.score`: one respondent (520 items x 6 variants) and 27 respondents.

Targets: one respondent < 10 s, 27 respondents < 2 min on 2 cores (defaults: 200 item draws x
20 samples, importance resampling on). Uses ``models/valueportrait.nc`` and the 27 LLMs of
``../shared/valueportrait/llm_ratings_27.csv`` when both exist; otherwise a synthetic
posterior of a simulated 520-item wave (the simulation's true item parameters plus small
jitter as 200 "draws"), which has the shapes of the real problem and is used for timing only.

Run: ``python benchmarks/score_speed.py [--model PATH] [--item-draws 200] [--per-draw 20]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes import dims
from vp_bayes.scoring import item_draws, score

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
N_ITEMS = 520


def synthetic_model(n_draws: int, seed: int = 1):
    """A simulated 520-item wave and an ItemModel whose draws jitter its true parameters."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import ItemModel
    from vp_bayes.wave.simulate import simulate_wave

    sim = simulate_wave(n_participants=559, n_items=N_ITEMS, items_per_participant=40,
                        seed=seed, n_llm=27, personas=False)
    t = sim.truth
    rng = np.random.default_rng(seed)
    cd = (dims.CHAIN, dims.DRAW)

    def jit(a, sd=0.05):
        return np.asarray(a)[None, None] + sd * rng.standard_normal((1, n_draws, *np.shape(a)))

    v = t.sizes[dims.VALUE]
    post = xr.Dataset(
        {
            "beta": ((*cd, dims.ITEM, dims.VALUE), jit(t["beta"].values)),
            "b": ((*cd, dims.ITEM), jit(t["b"].values)),
            "kappa": ((*cd, dims.CUTPOINT), jit(t["kappa"].values, 0.0)),
            "sigma_alpha": (cd, np.abs(jit(t["sigma_alpha"].values))),
            "corr": ((*cd, dims.VALUE, f"{dims.VALUE}_b"),
                     np.broadcast_to(t["R"].values, (1, n_draws, v, v))),
            "theta": ((*cd, dims.PARTICIPANT, dims.VALUE), jit(t["theta"].values)),
        },
        coords={dims.ITEM: t[dims.ITEM].values, dims.VALUE: t[dims.VALUE].values,
                f"{dims.VALUE}_b": t[dims.VALUE].values,
                dims.PARTICIPANT: t[dims.PARTICIPANT].values},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(n_categories=6, scale_min=1)
    model = ItemModel(idata=tree, model_config=ModelConfig(), sampler_config=SamplerConfig(),
                      wave_hash="synthetic")
    return model, sim.llm_ratings.astype({"rating": float})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--item-draws", type=int, default=200)
    parser.add_argument("--per-draw", type=int, default=20)
    args = parser.parse_args()
    ratings_file = RELEASE / "llm_ratings_27.csv"
    if args.model.is_file() and ratings_file.is_file():
        from vp_bayes.model.io import load_model
        from vp_bayes.wave.ratings import read_llm_ratings

        model, ratings = load_model(args.model), read_llm_ratings(ratings_file)
        source = f"real: {args.model.name} + llm_ratings_27.csv"
    else:
        model, ratings = synthetic_model(args.item_draws)
        source = "synthetic posterior of a simulated 520-item wave (timing only)"
    draws = item_draws(model, args.item_draws)
    names = list(pd.unique(ratings["respondent"]))
    one = ratings[ratings["respondent"] == names[0]]
    rows = []
    cases = [("1 respondent", one, False), ("1 respondent, variant offsets", one, True),
             (f"{len(names)} respondents", ratings, False),
             (f"{len(names)} respondents, variant offsets", ratings, True)]
    for label, table, offsets in cases:
        start = time.perf_counter()
        res = score(model, table, n_item_draws=args.item_draws, n_per_draw=args.per_draw,
                    variant_offsets=offsets, progress=False, draws=draws)
        secs = time.perf_counter() - start
        n = res.draws.sizes[dims.RESPONDENT]
        rows.append({"case": label, "respondents": n,
                     "ratings": int(res.draws["n_ratings"].sum()),
                     "seconds": round(secs, 2), "s/respondent": round(secs / n, 2),
                     "ESS frac": round(float(res.draws["ess_fraction"].mean()), 2),
                     "max k-hat": round(float(res.draws["pareto_k"].max()), 2)})
    print(f"source: {source}")
    print(f"S = {draws.n_draws} item draws x M = {args.per_draw} samples, "
          f"{len(draws.items)} items, importance resampling on")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

"""DIF (issue 18): planted items found, false alarms, and what DIF does to group contrasts.

A demo-like simulated wave (raw PVQ-RR answers, latent values with gender and age effects)
with ``--dif-items`` items whose ratings differ between genders by ``--dif-size`` logits
(location DIF, ``simulate_wave(dif_items=, dif_size=)``). Fits:

1. the model with ``dif_axis="gender"``: per item the ROPE decision of ``dif_table``
   (planted items flagged = power; other items flagged = false alarms);
2. the model without DIF terms on all items, and on the items ``dif_table`` did not flag:
   the gender effects on the ten values (posterior means and 90% intervals) against the
   simulation's truth, i.e. how much the group contrast moves when flagged items are left out.

Run (about 25 minutes on 2 cores)::

    python benchmarks/dif_recovery.py [--dif-items 8 --dif-size 1.5 --draws 400 --tune 400]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.dif import dif_table, flagged_items
from vp_bayes.model.fit import fit_wave
from vp_bayes.wave.simulate import simulate_wave


def _gender_effect(fit) -> pd.DataFrame:
    post = fit.idata["posterior"].to_dataset()["effect_gender"]
    diff = post.sel(group_gender="female") - post.sel(group_gender="male")
    flat = diff.stack(s=("chain", "draw")).transpose("value", "s").values
    return pd.DataFrame({"mean": flat.mean(1), "lower": np.quantile(flat, 0.05, 1),
                         "upper": np.quantile(flat, 0.95, 1)}, index=diff["value"].values)


def _without(wave, items: list[str]):
    keep = ~wave.ratings["item_id"].isin(items)
    return replace(wave, ratings=wave.ratings[keep].reset_index(drop=True),
                   items=wave.items.drop(index=items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dif-items", type=int, default=8)
    parser.add_argument("--dif-size", type=float, default=1.5)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    sim = simulate_wave(seed=args.seed, n_llm=0, personas=False, dif_items=args.dif_items,
                        dif_size=args.dif_size)
    sampler = SamplerConfig(draws=args.draws, tune=args.tune, chains=2, seed=args.seed)
    start = time.perf_counter()
    fit = fit_wave(sim.wave, ModelConfig(dif_axis="gender"), sampler, progress=False,
                   ppc_draws=20)
    table = dif_table(fit)
    loc = table[table["kind"] == "location"].set_index("item_id")
    planted = loc.index[: args.dif_items]
    flagged = flagged_items(table)
    print(f"DIF fit {time.perf_counter() - start:.0f} s; max R-hat "
          f"{fit.diagnostics['r_hat_max'].max():.3f}")
    print(f"planted {len(planted)} items ({args.dif_size} logits): flagged "
          f"{len(set(flagged) & set(planted))}, intervals excluding 0 "
          f"{int(((loc.loc[planted, 'upper'] < 0) | (loc.loc[planted, 'lower'] > 0)).sum())}; "
          f"other items flagged {len(set(flagged) - set(planted))} of "
          f"{len(loc) - len(planted)}; undecided "
          f"{int((loc['flag'] == 'undecided').sum())}")
    print(loc.loc[planted, ["mean", "lower", "upper", "flag"]].round(2).to_string())
    truth = sim.truth["effect_gender"].sel(group_gender="female") - \
        sim.truth["effect_gender"].sel(group_gender="male")
    rows = {"truth": pd.Series(truth.values, index=truth["value"].values)}
    for name, wave in (("all items", sim.wave), ("flagged left out", _without(sim.wave, flagged))):
        effect = _gender_effect(fit_wave(wave, ModelConfig(), sampler, progress=False,
                                         ppc_draws=20))
        for col in effect:
            rows[f"{name}: {col}"] = effect[col]
    print("\nfemale - male value difference (latent SD units)")
    print(pd.DataFrame(rows).round(3).to_string())


if __name__ == "__main__":
    main()

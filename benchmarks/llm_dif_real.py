"""LLM-vs-human DIF on the 27 released LLMs: which items LLMs rate otherwise than their
portraits predict, and how the portraits move without them.

Needs ``models/valueportrait.nc`` and ``../shared/valueportrait/llm_ratings_27.csv``. Scores
the 27 LLMs with the default scoring, runs :func:`vp_bayes.scoring.llm_dif.llm_dif_table`
(posterior predictive check of each item's mean rating over the 27 LLMs x 6 variants), prints
the flags, the direction and the value each flagged item loads on most (human posterior mean
loading), then scores the LLMs again without the flagged items and prints, per value, how the
posterior means (human SD units), interval widths and percentiles move.

Run: ``python benchmarks/llm_dif_real.py [--model PATH] [--rope 0.5] [--csv OUT]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--rope", type=float, default=0.5)
    parser.add_argument("--csv", type=Path, default=None, help="Write the item table.")
    args = parser.parse_args()
    ratings_file = RELEASE / "llm_ratings_27.csv"
    for path in (args.model, ratings_file):
        if not path.is_file():
            sys.exit(f"missing {path}")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import item_draws, score
    from vp_bayes.scoring.llm_dif import llm_dif_lines, llm_dif_table
    from vp_bayes.wave.ratings import read_llm_ratings

    model = load_model(args.model)
    draws = item_draws(model, 200)
    ratings = read_llm_ratings(ratings_file)
    t0 = time.perf_counter()
    full = score(model, ratings, draws=draws, progress=False, person_fit=False)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = llm_dif_table(model, ratings, full, rope=args.rope, draws=draws)
    t_dif = time.perf_counter() - t0
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(f"scored 27 LLMs in {t_score:.0f} s; DIF table in {t_dif:.1f} s")
    for line in llm_dif_lines(table, shown=15):
        print(line)
    post = model.idata["posterior"]["beta"].mean(("chain", "draw")).to_pandas()
    flagged = table[table["flag"] == "dif"].copy()
    flagged["top_value"] = [post.loc[i].abs().idxmax() for i in flagged["item_id"]]
    flagged["loading"] = [post.loc[i, v] for i, v in zip(flagged["item_id"],
                                                          flagged["top_value"], strict=True)]
    print(f"\nflags: {table['flag'].value_counts().to_dict()}; band half-width median "
          f"{((table['upper'] - table['lower']) / 2).median():.2f} rating points; "
          f"|discrepancy| median {table['discrepancy'].abs().median():.2f}, "
          f"90th percentile {table['discrepancy'].abs().quantile(0.9):.2f}")
    print(f"flagged items rated higher by the LLMs than predicted: "
          f"{int((flagged['discrepancy'] > 0).sum())}, lower: "
          f"{int((flagged['discrepancy'] < 0).sum())}")
    print("\nflagged items by the value they load on most (human posterior mean loading):")
    print(flagged.groupby("top_value")["discrepancy"].agg(["count", "mean"]).round(2)
          .to_string())
    if not len(flagged):
        return
    keep = ~ratings["item_id"].astype(str).isin(set(flagged["item_id"]))
    t0 = time.perf_counter()
    reduced = score(model, ratings[keep], draws=draws, progress=False, person_fit=False)
    print(f"\nrescored without the {len(flagged)} flagged items in "
          f"{time.perf_counter() - t0:.0f} s. Per value, over the 27 LLMs:")
    a = full.table.set_index(["respondent", "value"])
    b = reduced.table.set_index(["respondent", "value"]).loc[a.index]
    rows = []
    for value in a.index.get_level_values("value").unique():
        x, y = a.xs(value, level="value"), b.xs(value, level="value")
        rows.append({"value": value,
                     "mean abs change of mean": (x["mean"] - y["mean"]).abs().mean(),
                     "max abs change": (x["mean"] - y["mean"]).abs().max(),
                     "change / posterior sd": ((x["mean"] - y["mean"]).abs()
                                               / x["sd"]).mean(),
                     "r of means": np.corrcoef(x["mean"], y["mean"])[0, 1],
                     "width ratio": ((y["upper"] - y["lower"])
                                     / (x["upper"] - x["lower"])).median(),
                     "mean abs percentile change": (x["percentile"]
                                                    - y["percentile"]).abs().mean()})
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()

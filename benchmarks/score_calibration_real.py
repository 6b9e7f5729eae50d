"""Calibration of LLM portraits in the real wave's regime (posterior draw as truth).

Truth item parameters = one posterior draw of ``models/valueportrait.nc`` that is not among
the scoring draws; LLMs with real participants' value profiles at 1x and 2x the human spread,
wider response styles, Student-t item deviations shared by six variants, per-variant offsets
and Gaussian rating noise (``tests/realwave_sim.py``: a process that differs from the scoring
model). Prints coverage of 90% intervals, slope of posterior means on the truth, median
interval width, share of respondents flagged as misfitting, seconds per respondent, for the
default scoring and for the earlier default (cut, pooled variants, human prior).

Run: ``python benchmarks/score_calibration_real.py [--n 40] [--model PATH] [--seed-offset K]``
(the LLMs of ``tests/test_scoring_calibration_real.py`` at offset 0, other LLMs at others).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SETTINGS = {
    "default (marginal, respondent noise, prior x2)": {},
    "default with variant offsets": {"variant_offsets": True},
    "earlier default (cut, pooled, human prior)": {
        "method": "cut", "variant_offsets": False, "item_deviation": False, "prior_scale": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--n", type=int, default=40, help="LLMs per scenario")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="added to the simulation seeds (0: the slow test's LLMs)")
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--only-default", action="store_true")
    args = parser.parse_args()
    from realwave_sim import SCORE_SEED, calibration, scenario_seed, simulate_llms, truth_draw

    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import item_draws, score

    model = load_model(args.model)
    everything = item_draws(model, 10**9)
    draws = item_draws(model, 200)
    truth = everything.subset([truth_draw(everything, draws)])
    rows = []
    settings = dict(list(SETTINGS.items())[:1]) if args.only_default else SETTINGS
    for spread in args.spreads:
        theta, ratings = simulate_llms(truth, args.n, spread,
                                       seed=scenario_seed(spread, args.seed_offset))
        names = sorted(ratings["respondent"].unique())
        for label, kw in settings.items():
            start = time.perf_counter()
            res = score(model, ratings, draws=draws, progress=False, seed=SCORE_SEED, **kw)
            sec = (time.perf_counter() - start) / args.n
            rows.append({"scoring": label, "spread": spread,
                         **calibration(res.table, theta, names, draws.values),
                         "s_per_llm": sec})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.3f"),
                  flush=True)
    print("\n90% intervals, real-wave regime:")
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()

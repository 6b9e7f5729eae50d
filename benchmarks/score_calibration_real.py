"""Calibration of LLM portraits in the real wave's regime (posterior draw as truth).

Truth item parameters = one posterior draw of ``models/valueportrait.nc`` that is not among
the scoring draws; LLMs with real participants' value profiles at 1x and 2x the human spread,
wider response styles, Student-t item deviations shared by six variants, per-variant offsets
and Gaussian rating noise (``tests/realwave_sim.py``: a process that differs from the scoring
model). Prints coverage of 90% intervals, slope of posterior means on the truth, median
interval width, share of respondents flagged as misfitting, seconds per respondent, for the
default scoring and for the earlier default (cut, pooled variants, human prior).

Run: ``python benchmarks/score_calibration_real.py [--n 40] [--model PATH] [--seed-offset K]
[--truth draw|item-wise]`` (the LLMs of ``tests/test_scoring_calibration_real.py`` at offset 0,
other LLMs at others). ``--truth item-wise`` takes each item's loadings and location from its
own posterior draw (among those not used for scoring; the cutpoints, response-style scale and
value profiles from the truth draw): the same marginal posterior per item without the
posterior's correlation across items, which the default scoring treats as independent.
``--truth gaussian`` draws them from each item's Gaussian that the default scoring integrates
over. ``--score-through truth`` scores through the truth's own item parameters (no item
uncertainty), and ``--deviation-df``, ``--noise``, ``--offset-sd`` move the simulated LLMs
toward the scoring model: ablations of the 2x shortfall (``docs/model.md``).
``--item-variance F`` scales the scoring draws' spread of loadings and locations around their
means (variance x F; 0 plugs the means in).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SETTINGS = {
    "default (marginal, respondent noise, prior x2)": {},
    "default with variant offsets": {"variant_offsets": True},
    "earlier default (cut, pooled, human prior)": {
        "method": "cut", "variant_offsets": False, "item_deviation": False, "prior_scale": 1.0},
}


def item_wise_truth(everything, scoring, truth):
    """``truth`` with each item's (loadings, location) from its own free posterior draw."""
    from realwave_sim import free_draws

    pick = np.random.default_rng(0).choice(free_draws(everything, scoring),
                                           len(everything.items))
    items = np.arange(len(everything.items))
    b = None if everything.b is None else everything.b[pick, items][None]
    return replace(truth, beta=everything.beta[pick, items][None], b=b)


def gaussian_truth(scoring, truth):
    """``truth`` with each item's (loadings, location) drawn from the Gaussian (mean and
    covariance over the scoring draws) that the default marginal scoring integrates over."""
    if scoring.b is None:
        raise SystemExit("--truth gaussian needs a model with shared thresholds (item locations)")
    from vp_bayes.scoring.marginal import param_moments

    rng = np.random.default_rng(0)
    mean, cov = param_moments(np.concatenate([scoring.beta, scoring.b[..., None]], axis=-1))
    out = np.stack([rng.multivariate_normal(m, c) for m, c in zip(mean, cov, strict=True)])
    return replace(truth, beta=out[None, :, :-1], b=out[None, :, -1])


def scaled_spread(draws, factor: float):
    """``draws`` with the loadings and locations pulled toward their means across draws, so
    that their variance is ``factor`` times the posterior's (0: the means plugged in)."""
    def pulled(x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=0, keepdims=True)
        return mean + np.sqrt(factor) * (x - mean)

    return replace(draws, beta=pulled(draws.beta),
                   b=None if draws.b is None else pulled(draws.b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--n", type=int, default=40, help="LLMs per scenario")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="added to the simulation seeds (0: the slow test's LLMs)")
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--only-default", action="store_true")
    parser.add_argument("--truth", choices=["draw", "item-wise", "gaussian"], default="draw",
                        help="one posterior draw (the test's), each item from its own draw, or "
                             "each item from the Gaussian the default scoring integrates over")
    parser.add_argument("--deviation-df", type=float, default=3.0,
                        help="item deviations' Student-t df (inf: normal, as the scoring model)")
    parser.add_argument("--noise", choices=["probit", "logistic"], default="probit")
    parser.add_argument("--offset-sd", type=float, default=0.3,
                        help="SD of the per-variant offsets (0: none)")
    parser.add_argument("--truth-cuts", choices=["draw", "mean"], default="draw",
                        help="the truth's cutpoints: its own draw's, or the scoring draws' mean "
                             "(the cutpoints the default scoring holds fixed)")
    parser.add_argument("--prior-scale", type=float, default=None,
                        help="the default scoring's prior scale (default: the package's, 2)")
    parser.add_argument("--score-through", choices=["posterior", "truth"], default="posterior",
                        help="score through 200 posterior draws (the default scoring), or "
                             "through the truth's own item parameters (no item uncertainty)")
    parser.add_argument("--item-variance", type=float, default=1.0,
                        help="scale the scoring draws' spread of loadings and locations around "
                             "their means to this share of the posterior variance (0: the "
                             "means plugged in); separates what the items' uncertainty does "
                             "from what their posterior means do")
    args = parser.parse_args()
    from realwave_sim import SCORE_SEED, calibration, scenario_seed, simulate_llms, truth_draw

    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import item_draws, score

    model = load_model(args.model)
    everything = item_draws(model, 10**9)
    draws = item_draws(model, 200)
    truth = everything.subset([truth_draw(everything, draws)])
    if args.truth == "item-wise":
        truth = item_wise_truth(everything, draws, truth)
    elif args.truth == "gaussian":
        truth = gaussian_truth(draws, truth)
    if args.truth_cuts == "mean":
        truth = replace(truth, cuts=draws.cuts.mean(axis=0, keepdims=True))
    if args.score_through == "truth":
        draws = truth.subset([0] * 200)
    elif args.item_variance != 1.0:
        draws = scaled_spread(draws, args.item_variance)
    rows = []
    settings = dict(list(SETTINGS.items())[:1]) if args.only_default else SETTINGS
    for spread in args.spreads:
        theta, ratings = simulate_llms(truth, args.n, spread,
                                       seed=scenario_seed(spread, args.seed_offset),
                                       deviation_df=args.deviation_df, noise=args.noise,
                                       offset_sd=args.offset_sd)
        names = sorted(ratings["respondent"].unique())
        for label, kw in settings.items():
            start = time.perf_counter()
            if args.prior_scale is not None and label.startswith("default"):
                kw = {**kw, "prior_scale": args.prior_scale}
                label = label.replace("prior x2", f"prior x{args.prior_scale:g}")
            res = score(model, ratings, draws=draws, progress=False, seed=SCORE_SEED, **kw)
            sec = (time.perf_counter() - start) / args.n
            rows.append({"scoring": label, "spread": spread,
                         **calibration(res.table, theta, names, draws.values),
                         "s_per_llm": sec})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.3f"),
                  flush=True)
    print(f"\n90% intervals, real-wave regime (truth: {args.truth}; deviations t"
          f"{args.deviation_df:g}, {args.noise} noise, offset SD {args.offset_sd:g}; scored "
          f"through the {args.score_through}, item variance x {args.item_variance:g}):")
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()

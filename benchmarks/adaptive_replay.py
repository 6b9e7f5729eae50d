"""Adaptive vs random collection, replayed on the 27 released LLMs' ratings (no API needed).

Every LLM of ``../shared/valueportrait/llm_ratings_27.csv`` rated all 520 items under six
prompt variants (3,120 requests). Its full-data portrait is the default scoring of all of
them. The replay asks the table instead of the LLM (the oracle), in batches, in two orders:

- ``adaptive``: :class:`vp_bayes.scoring.adaptive.AdaptiveDesign` (expected reduction of the
  values' posterior variance; ``--variants-per-pick`` ratings of an item at a time);
- ``random``: all 3,120 requests in a random order.

At checkpoints (every 80 requests up to 800, then every 160: the same grid for both
orders) the collected ratings are scored with the default scoring (as
``vb.score``: marginal, respondent noise, prior x2, 200 item draws x 20 samples; person fit
off, it does not change the values) and compared with the full-data portrait: a value is
within tolerance when its posterior mean is within ``--mean-tol`` (0.25) human SD of the
full-data mean and its 90% interval is at most ``--width-ratio`` (1.25) times as wide. A
check whose scoring has a Pareto k-hat above 0.7 (importance sampling failed: the samples
collapse, as they did for two very consistent LLMs after 80 adaptive requests) is not within
tolerance. The
requests to tolerance of a model are the first checkpoint at which all ten values are within
tolerance at once; of a value, the first checkpoint at which it is. Prints per model and per
value (medians over models), selection time per batch, and the Laplace SD at the stop.

Run: ``python benchmarks/adaptive_replay.py [--models N] [--skip N] [--batch-size 40]
[--variants-per-pick 1 2 6] [--orders adaptive random] [--max-requests 3120] [--csv OUT]``;
split over processes with ``--skip/--models`` and ``--csv``, then ``--report A.csv B.csv``.
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
FULL = 3120
QUARTER = 780
K_HAT_MAX = 0.7  # a check whose scoring has a larger Pareto k-hat counts as not within


def checkpoints(limit: int) -> list[int]:
    """The shared checkpoint grid: every 80 requests to 800, then every 160."""
    grid = [*range(80, 801, 80), *range(960, limit + 1, 160)]
    grid = [n for n in grid if n <= limit]
    return grid + ([limit] if not grid or grid[-1] != limit else [])


class Scorer:
    """The default scoring of one respondent's ratings (theta samples), as ``vb.score``."""

    def __init__(self, draws, seed: int = 0) -> None:
        self.draws, self.seed = draws, seed

    def theta(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        """Posterior samples (N, V); NaN where the scoring's importance sampling failed
        (Pareto k-hat above 0.7, the scoring's own warning: its samples then collapse onto a
        few points and an interval of width 0 would pass any precision check)."""
        from vp_bayes.scoring import respondent_data, score_respondent
        from vp_bayes.scoring.portraits import _seed_for

        data, _ = respondent_data(frame, self.draws)
        res = score_respondent(self.draws, data, rng=_seed_for(self.seed, name))
        self.last_k = float(res["pareto_k"])
        return res["theta"] if not self.last_k > K_HAT_MAX else np.full_like(res["theta"],
                                                                            np.nan)


def replay_model(name: str, frame: pd.DataFrame, scorer: Scorer, full: np.ndarray,
                 order: str, args: argparse.Namespace, variants_per_pick: int = 1,
                 seed: int = 0) -> dict:
    """Replay one model in one order; first checkpoint within tolerance, overall and per
    value."""
    from vp_bayes.scoring.adaptive import AdaptiveDesign, replay, within_tolerance

    design = AdaptiveDesign(scorer.draws, batch_size=args.batch_size, target_sd=None,
                            budget=args.max_requests, variants_per_pick=variants_per_pick,
                            criterion=args.criterion)
    grid = set(checkpoints(args.max_requests))
    values = scorer.draws.values
    first = {kind: dict.fromkeys(values, np.nan) for kind in ("mean", "width", "both")}
    state = {"n": np.nan, "n_width": np.nan, "n_mean": np.nan, "checks": 0, "score_s": 0.0,
             "sd_ratio": [], "failed": 0}

    def check(asked: pd.DataFrame) -> bool:
        n = len(asked)
        if n not in grid:
            return False
        t0 = time.perf_counter()
        theta = scorer.theta(asked, name)
        if np.isnan(theta).any():  # importance sampling failed: not within tolerance
            state["failed"] += 1
            close = narrow = np.zeros(len(values), dtype=bool)
        else:
            close, narrow = within_tolerance(theta, full, mean_tol=args.mean_tol,
                                             width_ratio=args.width_ratio)
        state["score_s"] += time.perf_counter() - t0
        # the stopping rule's Laplace SD against the default scoring's SD, value by value
        laplace = design.posterior(asked).sd.to_numpy()
        if not np.isnan(theta).any():
            state["sd_ratio"].extend(laplace / theta.std(axis=0))
        state["checks"] += 1
        for kind, ok in (("mean", close), ("width", narrow), ("both", close & narrow)):
            for v, good in zip(values, ok, strict=True):
                if good and np.isnan(first[kind][v]):
                    first[kind][v] = n
        for key, ok in (("n_width", narrow), ("n_mean", close)):
            if ok.all() and np.isnan(state[key]):
                state[key] = n
        if (close & narrow).all():
            state["n"] = n
            return True
        return False

    rep = replay(design, frame, order=order, seed=seed, max_requests=args.max_requests,
                 check=check)
    sd_cols = [c for c in rep.batches if c.startswith("sd_")]
    last_sd = rep.batches[sd_cols].iloc[-1] if sd_cols and len(rep.batches) else None
    asked = rep.asked
    return {"model": name, "order": order, "per_pick": variants_per_pick,
            "n_tol": state["n"], "n_width": state["n_width"], "n_mean": state["n_mean"],
            "n_asked": len(asked), "stopped": rep.stopped,
            "items": asked["item_id"].nunique(),
            "select_median_s": float(rep.batches["seconds"].median()),
            "select_max_s": float(rep.batches["seconds"].iloc[1:].max())
            if len(rep.batches) > 1 else np.nan,
            "laplace_sd_max": float(last_sd.max()) if last_sd is not None else np.nan,
            "checks": state["checks"], "score_s": state["score_s"],
            "failed_checks": state["failed"],
            "laplace_over_scoring_sd": float(np.median(state["sd_ratio"]))
            if state["sd_ratio"] else np.nan,
            **{f"{kind}_{v}": first[kind][v] for kind in first for v in values}}


def _fmt(x: float, cap: int) -> str:
    return f">{cap}" if np.isnan(x) else f"{int(x)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--models", type=int, default=None, help="First N LLMs only.")
    parser.add_argument("--only", nargs="*", default=None, help="These LLMs only.")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--variants-per-pick", type=int, nargs="+", default=[1])
    parser.add_argument("--orders", nargs="+", default=["adaptive", "random"],
                        choices=["adaptive", "random"])
    parser.add_argument("--max-requests", type=int, default=FULL)
    parser.add_argument("--mean-tol", type=float, default=0.25)
    parser.add_argument("--width-ratio", type=float, default=1.25)
    parser.add_argument("--seed", type=int, default=0, help="Random order's seed.")
    parser.add_argument("--csv", type=Path, default=None, help="Write the per-model rows.")
    parser.add_argument("--criterion", default="attainable",
                        choices=["attainable", "relative", "total"])
    parser.add_argument("--skip", type=int, default=0, help="Skip the first N LLMs.")
    parser.add_argument("--stop-ratio", type=float, default=None,
                        help="Instead: adaptive with rate --adaptive's stopping rule at this "
                             "ratio (e.g. 1.25); requests at the stop and tolerance there.")
    parser.add_argument("--report", type=Path, nargs="+", default=None,
                        help="Only print the tables of earlier --csv files (runs split over "
                             "processes).")
    args = parser.parse_args()
    if args.report:
        table = pd.concat([pd.read_csv(p) for p in args.report], ignore_index=True)
        values = tuple(c.removeprefix("both_") for c in table if c.startswith("both_"))
        report(table, values, args)
        return
    ratings_file = RELEASE / "llm_ratings_27.csv"
    for path in (args.model, ratings_file):
        if not path.is_file():
            sys.exit(f"missing {path}")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import item_draws
    from vp_bayes.wave.ratings import read_llm_ratings

    draws = item_draws(load_model(args.model), 200)
    ratings = read_llm_ratings(ratings_file)
    names = list(pd.unique(ratings["respondent"]))
    if args.only:
        names = [n for n in names if n in set(args.only)]
    names = names[args.skip:]
    if args.models:
        names = names[: args.models]
    scorer = Scorer(draws)
    rows = []
    start = time.perf_counter()
    for i, name in enumerate(names):
        frame = ratings[ratings["respondent"] == name][["item_id", "variant", "rating"]]
        full = scorer.theta(frame, name)
        if np.isnan(full).any():
            print(f"{name}: the full-data scoring's k-hat is {scorer.last_k:.2f}; skipped")
            continue
        if args.stop_ratio:
            row = stopping_rule(name, frame, scorer, full, args)
            rows.append(row)
            print(f"[{time.perf_counter() - start:6.0f} s] {name:32s} stopping rule: "
                  f"{row['n_asked']} requests, {row['narrow']} values at precision, "
                  f"{row['both']} within tolerance", flush=True)
            continue
        for order in args.orders:
            for k in (args.variants_per_pick if order == "adaptive" else [1]):
                row = replay_model(name, frame, scorer, full, order, args, k, args.seed + i)
                rows.append(row)
                print(f"[{time.perf_counter() - start:6.0f} s] {name:32s} {order:8s} "
                      f"k={k}: {_fmt(row['n_tol'], args.max_requests):>6s} requests "
                      f"({row['items']} items, {row['checks']} checks)", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.stop_ratio:
        stop_report(table, args)
    else:
        report(table, draws.values, args)


def stopping_rule(name: str, frame: pd.DataFrame, scorer: Scorer, full: np.ndarray,
                  args: argparse.Namespace) -> dict:
    """Adaptive with the stopping rule of ``rate --adaptive`` (every value's SD within
    ``--stop-ratio`` of the SD all requests would give, predicted; budget ``--max-requests``):
    requests at the stop, and the default scoring there against the full-data portrait."""
    from vp_bayes.scoring.adaptive import AdaptiveDesign, replay, within_tolerance

    design = AdaptiveDesign(scorer.draws, batch_size=args.batch_size, target_sd=None,
                            budget=args.max_requests, target_ratio=args.stop_ratio,
                            criterion=args.criterion)
    rep = replay(design, frame)
    close, narrow = within_tolerance(scorer.theta(rep.asked, name), full,
                                     mean_tol=args.mean_tol, width_ratio=args.width_ratio)
    return {"model": name, "n_asked": len(rep.asked), "stopped": rep.stopped,
            "pareto_k": round(scorer.last_k, 2),
            "narrow": int(narrow.sum()), "close": int(close.sum()),
            "both": int((close & narrow).sum())}


def stop_report(table: pd.DataFrame, args: argparse.Namespace) -> None:
    """Print the stopping rule's table."""
    print(f"\nAdaptive with the stopping rule (every value's SD within {args.stop_ratio:g}x "
          f"of the predicted all-requests SD; budget {args.max_requests}): requests at the "
          f"stop and values (of 10) within precision / mean / both at that point")
    print(table.to_string(index=False))
    print(f"\nmedian requests {np.median(table['n_asked']):.0f}; stopped by the rule in "
          f"{int((table['stopped'] == 'precision').sum())} of {len(table)}; median values at "
          f"precision {np.median(table['narrow']):.0f}, within the mean tolerance "
          f"{np.median(table['close']):.0f}, both {np.median(table['both']):.0f}")


def _median(x: pd.Series) -> float:
    """Median with censored (NaN = not reached) runs counted as above every value."""
    med = float(np.median(x.fillna(np.inf)))
    return med if np.isfinite(med) else np.nan


def report(table: pd.DataFrame, values: tuple[str, ...], args: argparse.Namespace) -> None:
    """Print the replay tables."""
    cap = args.max_requests
    table = table.assign(arm=[o if o == "random" else f"adaptive k={k}"
                              for o, k in zip(table["order"], table["per_pick"], strict=True)])
    arms = list(dict.fromkeys(table["arm"]))
    print(f"\nRequests until every value is within tolerance at once. precision: 90% interval "
          f"at most {args.width_ratio:g}x the full-data width; tolerance: that and the "
          f"posterior mean within {args.mean_tol:g} human SD of the full-data mean. Full data "
          f"= {FULL} requests; batches of {args.batch_size}; '>{cap}': not reached")
    cols = {}
    for arm in arms:
        sub = table[table["arm"] == arm].set_index("model")
        for key, label in (("n_width", "precision"), ("n_mean", "mean"), ("n_tol", "tolerance")):
            cols[f"{arm}: {label}"] = sub[key].map(lambda x: _fmt(x, cap))
    print(pd.DataFrame(cols).to_string())
    print("\nSummary over models (medians count runs that did not reach it as above the cap)")
    lines = []
    for arm in arms:
        sub = table[table["arm"] == arm]
        lines.append({"arm": arm, "models": len(sub),
                      "precision_median": _fmt(_median(sub["n_width"]), cap),
                      f"precision<={QUARTER}": int((sub["n_width"] <= QUARTER).sum()),
                      "mean_median": _fmt(_median(sub["n_mean"]), cap),
                      "tolerance_median": _fmt(_median(sub["n_tol"]), cap),
                      f"tolerance<={QUARTER}": int((sub["n_tol"] <= QUARTER).sum()),
                      "items_median": int(sub["items"].median()),
                      "select_s_median": round(float(sub["select_median_s"].median()), 3),
                      "select_s_max": round(float(sub["select_max_s"].max()), 3),
                      "k>0.7 checks": int(sub.get("failed_checks", pd.Series([0])).sum()),
                      "laplace/scoring_sd": round(float(
                          sub.get("laplace_over_scoring_sd", pd.Series([np.nan])).median()),
                          2)})
    print(pd.DataFrame(lines).to_string(index=False))
    print("\nPer value: median over models of the requests until the value is within "
          "tolerance (first checkpoint; precision / mean / both)")
    per_value = pd.DataFrame({
        f"{arm}: {kind}": [_fmt(_median(table.loc[table["arm"] == arm, f"{kind}_{v}"]), cap)
                           for v in values]
        for arm in arms for kind in ("width", "mean", "both")}, index=list(values))
    print(per_value.to_string())


if __name__ == "__main__":
    main()

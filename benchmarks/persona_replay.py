"""Personas designed from their base model's portrait vs alone, replayed on the demo wave.

SIMULATED data: ``data/demo`` (``vp-bayes simulate``) has one simulated LLM (``sim-llm-1``)
with five simulated personas, each rating all 80 items under six variants (480 requests).
The item model is the simulator's truth (jittered copies, 20 draws, as
``tests/test_adaptive.py``'s fake model), so the design is measured, not the item fit.

For every persona the replay asks its table (the oracle) in batches of 20, in two arms:

- ``alone``: :class:`~vp_bayes.scoring.adaptive.AdaptiveDesign` under the population prior
  (as ``rate --adaptive`` without ``--base-ratings``);
- ``base``: the same design with ``base_ratings`` = the base model's 480 ratings (the prior
  of a persona in joint scoring: the base's portrait plus a N(0, 1) shift per value).

At checkpoints the persona is scored as ``vp-bayes score`` scores it, jointly with its base
model's full ratings (both arms alike), and compared with the joint scoring of all 480
persona ratings: precision (every value's 90% interval at most 1.25x the full-data width) and
tolerance (that and every posterior mean within 0.25 SD). Also the stopping rule
(``--target-ratio``, default 1.2): requests at the stop and values within tolerance there.

Run: ``python benchmarks/persona_replay.py [--ratio 1.2] [--csv OUT]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
BASE = "sim-llm-1"
GRID = (40, 80, 120, 160, 240, 320, 400, 480)


def item_model():  # noqa: ANN201 - ItemModel
    """The simulator's truth as an item model (tests/test_adaptive.py's ``_fake_model``)."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_adaptive import _fake_model

    from vp_bayes.wave.io import load_wave
    from vp_bayes.wave.simulate import load_truth

    sim = SimpleNamespace(truth=load_truth(DEMO / "truth.nc"), wave=load_wave(DEMO))
    return _fake_model(sim)


def joint_theta(draws, base: pd.DataFrame, persona: pd.DataFrame, seed: int) -> np.ndarray:
    """The persona's samples (N, V) from joint scoring with its base model (as ``score``)."""
    from vp_bayes.scoring import respondent_data
    from vp_bayes.scoring.portraits import score_jointly

    data = [respondent_data(base, draws)[0], respondent_data(persona, draws)[0]]
    res = score_jointly(draws, data, [True, False], rng=np.random.default_rng(seed))
    return res[1]["theta"]


def run_arm(draws, base, frame, full, arm: str, ratio: float) -> dict:
    """Replay one persona in one arm: first checkpoint at precision / tolerance; the stop."""
    from vp_bayes.scoring.adaptive import AdaptiveDesign, replay, within_tolerance

    kw = {"base_ratings": base} if arm == "base" else {}
    design = AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=None, **kw)
    first = {"precision": np.nan, "tolerance": np.nan}

    def check(asked: pd.DataFrame) -> bool:
        if len(asked) not in GRID:
            return False
        close, narrow = within_tolerance(joint_theta(draws, base, asked, 1), full)
        for key, ok in (("precision", narrow.all()), ("tolerance", (close & narrow).all())):
            if ok and np.isnan(first[key]):
                first[key] = len(asked)
        return bool((close & narrow).all())

    replay(design, frame, check=check)
    stopper = AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=None,
                             target_ratio=ratio, **kw)
    rep = replay(stopper, frame)
    close, narrow = within_tolerance(joint_theta(draws, base, rep.asked, 1), full)
    return {"arm": arm, **{f"to_{k}": v for k, v in first.items()},
            "stop_at": len(rep.asked), "stop_precision": int(narrow.sum()),
            "stop_tolerance": int((close & narrow).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=1.2, help="The stopping rule's ratio.")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    from vp_bayes.dims import split_respondent
    from vp_bayes.scoring import item_draws
    from vp_bayes.wave.ratings import read_llm_ratings

    draws = item_draws(item_model(), 20)
    ratings = read_llm_ratings(DEMO / "llm_ratings.csv")
    cols = ["item_id", "variant", "rating"]
    base = ratings.loc[ratings["respondent"] == BASE, cols].reset_index(drop=True)
    rows, start = [], time.perf_counter()
    for name in pd.unique(ratings["respondent"]):
        model, persona = split_respondent(str(name))
        if model != BASE or not persona:
            continue
        frame = ratings.loc[ratings["respondent"] == name, cols].reset_index(drop=True)
        full = joint_theta(draws, base, frame, 0)
        for arm in ("alone", "base"):
            rows.append({"persona": persona, **run_arm(draws, base, frame, full, arm,
                                                       args.ratio)})
            print(f"[{time.perf_counter() - start:5.0f} s] {rows[-1]}", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(f"\nPersonas of {BASE} (simulated), {len(GRID)} checkpoints up to 480 requests; "
          f"'nan': not reached by 480")
    print(table.to_string(index=False))
    print(table.groupby("arm")[["to_precision", "to_tolerance", "stop_at", "stop_precision",
                                "stop_tolerance"]].median().to_string())


if __name__ == "__main__":
    main()

"""LLM-like respondents in the regime of the real Value Portrait wave, for calibration checks.

The generating process deliberately differs from the scoring model (:mod:`vp_bayes.scoring`):

* item parameters: one posterior draw of the real-wave item model (never among the scoring
  draws), so items are as weak and as uncertain as the real ones (~47 ratings per item);
* values: standardised value profiles of real fitted participants, times ``spread``;
* response style: ``N(0, (1.5 sigma_alpha)^2)``, wider than the humans';
* one deviation per (respondent, item) shared by its six prompt variants, Student-t with 3
  degrees of freedom (the scoring model assumes a normal one);
* fixed per-variant intercept offsets ``N(0, 0.3^2)``;
* rating noise Gaussian (probit, not logistic) with a respondent SD drawn from U(0.4, 1.2)
  (LLMs answer more consistently than humans).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from vp_bayes.dims import INTERVAL_MASS
from vp_bayes.scoring.posterior import ItemDraws
from vp_bayes.wave.simulate import VARIANTS

SCORE_SEED = 4  # the scoring seed of the real-regime check and its benchmark


def scenario_seed(spread: float, offset: int = 0) -> int:
    """Seed of the simulated LLMs at ``spread`` (offset 0: the real-regime test's LLMs)."""
    return int(100 * spread) + offset


def free_draws(all_draws: ItemDraws, scoring: ItemDraws) -> list[int]:
    """Positions (in ``all_draws``) of the posterior draws that are not among the scoring draws."""
    used = set(scoring.draw_index.tolist())
    return [i for i, d in enumerate(all_draws.draw_index) if d not in used]


def truth_draw(all_draws: ItemDraws, scoring: ItemDraws) -> int:
    """Position (in ``all_draws``) of a posterior draw that is not among the scoring draws."""
    free = free_draws(all_draws, scoring)
    return free[len(free) // 2]


def simulate_llms(truth: ItemDraws, n: int, spread: float, seed: int,
                  prefix: str = "llm", *, deviation_df: float = 3.0, noise: str = "probit",
                  offset_sd: float = 0.3) -> tuple[np.ndarray, pd.DataFrame]:
    """True values (n, V) and a long rating table of n simulated LLMs (all items x 6 variants).

    ``truth`` holds one draw (``truth.subset([i])``). The defaults are the real-regime check's
    generator; the keywords move it toward the scoring model for ablations
    (``benchmarks/score_calibration_real.py``): ``deviation_df=inf`` normal item deviations,
    ``noise="logistic"`` logistic rating noise (SD-matched), ``offset_sd=0`` no variant offsets.
    """
    if noise not in ("probit", "logistic"):
        raise ValueError(f"noise must be 'probit' or 'logistic', not {noise!r}")
    rng = np.random.default_rng(seed)
    ref = truth.reference[0]
    theta = spread * ref[rng.choice(ref.shape[0], n, replace=False)]
    beta, cuts = truth.beta[0], truth.cuts[0]
    b = truth.b[0] if truth.b is not None else np.zeros(beta.shape[0])
    sigma_alpha = float(truth.sigma_alpha[0]) if truth.sigma_alpha is not None else 0.0
    alpha = rng.normal(0.0, 1.5 * sigma_alpha, n)
    offsets = rng.normal(0.0, offset_sd, len(VARIANTS))
    frames = []
    for r in range(n):
        noise_sd = rng.uniform(0.4, 1.2)
        dev = 0.6 * (rng.standard_t(deviation_df, beta.shape[0]) if np.isfinite(deviation_df)
                     else rng.standard_normal(beta.shape[0]))
        eta = beta @ theta[r] + b + alpha[r] + dev  # (J,)
        shape = (beta.shape[0], len(VARIANTS))
        unit = (rng.standard_normal(shape) if noise == "probit"
                else rng.logistic(0.0, np.sqrt(3.0) / np.pi, shape))
        latent = eta[:, None] + offsets[None, :] + noise_sd * unit
        edges = cuts if cuts.ndim == 1 else None
        if edges is not None:
            y = (latent[..., None] > edges).sum(-1)
        else:  # per-item cutpoints (J, K-1)
            y = (latent[..., None] > cuts[:, None, :]).sum(-1)
        frames.append(pd.DataFrame({
            "respondent": f"{prefix}-{r:02d}",
            "item_id": np.repeat(list(truth.items), len(VARIANTS)),
            "variant": np.tile(VARIANTS, beta.shape[0]),
            "rating": (y.ravel() + truth.scale_min).astype(float),
        }))
    return theta, pd.concat(frames, ignore_index=True)


def calibration(table: pd.DataFrame, theta: np.ndarray, names: list[str],
                values: tuple[str, ...]) -> dict[str, float]:
    """Coverage of the intervals, slope of posterior means on the truth, median width, SD of
    the errors in units of the interval's normal-equivalent SD (width / 3.29 for 90%
    intervals; 1 when the widths match the errors)."""
    truth = pd.DataFrame(theta, index=names, columns=list(values)).stack()
    truth.index.names = ["respondent", "value"]
    t = table.set_index(["respondent", "value"]).loc[truth.index]
    covered = (t["lower"] <= truth) & (truth <= t["upper"])
    slope = float(np.polyfit(truth.to_numpy(), t["mean"].to_numpy(), 1)[0])
    width = t["upper"] - t["lower"]
    return {"coverage": float(covered.mean()), "slope": slope,
            "median_width": float(width.median()),
            "error_sd": float(((t["mean"] - truth) / (width / _NORMAL_WIDTHS)).std()),
            "r": float(np.corrcoef(truth, t["mean"])[0, 1]),
            "misfit": float(t.groupby(level=0)["misfit"].first().mean())}


# normal SDs spanned by an equal-tailed interval of INTERVAL_MASS (3.29 for 90%)
_NORMAL_WIDTHS = 2.0 * float(norm.ppf(0.5 + INTERVAL_MASS / 2.0))

__all__ = ["SCORE_SEED", "calibration", "free_draws", "scenario_seed", "simulate_llms",
           "truth_draw"]

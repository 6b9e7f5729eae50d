"""Scoring coverage over several simulated waves (the calibration test's wave, other seeds).

``tests/test_scoring_calibration.py`` fits one simulated wave (250 x 60, seed 21) and scores
100 LLM-like respondents through the fitted posterior; its 90% coverage sits at the band's upper
edge (0.950-0.951). This repeats it for other wave seeds and acceptance targets, so that a
coverage figure is a spread over waves, not one realisation, and takes the width apart:

- one row per (item parameters, respondent model): the respondents scored through the fitted
  posterior or through the true item parameters, with the default scoring or without the
  respondent's item deviation (``item_deviation=False``; the test's respondents have none);
  columns: 90% coverage, RMSE of the posterior means, the intervals' normal-equivalent SD
  (width / 3.29, root mean square), their ratio (1 when the intervals are as wide as the
  errors), the slope of the means on the truth;
- rows scored through the fitted posterior with each item's spread around its posterior mean
  scaled (variance x 0.5, x 0: the posterior means plugged in), which separates what the
  items' uncertainty does to the intervals from what their posterior means do;
- rows scored with the values' prior at the respondents' own spread (``prior_scale=1``; the
  default is :data:`~vp_bayes.scoring.laplace.PRIOR_SCALE`, 2, for LLMs unlike humans);
- rows for respondents simulated from item parameters drawn from the fit's own Gaussian item
  posterior (:func:`posterior_drawn_truth`: the item uncertainty marginal scoring assumes,
  exactly), scored through the fit and through those parameters, at both prior scales;
- one line on the item posterior itself (:func:`item_posterior_errors`): its spread against
  its realised errors, per item and carried to the respondents' values.

    python benchmarks/score_calibration_sim.py 22 0.8
    python benchmarks/score_calibration_sim.py 22 0.65
    python benchmarks/score_calibration_sim.py 22 0.8 heavy_tailed   # the model's own loadings
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test's own simulator and coverage helpers

Z90 = 1.6449  # a 90% normal interval is 2 * Z90 SDs wide


def interval_errors(model, ratings: pd.DataFrame, theta: np.ndarray, n_item_draws: int,
                    n_per_draw: int, **options) -> dict[str, float]:
    """Coverage, RMSE, normal-equivalent interval SD and slope of one scoring of ``ratings``."""
    from vp_bayes import dims
    from vp_bayes.scoring import score

    res = score(model, ratings, n_item_draws=n_item_draws, n_per_draw=n_per_draw, seed=1,
                progress=False, person_fit=False, **options)
    truth = pd.DataFrame(theta, index=[f"sim-{r:02d}" for r in range(len(theta))],
                         columns=list(dims.VALUES_10)).stack()
    truth.index.names = ["respondent", "value"]
    t = res.table.set_index(["respondent", "value"]).loc[truth.index]
    err = t["mean"] - truth
    sd = (t["upper"] - t["lower"]) / (2 * Z90)
    rmse, rms_sd = float(np.sqrt((err**2).mean())), float(np.sqrt((sd**2).mean()))
    return {"coverage": float(((t["lower"] <= truth) & (truth <= t["upper"])).mean()),
            "rmse": rmse, "sd": rms_sd, "ratio": rmse / rms_sd,
            "slope": float(np.polyfit(truth, t["mean"], 1)[0])}


def scaled_item_spread(model, factor: float):
    """``model`` with the draws of ``beta`` and ``b`` pulled toward their posterior means so
    that their variance is ``factor`` times the posterior's (0: the means plugged in)."""
    import xarray as xr

    from vp_bayes import dims
    from vp_bayes.model.fit import ItemModel

    post = model.idata["posterior"].to_dataset()
    scaled = post.copy()
    for name in ("beta", "b"):
        mean = post[name].mean((dims.CHAIN, dims.DRAW))
        scaled[name] = mean + np.sqrt(factor) * (post[name] - mean)
    tree = model.idata.copy()
    tree["posterior"] = xr.DataTree(scaled)
    return ItemModel(idata=tree, model_config=model.model_config,
                     sampler_config=model.sampler_config, wave_hash=model.wave_hash)


def item_params(model, truth, n_draws: int = 200) -> np.ndarray:
    """``(beta_j, b_j)`` of ``n_draws`` of the fit's draws (S, J, V + 1), in ``truth``'s item
    order."""
    from vp_bayes import dims
    from vp_bayes.scoring import item_draws

    draws = item_draws(model, n_draws)
    order = [list(map(str, draws.items)).index(str(i)) for i in truth[dims.ITEM].values]
    return np.concatenate([draws.beta[:, order], draws.b[:, order, None]], axis=-1)


def item_moments(model, truth, n_draws: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Each item's posterior mean (J, V + 1) and covariance (J, V + 1, V + 1) of ``(beta_j,
    b_j)``: the Gaussian marginal scoring integrates (``param_moments``)."""
    from vp_bayes.scoring.marginal import param_moments

    return param_moments(item_params(model, truth, n_draws))


def posterior_drawn_truth(model, truth, seed: int):
    """``truth`` with ``beta`` and ``b`` one draw from the fit's Gaussian item posterior
    (independent across items, :func:`item_moments`) and the cutpoints the fit's posterior
    means: a world in which the item posterior marginal scoring integrates is exactly right."""
    from vp_bayes import dims

    mean, cov = item_moments(model, truth)
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(cov.shape[-1]))
    rng = np.random.default_rng(seed)
    draw = mean + np.einsum("jvw,jw->jv", chol, rng.standard_normal(mean.shape))
    out = truth.copy()
    out["beta"] = (truth["beta"].dims, draw[:, :-1])
    out["b"] = (truth["b"].dims, draw[:, -1])
    kappa = model.idata["posterior"]["kappa"].mean((dims.CHAIN, dims.DRAW)).values
    out["kappa"] = (truth["kappa"].dims, kappa)
    return out


def item_posterior_errors(model, truth, theta: np.ndarray) -> dict[str, float]:
    """How the item posterior's spread compares with its realised errors.

    ``mahalanobis``: mean Mahalanobis distance of each item's posterior mean ``(beta_j, b_j)``
    from the truth under the draws' covariance (``V + 1`` when calibrated); ``predictor``: the
    realised over the posterior variance of the items' predictors at the respondents' true
    profiles (1 when calibrated); ``projected_posterior``, ``projected_realised``: the same
    predictor errors carried to the values by least squares on the posterior mean loadings (a
    respondent's value error from the items' errors alone, mean over values and respondents;
    the posterior's with the draws' joint covariance across items).
    """
    from vp_bayes.scoring.marginal import param_moments

    x = item_params(model, truth)  # S, J, V+1
    mean, cov = param_moments(x)
    true = np.concatenate([truth["beta"].values, truth["b"].values[:, None]], axis=-1)
    err = mean - true
    at = np.concatenate([theta, np.ones((len(theta), 1))], axis=1)  # R, V+1
    design = np.column_stack([mean[:, :-1], np.ones(len(mean))])  # loadings and response style
    proj = np.linalg.solve(design.T @ design, design.T)[:-1]  # V x J
    pred = np.einsum("sjv,rv->rsj", x, at)  # R, S, J: each draw's item predictors
    pred -= pred.mean(axis=1, keepdims=True)
    posterior = np.einsum("vj,rsj->rsv", proj, pred).var(axis=1, ddof=1).mean()
    realised = (np.einsum("vj,rj->rv", proj, at @ err.T) ** 2).mean()
    return {"mahalanobis": float(np.einsum("jv,jvw,jw->j", err, np.linalg.inv(cov), err).mean()),
            "predictor": float((np.einsum("rv,jv->rj", at, err) ** 2).mean()
                               / np.einsum("rv,jvw,rw->rj", at, cov, at).mean()),
            "projected_posterior": float(posterior), "projected_realised": float(realised)}


def _row(seed: int, target: float, label: str, item_model, ratings, theta, n_draws: int,
         n_per: int, deviation: bool, **options) -> None:
    """Print one table row: ``ratings`` scored through ``item_model``."""
    r = interval_errors(item_model, ratings, theta, n_draws, n_per, item_deviation=deviation,
                        **options)
    print(f"| {seed} | {target} | {label} | {'yes' if deviation else 'no'} | "
          f"{r['coverage']:.3f} | {r['rmse']:.3f} | {r['sd']:.3f} | {r['ratio']:.2f} | "
          f"{r['slope']:.2f} |", flush=True)


def main() -> None:
    """Fit wave seed ``argv[1]`` at acceptance target ``argv[2]`` (true loadings ``argv[3]``,
    sparse by default) and print its coverage."""
    from test_scoring import _fake_model
    from test_scoring_calibration import N_RESPONDENTS, _simulate_respondents, fit_calibration_wave

    seed, target = int(sys.argv[1]), float(sys.argv[2])
    loadings = sys.argv[3] if len(sys.argv) > 3 else "sparse"
    start = time.perf_counter()
    sim, model = fit_calibration_wave(seed, target, loadings)
    diag = model.diagnostics
    print(f"\nwave seed {seed}, target_accept {target}, {loadings} loadings: fit "
          f"{time.perf_counter() - start:.0f} s, max R-hat {diag['r_hat_max'].max():.3f}, "
          f"min bulk ESS {diag['ess_bulk_min'].min():.0f}")
    theta, ratings = _simulate_respondents(sim.truth, N_RESPONDENTS, seed=5)
    # the true item parameters: identical draws, so fewer draws and more samples per draw
    through = {"fit": (model, 200, 20),
               "fit, item variance x 0.5": (scaled_item_spread(model, 0.5), 200, 20),
               "fit, item variance x 0": (scaled_item_spread(model, 0.0), 200, 20),
               "truth": (_fake_model(sim.truth, 10, jitter=0.0), 10, 200)}
    print("| wave seed | target | items | item deviation | 90% coverage | RMSE | interval SD "
          "| RMSE / SD | slope |")
    for label, (item_model, n_draws, n_per) in through.items():
        for deviation in (True, False):
            _row(seed, target, label, item_model, ratings, theta, n_draws, n_per, deviation)
    for label in ("fit", "truth"):  # the values' prior at the respondents' own spread
        item_model, n_draws, n_per = through[label]
        for deviation in (True, False):
            _row(seed, target, f"{label}, prior x 1", item_model, ratings, theta, n_draws,
                 n_per, deviation, prior_scale=1.0)
    drawn = posterior_drawn_truth(model, sim.truth, seed=101)
    theta_d, ratings_d = _simulate_respondents(drawn, N_RESPONDENTS, seed=6)
    for label, (item_model, n_draws, n_per) in {
            "fit (items drawn from it)": (model, 200, 20),
            "the drawn items": (_fake_model(drawn, 10, jitter=0.0), 10, 200)}.items():
        for prior_scale in (1.0, 2.0):
            _row(seed, target, f"{label}, prior x {prior_scale:g}", item_model, ratings_d,
                 theta_d, n_draws, n_per, True, prior_scale=prior_scale)
    e = item_posterior_errors(model, sim.truth, theta)
    print(f"item posterior: mean Mahalanobis distance of the truth {e['mahalanobis']:.2f} (of "
          f"{sim.truth.sizes['value'] + 1}); realised / posterior variance of the items' "
          f"predictors at the respondents' profiles {e['predictor']:.2f}; carried to the values "
          f"(least squares): posterior {e['projected_posterior']:.3f}, realised "
          f"{e['projected_realised']:.3f}")


if __name__ == "__main__":
    main()

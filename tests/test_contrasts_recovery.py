"""Recovery of human group contrasts and persona bias on the simulator (slow: fits a model).

Truth (``vp_bayes.wave.simulate``): human group means are ``effect_{axis}``; a persona of the
simulated LLM has ``theta = theta_llm + effect_{axis}[g] + persona_distortion_{axis}[g]``, so
a persona pair contrast minus the human pair contrast is the difference of the distortions.

Bound: each of the 40 (axis, pair, value) cells per side has a nominal 90% interval; at exact
calibration and independence the coverage of 40 cells has a binomial SD of 4.7 points, so
>= 85% leaves about one SD of slack (cells sharing a group or a respondent are correlated,
which widens it further); the failures this test exists to catch (a sign or pair-order error,
a wrong scale, an interval ignoring one of the two posteriors) give coverages far below 85%.
Point estimates must also correlate with the truth (r > 0.7).

Point estimates must also correlate with the truth: r > 0.7 for human and persona contrasts;
r > 0.5 for the bias, which adds the errors of both sides to a smaller true spread (distortion
SD 0.5 against effect + distortion) and whose 90% intervals are about 2.3 wide against a true
SD of 0.72, so even a calibrated posterior cannot place its means much closer.

Measured (seed 11, 300 participants, 80 items, nutpie 2 x 300/300): human contrasts cover
0.95 of 40 cells, r = 0.985. Personas scored jointly (the default) with the default scoring
(marginal, the respondent's noise, prior scale 2): persona contrasts cover 0.875 (r 0.866),
bias 0.95 (r 0.702), asserted against the bounds above. With ``method="cut"``: persona
contrasts 0.85 (r 0.833), bias 0.875 (r 0.584); slope of persona contrasts against the truth
0.60 (marginal 0.76): the attenuation of noisy loadings, asserted as cut < marginal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vp_bayes.contrasts import bias_contrasts, human_contrasts, persona_contrasts
from vp_bayes.dims import GROUP, VALUE
from vp_bayes.wave.simulate import simulate_wave

pytestmark = pytest.mark.slow
MIN_COVERAGE = 0.85
# the simulated wave (its seed aside); benchmarks/contrast_recovery_seeds.py varies the seeds
WAVE = dict(n_participants=300, n_items=80, items_per_participant=30, n_llm=1, effect_sd=0.5,
            distortion_sd=0.5)


def _truth_pairs(truth, prefix: str) -> pd.DataFrame:
    """``axis, group_a, group_b, value, truth`` for later-minus-earlier sorted group pairs."""
    rows = []
    for axis in ("gender", "age"):
        da = truth[f"{prefix}_{axis}"]
        groups = sorted(str(g) for g in da[f"{GROUP}_{axis}"].values)
        for i, b in enumerate(groups):
            for a in groups[i + 1:]:
                diff = da.sel({f"{GROUP}_{axis}": a}) - da.sel({f"{GROUP}_{axis}": b})
                for v, x in zip(da[VALUE].values, diff.values, strict=True):
                    rows.append((axis, a, b, str(v), float(x)))
    return pd.DataFrame(rows, columns=["axis", "group_a", "group_b", "value", "truth"])


def _recovery(table: pd.DataFrame, truth: pd.DataFrame, label: str) -> tuple[float, float]:
    """Coverage of the truth by the 90% intervals and correlation of means with the truth."""
    merged = truth.merge(table, on=["axis", "group_a", "group_b", "value"], validate="1:1")
    assert len(merged) == len(truth) == 40, label
    covered = ((merged["lower"] <= merged["truth"]) & (merged["truth"] <= merged["upper"]))
    r = float(np.corrcoef(merged["mean"], merged["truth"])[0, 1])
    print(f"{label}: coverage {covered.mean():.3f} of {len(merged)}, r = {r:.3f}")
    return float(covered.mean()), r


def _check(table: pd.DataFrame, truth: pd.DataFrame, label: str, min_r: float = 0.7) -> None:
    coverage, r = _recovery(table, truth, label)
    assert coverage >= MIN_COVERAGE, label
    assert r > min_r, label


@pytest.fixture(scope="module")
def fitted():
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.scoring import score

    sim = simulate_wave(seed=11, **WAVE)
    model = fit_wave(sim.wave, ModelConfig(),
                     SamplerConfig(draws=300, tune=300, chains=2, seed=11), progress=False,
                     ppc_draws=20)
    portraits = {method: score(model, sim.llm_ratings, n_item_draws=100, n_per_draw=10,
                               seed=11, progress=False, method=method)
                 for method in ("cut", "marginal")}
    return sim, model, portraits


def test_human_group_contrasts_are_recovered(fitted):
    sim, model, _ = fitted
    _check(human_contrasts(model), _truth_pairs(sim.truth, "effect"), "human")


def _persona_truth(truth) -> pd.DataFrame:
    both = _truth_pairs(truth, "effect").merge(
        _truth_pairs(truth, "persona_distortion"), on=["axis", "group_a", "group_b", "value"])
    both["truth"] = both.pop("truth_x") + both.pop("truth_y")
    return both


def test_persona_contrasts_are_recovered(fitted):
    sim, _, portraits = fitted
    _check(persona_contrasts(portraits["marginal"]).drop(columns="model"),
           _persona_truth(sim.truth), "llm persona contrasts (marginal)")


def test_persona_bias_is_recovered(fitted):
    sim, model, portraits = fitted
    bias = bias_contrasts(model, portraits["marginal"])
    _check(bias.drop(columns="model"), _truth_pairs(sim.truth, "persona_distortion"),
           "bias (marginal)", min_r=0.5)


def _slope(table: pd.DataFrame, truth: pd.DataFrame) -> float:
    merged = truth.merge(table, on=["axis", "group_a", "group_b", "value"], validate="1:1")
    return float(np.polyfit(merged["truth"], merged["mean"], 1)[0])


def test_cut_scoring_attenuates_persona_contrasts(fitted):
    """The cut posterior shrinks persona contrasts (noisy loadings, errors in
    variables) more than the marginal method, yet its intervals still mostly cover."""
    sim, model, portraits = fitted
    truth = _persona_truth(sim.truth)
    cut = persona_contrasts(portraits["cut"]).drop(columns="model")
    marginal = persona_contrasts(portraits["marginal"]).drop(columns="model")
    slopes = _slope(cut, truth), _slope(marginal, truth)
    coverage, _ = _recovery(cut, truth, "llm persona contrasts (cut)")
    bias_cov, _ = _recovery(bias_contrasts(model, portraits["cut"]).drop(columns="model"),
                            _truth_pairs(sim.truth, "persona_distortion"), "bias (cut)")
    print(f"persona contrast slopes against the truth: cut {slopes[0]:.2f}, "
          f"marginal {slopes[1]:.2f}")
    assert slopes[0] < slopes[1]
    assert coverage >= 0.8 and bias_cov >= 0.8

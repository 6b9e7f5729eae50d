"""Chains that can detect problems: four chains by default, and over-dispersed ADVI starts."""

from __future__ import annotations

import numpy as np
import pytest

from vp_bayes.errors import InputError
from vp_bayes.model.config import SamplerConfig
from vp_bayes.model.variational import MeanField
from vp_bayes.model.warmstart import meanfield_starts, widened


def test_default_is_four_chains_with_the_same_number_of_draws():
    cfg = SamplerConfig()
    assert cfg.chains == 4
    assert cfg.chains * cfg.draws == 4000  # the 2 x 2000 measured on the real wave
    assert cfg.init_spread == 1.0


def test_spread_widens_the_starts_around_the_same_centre():
    approx = MeanField(np.array([1.0, -2.0, 3.0]), np.array([0.1, 0.2, 0.3]), np.array([]),
                       0.0, 0.0)
    plain = np.stack([meanfield_starts(approx)(s) for s in range(3000)])
    wide = np.stack([meanfield_starts(widened(approx, 2.0))(s) for s in range(3000)])
    np.testing.assert_allclose(wide.mean(0), approx.mean, atol=0.04)
    np.testing.assert_allclose(wide.std(0), 2 * approx.sd, rtol=0.06)
    # the same seeds give the same standard normal draws, scaled about the mean
    np.testing.assert_allclose(wide - approx.mean, 2 * (plain - approx.mean))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "2"])
def test_spread_must_be_a_positive_number(bad):
    with pytest.raises(InputError, match="field 'init_spread'"):
        SamplerConfig(init_spread=bad).validate(source="cfg.json")


def test_spread_round_trips_through_the_saved_settings():
    cfg = SamplerConfig(init_spread=2.0)
    assert SamplerConfig.from_dict(cfg.to_dict()) == cfg
    # settings saved before the option existed still load, with the default
    old = {k: v for k, v in cfg.to_dict().items() if k != "init_spread"}
    assert SamplerConfig.from_dict(old).init_spread == 1.0

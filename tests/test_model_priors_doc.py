"""docs/model.md lists every prior of build_model, with the model's own numbers.

The model is built in its main configurations; every free random variable must have a row
whose distribution and numbers are read back from the model graph, the config options named
there must set those numbers, and the "power-scaled" column must be what the prior
sensitivity diagnostic scales.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig
from vp_bayes.model.sensitivity import power_scaled_priors
from vp_bayes.wave.simulate import simulate_wave

DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"
# Names of the distribution parameters, in the order of the random variable's inputs after
# (rng, size).
PARAMS = {"Normal": ("mu", "sigma"), "HalfNormal": ("loc", "sigma"),
          "StudentT": ("nu", "mu", "sigma"), "LogNormal": ("mu", "sigma"),
          "LKJCorr": ("n", "eta"), "ZeroSumNormal": ("sigma",), "HalfCauchy": ("beta",),
          "InverseGamma": ("alpha", "beta"), "Gamma": ("alpha", "beta"),
          # the matrix-t's location is the group means (loc: not a number to document) and
          # its scale matrix (nu - V - 1) I follows from nu
          "MatrixT": ("loc", "nu"),
          # a zero-sum block with its half-normal scale integrated out: the block's shape
          # (loc, zeros) and the scale's prior sigma
          "ZeroSumScaleMixture": ("loc", "sigma")}
OPS = {"NormalRV": "Normal", "HalfNormalRV": "HalfNormal", "StudentTRV": "StudentT",
       "LogNormalRV": "LogNormal", "LKJCorrRV": "LKJCorr", "ZeroSumNormalRV": "ZeroSumNormal",
       "HalfCauchyRV": "HalfCauchy", "InvGammaRV": "InverseGamma", "GammaRV": "Gamma",
       "MatrixT": "MatrixT",
       "ZeroSumScaleMixture": "ZeroSumScaleMixture"}
CONFIGS = {
    "default": ModelConfig(),
    "item thresholds": ModelConfig(thresholds="item"),
    "normal loadings": ModelConfig(loading_prior="normal"),
    "centered student_t": ModelConfig(loading_parameterization="centered"),
    "centered normal": ModelConfig(loading_parameterization="centered", loading_prior="normal"),
    "no response style": ModelConfig(response_style=False),
    "horseshoe loadings": ModelConfig(loading_prior="horseshoe"),
    "student_t mixture": ModelConfig(loading_parameterization="mixture"),
    "noncentered student_t": ModelConfig(loading_parameterization="noncentered"),
    "noncentered normal": ModelConfig(loading_prior="normal",
                                      loading_parameterization="noncentered"),
    "partial mixture": ModelConfig(loading_parameterization="partial_mixture"),
    "DIF by gender": ModelConfig(dif_axis="gender"),
    "LKJ values": ModelConfig(value_prior="lkj"),
    "integrated scales": ModelConfig(integrate_scales=True),
    "gamma loading spreads": ModelConfig(loading_scale_family="gamma"),
}
PRESCORED = {"exact": ModelConfig(value_input="exact"),
             "latent": ModelConfig(value_input="latent"),
             "anchored styles": ModelConfig(value_input="exact",
                                            style_parameterization="anchored")}


def _rows() -> list[dict]:
    text = DOC.read_text()
    table = text.split("## Every prior")[1].split("\n## ")[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("| `")]
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        name, dist, params, set_by, _when, scaled, _why = cells
        rows.append(dict(name=name.strip("`"), dist=dist, scaled=scaled == "yes",
                         params=dict(p.split(" = ") for p in params.split(", ")
                                     if params != "-"),
                         set_by=dict(s.split(": ") for s in set_by.split("; ") if s != "-")))
    return rows


def _matches(pattern: str, name: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace("<axis>", r"\w+"), name) is not None


def _row(rows: list[dict], name: str, dist: str) -> dict:
    exact = [r for r in rows if r["name"] == name and r["dist"] == dist]
    found = exact or [r for r in rows if _matches(r["name"], name) and r["dist"] == dist
                      and not any(q["name"] == name for q in rows)]
    assert len(found) == 1, f"{name} ({dist}): {len(found)} rows in docs/model.md"
    return found[0]


def _params(model, rv) -> dict:
    dist = OPS[type(rv.owner.op).__name__]
    inputs = list(rv.owner.inputs[2:])
    if dist == "Gamma":  # PyTensor's gamma takes (shape, scale); PyMC's beta is the rate
        inputs[1] = pt.reciprocal(inputs[1])
    return dict(zip(PARAMS[dist], inputs, strict=False))


def _value(model, var):
    """A parameter's number, or the model variable it is computed from."""
    free = set(model.free_RVs)
    if not (set(ancestors([var])) & free):
        return float(np.unique(np.asarray(var.eval()))[0])
    return var


@pytest.fixture(scope="module")
def waves():
    kw = dict(n_participants=40, n_items=8, items_per_participant=6, seed=3, n_llm=1,
              personas=False)
    return simulate_wave(**kw).wave, simulate_wave(**kw, prescored=True).wave


def _models(waves):
    raw, prescored = waves
    for label, cfg in CONFIGS.items():
        yield label, cfg, build_model(raw, cfg)
    for label, cfg in PRESCORED.items():
        yield label, cfg, build_model(prescored, cfg)


def test_every_free_variable_has_a_row_with_the_models_numbers(waves):
    rows = _rows()
    used = set()
    for label, _cfg, model in _models(waves):
        scaled = set(power_scaled_priors(model))
        for rv in model.free_RVs:
            dist = OPS[type(rv.owner.op).__name__]
            row = _row(rows, rv.name, dist)
            used.add((row["name"], dist))
            assert row["scaled"] == (rv.name in scaled), (label, rv.name)
            graph = _params(model, rv)
            for param, documented in row["params"].items():
                value = _value(model, graph[param])
                if isinstance(value, float):
                    assert value == pytest.approx(float(documented)), (label, rv.name, param)
                else:  # a variable: the documented one must feed it
                    assert model[documented] in ancestors([value]), (label, rv.name, param)
            assert set(row["params"]) >= {p for p in PARAMS[dist] if p not in ("loc", "n")}, (
                rv.name, "parameters missing in the table")
            if dist == "HalfNormal":
                assert _value(model, graph["loc"]) == 0.0, rv.name
    # and no row documents a variable that no main configuration has (other than the
    # ipsative mean loading, which needs MRAT-centred values: checked on the real wave below)
    stale = {(r["name"], r["dist"]) for r in rows} - used - {("beta_mean_raw", "Normal")}
    assert not stale, stale


def test_options_named_in_the_table_set_those_numbers(waves):
    raw, _ = waves
    for row in _rows():
        for param, option in row["set_by"].items():
            option = option.strip("`")
            default = getattr(ModelConfig(), option)
            assert float(row["params"][param]) == pytest.approx(default), (row["name"], option)
            geometry = {"beta_c_z": "centered", "beta_z": "noncentered",
                        "beta_p_z": "partial"}.get(row["name"], "auto")
            base = ModelConfig(loading_parameterization=geometry)
            if row["name"] == "corr_chol":  # the LKJ prior is the pre-scored values' default
                base = replace(base, value_prior="lkj")
            # the gamma spreads: the default of calibrated values and raw answers
            if row["name"] == "beta_sd" and row["dist"] == "Gamma":
                base = replace(base, loading_scale_family="gamma")
            cfg = replace(base, **{option: 2 * default + 1})
            model = build_model(raw, cfg)
            got = _value(model, _params(model, model[row["name"]])[param])
            assert got == pytest.approx(2 * default + 1), (row["name"], option)


def test_ipsative_mean_loading_row(release_dir, tmp_path_factory):
    """The real wave's MRAT-centred values give ``beta_mean_raw``: its row matches too."""
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    model = build_model(read_valueportrait(release_dir), ModelConfig(value_input="exact"))
    rv = model["beta_mean_raw"]
    row = _row(_rows(), "beta_mean_raw", "Normal")
    graph = _params(model, rv)
    assert _value(model, graph["mu"]) == float(row["params"]["mu"])
    assert _value(model, graph["sigma"]) == float(row["params"]["sigma"])
    assert row["scaled"] and "beta_mean_raw" in power_scaled_priors(model)

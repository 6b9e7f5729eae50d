"""``vp-bayes contrast`` end to end on a hand-built saved model and portrait file."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vp_bayes.cli import main
from vp_bayes.contrasts import COLUMNS, DISTANCE_COLUMNS
from vp_bayes.dims import (
    CHAIN,
    CUTPOINT,
    DRAW,
    GROUP,
    ITEM,
    RESPONDENT,
    SAMPLE,
    VALUE,
    VALUES_10,
)

VALS = list(VALUES_10)


def _save_model(path, rng) -> np.ndarray:
    """Save a hand-built ItemModel whose gender effects are known; return male - female."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import ItemModel
    from vp_bayes.model.io import save_model

    n_c, n_d = 2, 100
    shift = np.linspace(-0.5, 0.5, len(VALS))
    eff = rng.normal(0.0, 0.05, size=(n_c, n_d, 2, len(VALS)))
    eff[:, :, 1, :] += shift / 2  # male
    eff[:, :, 0, :] -= shift / 2  # female
    post = xr.Dataset(
        {
            "beta": ((CHAIN, DRAW, ITEM, VALUE), rng.normal(size=(n_c, n_d, 3, len(VALS)))),
            "kappa": ((CHAIN, DRAW, CUTPOINT), np.tile(np.linspace(-2, 2, 5), (n_c, n_d, 1))),
            "effect_gender": ((CHAIN, DRAW, f"{GROUP}_gender", VALUE), eff),
        },
        coords={CHAIN: [0, 1], DRAW: np.arange(n_d), ITEM: ["i1", "i2", "i3"], VALUE: VALS,
                f"{GROUP}_gender": ["female", "male"], CUTPOINT: np.arange(5)},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(n_categories=6, scale_min=1)
    diag = pd.DataFrame({"r_hat_max": [1.0], "ess_bulk_min": [400.0],
                         "ess_tail_min": [400.0]}, index=["beta"])
    save_model(ItemModel(tree, ModelConfig(), SamplerConfig(), wave_hash="hand",
                         diagnostics=diag), path, card=False)
    return shift


def _save_portraits(path, rng, llm_shift: np.ndarray) -> None:
    n = 300
    base = rng.normal(0.0, 0.05, size=(n, len(VALS)))
    theta = np.stack([base, base - llm_shift / 2 + rng.normal(0, 0.05, (n, len(VALS))),
                      base + llm_shift / 2 + rng.normal(0, 0.05, (n, len(VALS)))])
    names = ["m", "m|gender=female", "m|gender=male"]
    r = (RESPONDENT,)
    ds = xr.Dataset(
        {"theta": ((RESPONDENT, SAMPLE, VALUE), theta),
         "theta_centered": ((RESPONDENT, SAMPLE, VALUE),
                           theta - theta.mean(-1, keepdims=True)),
         "percentile": ((RESPONDENT, VALUE), np.full((3, len(VALS)), 50.0)),
         "n_ratings": (r, np.full(3, 10, dtype=np.int32)),
         "n_unparsed": (r, np.zeros(3, dtype=np.int32)),
         "n_unknown_items": (r, np.zeros(3, dtype=np.int32)),
         "ess_fraction": (r, np.ones(3)), "pareto_k": (r, np.zeros(3))},
        coords={RESPONDENT: names, SAMPLE: np.arange(n), VALUE: VALS},
    )
    ds.to_netcdf(path, engine="scipy")


def _run(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["vp-bayes", *map(str, args)])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_contrast_command_writes_tables_and_plot(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    shift = _save_model(tmp_path / "model.nc", rng)
    # the LLM's persona contrast is twice the human one: bias = +shift on every value
    _save_portraits(tmp_path / "portraits.nc", rng, 2 * shift)
    out, png = tmp_path / "contrasts.csv", tmp_path / "contrasts.png"
    code = _run(monkeypatch, "contrast", tmp_path / "model.nc", tmp_path / "portraits.nc",
                "--axis", "gender", "--out", out, "--plot", png)
    text = capsys.readouterr().out
    assert code == 0, text
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == COLUMNS
    assert set(table["source"]) == {"human", "llm", "bias"}
    bias = table[(table.source == "bias") & (table.group_b == "female")].set_index("value")
    np.testing.assert_allclose(bias.loc[VALS, "mean"], shift, atol=0.03)
    dist = pd.read_csv(tmp_path / "contrasts_distance.csv")
    assert list(dist.columns) == DISTANCE_COLUMNS and len(dist) == 6
    assert "credible bias(es) at 90%" in text
    assert png.stat().st_size > 10_000


def test_contrast_command_bad_reference_exits_2(tmp_path, monkeypatch, capsys):
    _save_model(tmp_path / "model.nc", np.random.default_rng(1))
    ref = tmp_path / "ref.csv"
    ref.write_text("axis,group,value,difference\ngender,male,power,0.1\ngender,male,power,x\n")
    code = _run(monkeypatch, "contrast", tmp_path / "model.nc", "--reference", ref,
                "--reference-scale", "0.8", "--out", tmp_path / "c.csv")
    assert code == 2
    err = capsys.readouterr().err
    assert f"{ref}, row 2, field 'value'" in err  # the duplicate (axis, group, value) row


@pytest.mark.release
def test_contrast_command_with_ess_reference(tmp_path, monkeypatch, capsys, release_dir):
    _save_model(tmp_path / "model.nc", np.random.default_rng(2))
    code = _run(monkeypatch, "contrast", tmp_path / "model.nc", "--reference",
                release_dir / "ess_group_differences.csv", "--axis", "age",
                "--out", tmp_path / "c.csv")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "treated as exact" in captured.err and "--reference-scale not given" in captured.err
    table = pd.read_csv(tmp_path / "c.csv", keep_default_na=False)
    assert set(table["axis"]) == {"age"} and len(table) == (6 + 4) * 10  # 6 pairs, 4 means

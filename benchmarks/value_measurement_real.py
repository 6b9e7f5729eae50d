"""Pre-scored values as exact covariates vs as noisy measures (issue 18), on the real wave.

Compares fits of the imported Value Portrait wave: the shipped ``models/valueportrait.nc``
(``value_input="auto"`` = exact: the MRAT-centred PVQ-21 scores enter without error) and
refits with ``value_input="latent"`` (the scores measure latent values with reliability 0.6 in
the 9-dimensional subspace they span: ``vp_bayes.model.build._prescored_subspace``) and/or
``value_input="calibrated"`` (their conditional means given the scores:
``vp_bayes.model.measurement``). Prints:

1. convergence (worst R-hat, lowest bulk ESS per variable) and the loading scales;
2. PSIS-LOO of the item ratings (a held-out rating of a known participant) for both fits;
3. how the 27 released LLMs' portraits move: per value, the correlation of the two fits'
   posterior means over the LLMs, the mean shift, the ratio of interval widths and the mean
   absolute change of percentiles.

Run (the refit takes about 20 minutes on 2 cores)::

    vp-bayes import valueportrait ../shared/valueportrait/release /tmp/vp_wave
    echo '{"model": {"value_input": "latent"}}' > /tmp/latent.json
    vp-bayes fit /tmp/vp_wave --out /tmp/latent.nc --config /tmp/latent.json \\
        --chains 2 --draws 1000 --tune 400
    python benchmarks/value_measurement_real.py --other /tmp/latent.nc

Regression calibration (``value_input="calibrated"``, about 6 minutes)::

    vp-bayes fit /tmp/vp_wave --out /tmp/cal.nc --value-input calibrated --chains 4 \\
        --draws 1000 --tune 400
    python benchmarks/value_measurement_real.py --other /tmp/cal.nc [/tmp/latent.nc]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import vp_bayes as vb
from vp_bayes import dims
from vp_bayes.model.diagnostics import convergence_table, loo_comparison

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "valueportrait"


def _convergence(models: dict) -> pd.DataFrame:
    rows = []
    for name, m in models.items():
        table = convergence_table(m.idata)
        for var, row in table.iterrows():
            rows.append({"fit": name, "variable": var, "r_hat_max": row["r_hat_max"],
                         "ess_bulk_min": row["ess_bulk_min"]})
    return pd.DataFrame(rows).pivot(index="variable", columns="fit")


def _portrait_moves(portraits: dict) -> pd.DataFrame:
    (na, a), (nb, b) = portraits.items()
    rows = []
    for value in dims.VALUES_10:
        pa = a.summary().query("value == @value").set_index(dims.RESPONDENT)
        pb = b.summary().query("value == @value").set_index(dims.RESPONDENT).loc[pa.index]
        width_a = pa["upper"] - pa["lower"]
        width_b = pb["upper"] - pb["lower"]
        rows.append({
            "value": value,
            "r_means": np.corrcoef(pa["mean"], pb["mean"])[0, 1],
            f"mean_{na}": pa["mean"].mean(), f"mean_{nb}": pb["mean"].mean(),
            f"width_{nb}/{na}": float(np.median(width_b / width_a)),
            "abs_d_percentile": float(np.mean(np.abs(pb[dims.PERCENTILE]
                                                     - pa[dims.PERCENTILE]))),
        })
    return pd.DataFrame(rows).set_index("value")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exact", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--other", "--latent", type=Path, nargs="+", required=True,
                        help="refits with value_input latent and/or calibrated")
    args = parser.parse_args()
    models = {"exact": vb.load_model(args.exact)}
    for path in args.other:
        m = vb.load_model(path)
        models[str(m.idata.attrs.get("value_input", path.stem))] = m
    pd.set_option("display.width", 160)
    print("1. convergence\n", _convergence(models).round(3).to_string())
    for name, m in models.items():
        post = m.idata["posterior"].to_dataset()
        print(f"   {name}: beta_sd posterior means",
              post["beta_sd"].mean(("chain", "draw")).values.round(3))
    print("\n2. PSIS-LOO of the item ratings\n",
          loo_comparison(models).drop(columns=["settings", "budget"])
          .round({"elpd": 1, "se": 1, "p": 1, "elpd_diff": 1, "dse": 1}).to_string())
    ratings = vb.read_llm_ratings(SHARED / "llm_ratings_27.csv")
    portraits = {name: vb.score(m, ratings, progress=False) for name, m in models.items()}
    for name in list(models)[1:]:
        pair = {"exact": portraits["exact"], name: portraits[name]}
        print(f"\n3. the 27 released LLMs: {name} vs exact portraits\n",
              _portrait_moves(pair).round(3).to_string())


if __name__ == "__main__":
    main()

"""Time of the fit's convergence table: the package's vectorised R-hat and ESS
(:mod:`vp_bayes.model.rank_diagnostics`) against arviz-stats' element-by-element functions,
which the table called until session 32. Both in the same run, on saved fits; prints seconds
and the largest relative difference of any variable's worst R-hat, bulk ESS and tail ESS.

    python benchmarks/convergence_table.py                       # the shipped real-wave model
    python benchmarks/convergence_table.py out/demo/model.nc     # any saved fits
    python benchmarks/convergence_table.py out/demo/model.nc --tile 2   # draws x 2 per chain

``--tile N`` repeats each chain's saved draws N times (the README main job saves 1,500 of its
3,500 draws per chain but diagnoses all of them), so the timing is at a fit's full length.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes.model.diagnostics import convergence_table
from vp_bayes.model.io import load_model

REPO = Path(__file__).resolve().parents[1]


def arviz_table(tree: xr.DataTree) -> pd.DataFrame:
    """The table as session 31 computed it: arviz-stats' rhat and ess per variable."""
    import arviz as az

    post = tree["posterior"].to_dataset()
    rows = []
    for name in post.data_vars:
        ds = post[name].to_dataset()
        rows.append(dict(variable=str(name),
                         r_hat_max=float(np.nanmax(az.rhat(ds)[name].values)),
                         ess_bulk_min=float(np.nanmin(az.ess(ds, method="bulk")[name].values)),
                         ess_tail_min=float(np.nanmin(az.ess(ds, method="tail")[name].values))))
    return pd.DataFrame(rows).set_index("variable")


def _tiled(tree: xr.DataTree, tile: int) -> xr.DataTree:
    post = tree["posterior"].to_dataset()
    if tile > 1:
        post = xr.concat([post] * tile, dim="draw")
        post = post.assign_coords(draw=np.arange(post.sizes["draw"]))
    return xr.DataTree.from_dict({"posterior": post})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(REPO / "models/valueportrait.nc")])
    parser.add_argument("--tile", type=int, default=1)
    args = parser.parse_args()
    print("| model | chains x draws | elements | arviz-stats (s) | package (s) | speed-up | "
          "max relative difference |")
    print("|---|---|---|---|---|---|---|")
    for path in args.models:
        tree = _tiled(load_model(path).idata, args.tile)
        post = tree["posterior"]
        t0 = time.perf_counter()
        ours = convergence_table(tree)
        t1 = time.perf_counter()
        theirs = arviz_table(tree)
        t2 = time.perf_counter()
        cols = ["r_hat_max", "ess_bulk_min", "ess_tail_min"]
        a, b = ours.loc[theirs.index, cols].to_numpy(), theirs[cols].to_numpy()
        rel = np.nanmax(np.abs(a - b) / np.abs(b))
        n_el = int(ours["n_elements"].sum())
        print(f"| {Path(path).name} | {post.sizes['chain']} x {post.sizes['draw']} | {n_el} | "
              f"{t2 - t1:.1f} | {t1 - t0:.2f} | {(t2 - t1) / (t1 - t0):.0f}x | {rel:.1e} |")


if __name__ == "__main__":
    main()

"""How far a fit's largest R-hats are the noise of many elements (issue 16).

The convergence bar asks every element of every variable for R-hat <= 1.01. A variable of
thousands of elements (the real wave's 5,200 loadings) has a largest R-hat above 1 even when
each element mixes as well as its ESS says: R-hat - 1 falls like 1 / ESS, and the largest of
thousands of them sits several standard deviations out. This prints, per variable of a saved
fit, the distribution of its elements' rank-normalised R-hat and bulk ESS beside those of
independent AR(1) chains of the same shape whose ESS per draw is the variable's median: where
the two agree, the largest R-hat is that noise, and only more effective draws per element
move it (which a better-mixing hyperparameter can give, where the elements share its slow
direction: ``--by`` below).

With ``--draws`` it adds, per variable, AR(1) chains of the same ESS per draw at other
numbers of draws per chain (where a fit of that efficiency could first meet the bar).

Independent noise spreads a variable's largest R-hats over its coordinates. With ``--by DIM``
it prints, per coordinate of ``DIM`` (e.g. ``value``), how many of the variable's top 1% of
R-hats fall there, beside the coordinate's largest R-hat and median bulk ESS: where the top
R-hats crowd into one coordinate, they share a slow direction (on the real wave's default fit,
the mean loading of that value: session 48), which a better-mixing hyperparameter does move.

    python benchmarks/rhat_floor.py out/demo/model.nc
    python benchmarks/rhat_floor.py FIT.nc --variables beta alpha --reps 5
    python benchmarks/rhat_floor.py FIT.nc --variables beta --reps 4 --draws 1000 1250 2000
    python benchmarks/rhat_floor.py FIT.nc --variables beta --reps 1 --by value
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes.model.rank_diagnostics import rank_diagnostics


def _elements(post: xr.Dataset, name: str) -> np.ndarray:
    """A variable's draws as (chain, draw, element)."""
    var = post[name].transpose("chain", "draw", ...)
    return var.values.reshape(var.sizes["chain"], var.sizes["draw"], -1)


def _ar1(shape: tuple[int, int, int], ess_per_draw: float,
         rng: np.random.Generator) -> np.ndarray:
    """Independent stationary AR(1) chains whose ESS per draw is ``ess_per_draw``
    (``rho = (1 - f) / (1 + f)``)."""
    rho = (1.0 - ess_per_draw) / (1.0 + ess_per_draw)
    chains, draws, k = shape
    out = np.empty(shape)
    out[:, 0] = rng.standard_normal((chains, k))
    scale = np.sqrt(1.0 - rho**2)
    for t in range(1, draws):
        out[:, t] = rho * out[:, t - 1] + scale * rng.standard_normal((chains, k))
    return out


def _row(rhat: np.ndarray, ess: np.ndarray) -> dict[str, float]:
    """Summaries over the elements that vary (a correlation's constant diagonal has none)."""
    ok = np.isfinite(rhat) & np.isfinite(ess)
    rhat, ess = rhat[ok], ess[ok]
    return {"varying": int(ok.sum()), "ess_median": float(np.median(ess)),
            "ess_min": float(ess.min()), "rhat_q99.9": float(np.quantile(rhat, 0.999)),
            "rhat_max": float(rhat.max())}


def _by_coordinate(post: xr.Dataset, name: str, rhat: np.ndarray, ess: np.ndarray,
                   dim: str) -> pd.DataFrame:
    """Per coordinate of ``dim``: how many of the variable's top 1% of R-hats fall there (and
    how many independent noise would put there), its largest R-hat and median bulk ESS."""
    var = post[name].transpose("chain", "draw", ...)
    element_dims = var.dims[2:]
    shape = tuple(var.sizes[d] for d in element_dims)
    stats = xr.Dataset({"rhat": (element_dims, rhat.reshape(shape)),
                        "ess": (element_dims, ess.reshape(shape))},
                       coords={d: var[d] for d in element_dims if d in var.coords})
    finite = np.isfinite(rhat)
    cut = np.quantile(rhat[finite], 0.99)
    other = [d for d in element_dims if d != dim]
    top = (stats["rhat"] >= cut).astype(int).sum(other)
    expected = finite.sum() * 0.01 / stats.sizes[dim]
    return pd.DataFrame({
        dim: stats[dim].values, "top_1pct": top.values,
        "if_independent": f"{expected:.1f}",
        "rhat_max": stats["rhat"].max(other).values,
        "ess_median": stats["ess"].median(other).values})


def main() -> None:
    """Print the table for the variables asked (default: every one of at least 100
    elements)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", type=Path,
                        help="a saved fit (.nc), or a netCDF of posterior draws alone")
    parser.add_argument("--variables", nargs="*", default=None)
    parser.add_argument("--reps", type=int, default=3, help="AR(1) realisations per variable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, nargs="*", default=[],
                        help="also AR(1) chains of these draws per chain")
    parser.add_argument("--by", default=None, metavar="DIM",
                        help="where each variable's top 1%% of R-hats fall along DIM")
    args = parser.parse_args()
    if not args.fit.is_file():
        print(f"{args.fit}: no such file", file=sys.stderr)
        sys.exit(2)
    tree = xr.open_datatree(args.fit)
    post = (tree["posterior"] if "posterior" in tree.children else tree).to_dataset()
    unknown = [n for n in args.variables or [] if n not in post.data_vars]
    if unknown:
        print(f"{args.fit}: no variable {', '.join(unknown)} in its posterior", file=sys.stderr)
        sys.exit(2)
    names = args.variables or [n for n in post.data_vars
                               if post[n].size // (post.sizes["chain"] * post.sizes["draw"])
                               >= 100]
    if args.by is not None and (args.by in ("chain", "draw")
                                or not any(args.by in post[n].dims for n in names)):
        print(f"{args.fit}: no variable asked for has an element dimension {args.by!r}",
              file=sys.stderr)
        sys.exit(2)
    rng = np.random.default_rng(args.seed)
    rows, spread = [], {}
    for name in names:
        x = _elements(post, str(name))
        fit = rank_diagnostics(x, 0.9, workers=2)
        if not np.isfinite(fit.rhat).any():
            print(f"{name}: no element with a finite R-hat (constant, NaN draws or too few "
                  "draws); skipped", file=sys.stderr)
            continue
        if args.by is not None and args.by in post[name].dims:
            spread[str(name)] = _by_coordinate(post, str(name), fit.rhat, fit.ess_bulk,
                                               args.by)
        per_draw = float(np.nanmedian(fit.ess_bulk)) / (x.shape[0] * x.shape[1])
        rows.append({"variable": name, "source": "fit", "draws": x.shape[1],
                     "elements": x.shape[2], **_row(fit.rhat, fit.ess_bulk)})
        for draws in [x.shape[1], *args.draws]:
            for rep in range(args.reps):
                # ESS per draw above 1 (antithetic chains) is taken as 1: independent draws
                sim = rank_diagnostics(_ar1((x.shape[0], draws, x.shape[2]),
                                            min(per_draw, 1.0), rng), 0.9, workers=2)
                rows.append({"variable": name, "source": f"AR(1) {rep + 1}", "draws": draws,
                             "elements": x.shape[2], **_row(sim.rhat, sim.ess_bulk)})
    print(f"{args.fit}: {post.sizes['chain']} chains x {post.sizes['draw']} draws")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"
                                       if v < 10 else f"{v:.0f}"))
    for name, table in spread.items():
        print(f"\n{name}: its top 1% of R-hats by {args.by}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"
                              if v < 10 else f"{v:.0f}"))


if __name__ == "__main__":
    main()

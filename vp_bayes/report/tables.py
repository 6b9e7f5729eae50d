"""Read and check the result tables the report draws: portraits, contrasts, item selection.

Each reader accepts CSV or Parquet (portraits also netCDF), checks the required columns,
numbers and value names, and raises :class:`~vp_bayes.errors.InputError` naming the file,
the 1-based data row and the field of the first problem. Nothing is dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vp_bayes import dims, readers
from vp_bayes.errors import InputError

PORTRAIT_COLUMNS = ("respondent", "value", "mean", "lower", "upper")
PORTRAIT_NUMERIC = ("mean", "sd", "lower", "upper", "centered_mean", "centered_lower",
                    "centered_upper", "percentile", "percentile_lower", "percentile_upper",
                    "n_ratings", "n_unparsed",
                    "n_unknown_items", "mass", "ess_fraction", "pareto_k", "reliability",
                    "prior_sensitivity", "tau", "sigma", "ppp_agreement", "ppp_distribution",
                    "ppp_fit")
CONTRAST_COLUMNS = ("axis", "group_a", "group_b", "value", "source", "mean", "lower", "upper")
CONTRAST_NUMERIC = ("mean", "lower", "upper", "prob_positive", "mass")
SELECTION_COLUMNS = ("item_id", "value")
SELECTION_FLAGS = ("posterior_tagged", "spearman_tagged", "agreement")
SELECTION_NUMERIC = ("prob_positive_practical", "r")

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def read_table(path: str | Path, what: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet table with pandas' type inference (the shared reader,
    :func:`vp_bayes.readers.read_table`: one line per problem, write_csv's escape undone)."""
    return readers.read_table(path, what, text=False)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: str | Path) -> None:
    for col in columns:
        if col not in frame.columns:
            raise InputError(f"missing column (need {', '.join(columns)})", file=path, row=0,
                             field=col)


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...], path: str | Path) -> None:
    for col in columns:
        if col not in frame.columns:
            continue
        num = pd.to_numeric(frame[col], errors="coerce")
        bad = num.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"not a number: {frame[col].iloc[row]!r}", file=path, row=row + 1,
                             field=col)
        frame[col] = num.astype(float)


def _values(frame: pd.DataFrame, path: str | Path) -> None:
    out = []
    for row, name in enumerate(frame["value"].astype(str)):
        try:
            out.append(dims.canonical_trait(name))
        except KeyError:
            raise InputError(f"unknown value name {name!r}", file=path, row=row + 1,
                             field="value") from None
    frame["value"] = out


def _ordered(frame: pd.DataFrame, lo: str, point: str, hi: str, path: str | Path) -> None:
    if not {lo, point, hi} <= set(frame.columns):
        return
    a, m, b = (frame[c].to_numpy(dtype=float) for c in (lo, point, hi))
    with np.errstate(invalid="ignore"):
        bad = (a > m + 1e-9) | (m > b + 1e-9)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"interval not ordered: {lo} {a[row]:g}, {point} {m[row]:g}, "
                         f"{hi} {b[row]:g}", file=path, row=row + 1, field=lo)


def _mass(frame: pd.DataFrame, path: str | Path) -> None:
    if "mass" not in frame.columns:
        return
    m = frame["mass"].to_numpy(dtype=float)
    bad = ~((m > 0) & (m < 1)) & ~np.isnan(m)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError("interval mass must lie strictly between 0 and 1", file=path,
                         row=row + 1, field="mass")


def _missing(frame: pd.DataFrame, columns: tuple[str, ...], path: str | Path) -> None:
    for col in columns:
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise InputError("empty", file=path, row=row + 1, field=col)


def check_portraits(frame: pd.DataFrame, path: str | Path = "portraits") -> pd.DataFrame:
    """Check a portrait table (see module doc); returns a cleaned copy."""
    frame = frame.reset_index(drop=True).copy()
    _require(frame, PORTRAIT_COLUMNS, path)
    _missing(frame, ("respondent", "value"), path)
    _numeric(frame, PORTRAIT_NUMERIC, path)
    _values(frame, path)
    frame["respondent"] = frame["respondent"].astype(str)
    dup = frame.duplicated(["respondent", "value"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("duplicate (respondent, value) row", file=path, row=row + 1,
                         field="value")
    _ordered(frame, "lower", "mean", "upper", path)
    _ordered(frame, "centered_lower", "centered_mean", "centered_upper", path)
    _mass(frame, path)
    return frame


def check_contrasts(frame: pd.DataFrame, path: str | Path = "contrasts") -> pd.DataFrame:
    """Check a contrast table (see module doc); returns a cleaned copy."""
    frame = frame.reset_index(drop=True).copy()
    _require(frame, CONTRAST_COLUMNS, path)
    _missing(frame, ("axis", "group_a", "group_b", "value", "source"), path)
    _numeric(frame, CONTRAST_NUMERIC, path)
    _values(frame, path)
    for col in ("axis", "group_a", "group_b", "source"):
        frame[col] = frame[col].astype(str)
    _ordered(frame, "lower", "mean", "upper", path)
    _mass(frame, path)
    return frame


def _flag(frame: pd.DataFrame, col: str, path: str | Path) -> None:
    if col not in frame.columns:
        return
    if frame[col].dtype == bool:
        return
    out = []
    for row, v in enumerate(frame[col]):
        key = str(v).strip().lower()
        if key in _TRUE:
            out.append(True)
        elif key in _FALSE:
            out.append(False)
        elif col == "agreement":  # free text such as "both" / "posterior only" is allowed
            return
        else:
            raise InputError(f"not true/false: {v!r}", file=path, row=row + 1, field=col)
    frame[col] = out


def check_selection(frame: pd.DataFrame, path: str | Path = "selection") -> pd.DataFrame:
    """Check a Bayesian-vs-correlation item selection table; returns a cleaned copy."""
    frame = frame.reset_index(drop=True).copy()
    _require(frame, SELECTION_COLUMNS, path)
    if not {"posterior_tagged", "spearman_tagged"} <= set(frame.columns):
        missing = "posterior_tagged" if "posterior_tagged" not in frame.columns \
            else "spearman_tagged"
        raise InputError("missing column (need posterior_tagged and spearman_tagged)",
                         file=path, row=0, field=missing)
    _missing(frame, SELECTION_COLUMNS, path)
    _numeric(frame, SELECTION_NUMERIC, path)
    _values(frame, path)
    frame["item_id"] = frame["item_id"].astype(str)
    for col in SELECTION_FLAGS:
        _flag(frame, col, path)
    return frame


def read_portraits(path: str | Path) -> pd.DataFrame:
    """Read and check PORTRAITS.csv / .parquet, or the portrait draws PORTRAITS.nc.

    A ``.nc`` file is read by :func:`vp_bayes.scoring.portraits.load_portraits`, which rebuilds
    the table from the draws.
    """
    if Path(path).suffix.lower() == ".nc":
        from vp_bayes.scoring.portraits import load_portraits

        return check_portraits(load_portraits(path).table, path)
    return check_portraits(read_table(path, "portraits table"), path)


def read_portrait_draws(path: str | Path):
    """The portrait draws (``xarray.Dataset``) of PORTRAITS.nc, or of the ``.nc`` beside a
    PORTRAITS.csv / .parquet; ``None`` when a table has none beside it."""
    path = Path(path)
    nc = path if path.suffix.lower() == ".nc" else path.with_suffix(".nc")
    if nc != path and not nc.is_file():
        return None
    from vp_bayes.scoring.portraits import load_portraits

    return load_portraits(nc).draws


def read_groups(path: str | Path) -> pd.DataFrame:
    """Read a metadata table of respondents' groups: ``respondent`` plus group columns."""
    frame = readers.read_table(path, "groups table", text=True)
    _require(frame, ("respondent",), path)
    _missing(frame, ("respondent",), path)
    if len(frame.columns) < 2:
        raise InputError("no group column beside 'respondent'", file=path, row=0,
                         field="respondent")
    dup = frame.duplicated("respondent")
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("duplicate respondent", file=path, row=row + 1, field="respondent")
    return frame


def read_contrasts(path: str | Path) -> pd.DataFrame:
    """Read and check CONTRASTS.csv / .parquet."""
    return check_contrasts(read_table(path, "contrasts table"), path)


def read_selection(path: str | Path) -> pd.DataFrame:
    """Read and check a selection comparison table (CSV / Parquet)."""
    return check_selection(read_table(path, "selection table"), path)


def selection_summary(selection: pd.DataFrame) -> pd.DataFrame:
    """Per value: items tagged by both rules, by one only, and the agreement over all items.

    Returns
    -------
    pandas.DataFrame
        Index ``value`` (circular order, then a ``total`` row); columns ``both,
        posterior_only, spearman_only, neither, agreement`` (share of items on which the two
        rules agree).
    """
    from vp_bayes.report.plots import ordered_values

    post = selection["posterior_tagged"].astype(bool)
    corr = selection["spearman_tagged"].astype(bool)
    parts = pd.DataFrame({
        "value": selection["value"],
        "both": post & corr,
        "posterior_only": post & ~corr,
        "spearman_only": ~post & corr,
        "neither": ~post & ~corr,
    })
    table = parts.groupby("value").sum().astype(int)
    table = table.reindex(ordered_values(table.index))
    table.loc["total"] = table.sum()
    n = table.sum(axis=1)
    table["agreement"] = ((table["both"] + table["neither"]) / n.where(n > 0)).round(3)
    return table

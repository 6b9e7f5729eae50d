"""External human references: published group means (with or without standard errors).

A reference table has one row per (axis, group, value) with the group's mean value *minus the
population mean*, in the table's own units:

* ``axis,group,value,mean,se`` (``se`` = standard error of ``mean``), or
* the ESS format ``axis,group,value,difference`` with an optional ``se`` column
  (``/work/shared/valueportrait/ess_group_differences.csv`` is this format, without SEs).

Units: ESS differences are MRAT-centred PVQ-21 points; the item model's latent values are in
population-SD units. ``scale`` (table units per population SD) converts: model units =
table units / scale. When no SEs are published the reference is either given one common SE
(``se=``) or treated as exact (zero posterior spread), with a warning.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes.dims import GROUP, SAMPLE, VALUE, canonical_trait
from vp_bayes.errors import InputError
from vp_bayes.readers import read_table

REFERENCE_SEED = 2026
REFERENCE_DRAWS = 4000
_KEY = ["axis", "group", "value"]


class ReferenceWarning(UserWarning):
    """An assumption made about an external reference (no SEs, default scale)."""


@dataclass(frozen=True)
class Reference:
    """A validated external reference of group means.

    Attributes
    ----------
    table
        ``axis, group, value, mean, se`` in the table's units (``se`` 0 when exact).
    path
        Where it was read from.
    scale
        Table units per population SD (model units = table units / scale).
    exact
        True when no standard errors were available and the means are taken as exact.
    """

    table: pd.DataFrame
    path: str
    scale: float = 1.0
    exact: bool = False

    @property
    def axes(self) -> tuple[str, ...]:
        """Axes in order of first appearance."""
        return tuple(dict.fromkeys(self.table["axis"]))

    @property
    def values(self) -> tuple[str, ...]:
        """Values in order of first appearance."""
        return tuple(dict.fromkeys(self.table["value"]))


def _number(text: str, path: Path, row: int, field: str, *, nonneg: bool = False) -> float:
    try:
        x = float(text)
    except ValueError:
        raise InputError(f"not a number: {text!r}", file=path, row=row, field=field) from None
    if not math.isfinite(x):
        raise InputError(f"not a finite number: {text!r}", file=path, row=row, field=field)
    if nonneg and x < 0:
        raise InputError(f"must be >= 0, got {x}", file=path, row=row, field=field)
    return x


def _check_columns(df: pd.DataFrame, path: Path) -> str:
    for col in _KEY:
        if col not in df.columns:
            raise InputError("missing column", file=path, row=0, field=col)
    if "mean" in df.columns and "difference" in df.columns:
        raise InputError("give either 'mean' or 'difference', not both", file=path, row=0,
                         field="difference")
    for col in ("mean", "difference"):
        if col in df.columns:
            return col
    raise InputError("needs a 'mean' (or ESS 'difference') column", file=path, row=0,
                     field="mean")


def _parse_rows(df: pd.DataFrame, path: Path, mean_col: str, se: float | None) -> pd.DataFrame:
    rows = []
    seen: dict[tuple[str, str, str], int] = {}
    has_se = "se" in df.columns
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1
        axis, group = rec["axis"].strip(), rec["group"].strip()
        if not axis:
            raise InputError("empty axis", file=path, row=row, field="axis")
        if not group:
            raise InputError("empty group", file=path, row=row, field="group")
        try:
            value = canonical_trait(rec["value"].strip())
        except KeyError:
            raise InputError(f"unknown value {rec['value']!r}", file=path, row=row,
                             field="value") from None
        key = (axis, group, value)
        if key in seen:
            raise InputError(f"duplicate of row {seen[key]} ({axis}={group}, {value})",
                             file=path, row=row, field="value")
        seen[key] = row
        mean = _number(rec[mean_col].strip(), path, row, mean_col)
        err = _number(rec["se"].strip(), path, row, "se", nonneg=True) if has_se else se
        rows.append((axis, group, value, mean, 0.0 if err is None else err, row))
    return pd.DataFrame(rows, columns=[*_KEY, "mean", "se", "row"])


def _check_complete(table: pd.DataFrame, path: Path) -> None:
    values = list(dict.fromkeys(table["value"]))
    for (axis, group), part in table.groupby(["axis", "group"], sort=False):
        missing = [v for v in values if v not in set(part["value"])]
        if missing:
            raise InputError(f"group {axis}={group} lacks values {missing}", file=path,
                             row=int(part["row"].iloc[0]), field="value")


def read_reference(
    path: str | Path, se: float | None = None, scale: float | None = None
) -> Reference:
    """Read and validate an external reference table.

    Parameters
    ----------
    path
        CSV file (``axis,group,value,mean[,se]`` or ``axis,group,value,difference[,se]``).
    se
        One standard error for every row, used only when the file has no ``se`` column.
        Without it such a file is treated as exact (warning).
    scale
        Table units per population SD; ``None`` means 1 with a warning.

    Returns
    -------
    Reference

    Raises
    ------
    InputError
        Naming file, row and field for a missing column, empty axis/group, unknown value,
        non-numeric or negative SE, duplicate or incomplete groups, bad ``se``/``scale``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("reference file not found", file=path)
    if se is not None and not (math.isfinite(se) and se >= 0):
        raise InputError(f"must be a finite number >= 0, got {se}", field="ess_se")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise InputError(f"must be a finite number > 0, got {scale}", field="reference_scale")
    df = read_table(path, what="reference file").fillna("").astype(str)
    df.columns = [c.strip() for c in df.columns]
    mean_col = _check_columns(df, path)
    if df.empty:
        raise InputError("no data rows", file=path, row=1)
    table = _parse_rows(df, path, mean_col, se)
    _check_complete(table, path)
    exact = "se" not in df.columns and se is None
    if exact:
        warnings.warn(f"{path}: no standard errors (no 'se' column, no --ess-se); the "
                      "reference means are treated as exact", ReferenceWarning, stacklevel=2)
    if scale is None:
        warnings.warn(f"{path}: --reference-scale not given; assuming 1 table unit = 1 "
                      "population SD (the model's unit)", ReferenceWarning, stacklevel=2)
        scale = 1.0
    return Reference(table.drop(columns="row"), str(path), float(scale), exact)


def reference_group_draws(
    reference: Reference,
    axes: list[str] | tuple[str, ...] | None = None,
    n_draws: int = REFERENCE_DRAWS,
    seed: int = REFERENCE_SEED,
) -> dict[str, xr.DataArray]:
    """Draws of each group's mean (minus the population mean) in population-SD units.

    Each (axis, group, value) is drawn independently from ``Normal(mean, se) / scale`` (an
    approximation: published group deviations from the overall mean are slightly dependent).

    Returns
    -------
    dict
        axis -> DataArray ``(group, sample, value)``, groups sorted.

    Raises
    ------
    InputError
        If a requested axis is not in the reference.
    """
    axes = list(reference.axes if axes is None else axes)
    for axis in axes:
        if axis not in reference.axes:
            raise InputError(f"axis {axis!r} not in the reference (axes: "
                             f"{', '.join(reference.axes)})", file=reference.path, field="axis")
    rng = np.random.default_rng(seed)
    values = list(reference.values)
    out = {}
    for axis in axes:
        part = reference.table[reference.table["axis"] == axis]
        groups = sorted(set(part["group"]))
        wide = part.set_index(["group", "value"])
        mean = np.array([[wide.loc[(g, v), "mean"] for v in values] for g in groups])
        se = np.array([[wide.loc[(g, v), "se"] for v in values] for g in groups])
        z = rng.standard_normal((len(groups), n_draws, len(values)))
        draws = (mean[:, None, :] + se[:, None, :] * z) / reference.scale
        out[axis] = xr.DataArray(draws, dims=(GROUP, SAMPLE, VALUE),
                                 coords={GROUP: groups, SAMPLE: np.arange(n_draws),
                                         VALUE: values})
    return out

"""LLM rating tables: the long format every LLM layer writes and every scorer reads.

One row per (respondent, item, prompt variant[, sample])::

    respondent,item_id,variant,rating[,sample][,p1..pK]

``respondent`` is ``"{model}"`` or ``"{model}|{persona_id}"``; ``rating`` is an integer on
the wave scale (1..6 for Value Portrait) or empty when the answer could not be parsed
(kept as NaN and counted); ``p1..pK`` are optional probabilities over the K ratings (each
in [0, 1], row sum at most 1 + 1e-6, all empty or all given); ``sample`` optionally
distinguishes repeats of the same prompt. CSV or Parquet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vp_bayes.errors import InputError
from vp_bayes.readers import read_table

KEY_COLUMNS: tuple[str, ...] = ("respondent", "item_id", "variant")
REQUIRED: tuple[str, ...] = (*KEY_COLUMNS, "rating")
SUM_TOLERANCE = 1e-6


def prob_columns(scale: tuple[int, int] = (1, 6)) -> list[str]:
    """Names of the probability columns for a rating scale: ``p1..pK``."""
    return [f"p{k}" for k in range(1, scale[1] - scale[0] + 2)]


def read_llm_ratings(path: str | Path, scale: tuple[int, int] = (1, 6)) -> pd.DataFrame:
    """Read and validate an LLM rating table.

    Parameters
    ----------
    path
        A ``.csv`` or ``.parquet`` file in the long format described in the module doc.
    scale
        The inclusive rating scale ``(min, max)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``respondent, item_id, variant`` (str), ``rating`` (float; NaN =
        unparsed), then ``sample`` (int) and ``p1..pK`` (float) when present, in file
        order. ``df.attrs["n_unparsed"]`` holds the number of unparsed ratings and
        ``df.attrs["source"]`` the file name.

    Raises
    ------
    InputError
        Naming file, row (1 = first data row) and field for a missing column, an empty id,
        a non-integer or out-of-scale rating, a bad probability, or a duplicate key.
    """
    path = Path(path)
    raw = _read_raw(path)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=path, row=0,
                         field=missing[0])
    out = pd.DataFrame({c: _ids(raw[c], path, c) for c in KEY_COLUMNS})
    out["rating"] = _ratings(raw["rating"], path, scale)
    key = list(KEY_COLUMNS)
    if "sample" in raw.columns:
        out["sample"] = _integers(raw["sample"], path, "sample")
        key.append("sample")
    pcols = [c for c in raw.columns if c.startswith("p") and c[1:].isdigit()]
    if pcols:
        probs = _probabilities(raw, pcols, path, scale)
        out = pd.concat([out, probs], axis=1)
    _check_duplicates(out, key, path)
    out.attrs["n_unparsed"] = int(out["rating"].isna().sum())
    out.attrs["source"] = str(path)
    return out


def _read_raw(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if path.is_file() and not (suffix in {".parquet", ".csv", ".txt", ""}
                               or suffix.endswith("csv")):
        raise InputError(f"unknown table format {suffix!r} (use .csv or .parquet)", file=path)
    return read_table(path, what="rating table")  # CSV cells as text, write_csv's escape undone


def _first_bad(mask: np.ndarray | pd.Series) -> int:
    """1-based data row of the first True in ``mask``."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def _ids(col: pd.Series, path: Path, field: str) -> pd.Series:
    empty = col.isna() | (col.astype(str).str.strip() == "")
    if empty.any():
        raise InputError("empty identifier", file=path, row=_first_bad(empty), field=field)
    return col.astype(str).str.strip()


def _numbers(col: pd.Series, path: Path, field: str) -> pd.Series:
    """Numeric values of a column; empty cells NaN; anything unparseable is an error."""
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    text = col.astype("string").str.strip()
    empty = text.isna() | (text == "")
    nums = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = nums.isna() & ~empty
    if bad.any():
        row = _first_bad(bad)
        raise InputError(f"not a number: {text.iloc[row - 1]!r}", file=path, row=row,
                         field=field)
    return nums.astype(float)


def _ratings(col: pd.Series, path: Path, scale: tuple[int, int]) -> pd.Series:
    nums = _numbers(col, path, "rating")
    present = nums.notna()
    not_int = present & (nums != np.round(nums))
    if not_int.any():
        row = _first_bad(not_int)
        raise InputError(f"rating {nums.iloc[row - 1]!r} is not an integer", file=path,
                         row=row, field="rating")
    outside = present & ((nums < scale[0]) | (nums > scale[1]))
    if outside.any():
        row = _first_bad(outside)
        raise InputError(f"rating {nums.iloc[row - 1]:g} outside {scale[0]}..{scale[1]}",
                         file=path, row=row, field="rating")
    return nums


def _integers(col: pd.Series, path: Path, field: str) -> pd.Series:
    nums = _numbers(col, path, field)
    bad = nums.isna() | (nums != np.round(nums))
    if bad.any():
        row = _first_bad(bad)
        raise InputError("expected an integer", file=path, row=row, field=field)
    return nums.astype(int)


def _probabilities(raw: pd.DataFrame, pcols: list[str], path: Path,
                   scale: tuple[int, int]) -> pd.DataFrame:
    expected = prob_columns(scale)
    if sorted(pcols, key=lambda c: int(c[1:])) != expected:
        extra = sorted(set(pcols) ^ set(expected))
        raise InputError(f"probability columns must be exactly {expected[0]}..{expected[-1]}",
                         file=path, row=0, field=extra[0])
    probs = pd.DataFrame({c: _numbers(raw[c], path, c) for c in expected})
    n_missing = probs.isna().sum(axis=1)
    partial = (n_missing > 0) & (n_missing < len(expected))
    if partial.any():
        row = _first_bad(partial)
        field = expected[int(np.flatnonzero(probs.iloc[row - 1].isna().to_numpy())[0])]
        raise InputError("probabilities must be all given or all empty", file=path, row=row,
                         field=field)
    for c in expected:
        bad = (probs[c] < 0) | (probs[c] > 1)
        if bad.any():
            row = _first_bad(bad)
            raise InputError(f"probability {probs[c].iloc[row - 1]!r} outside [0, 1]",
                             file=path, row=row, field=c)
    over = probs.sum(axis=1) > 1 + SUM_TOLERANCE
    if over.any():
        row = _first_bad(over)
        total = probs.iloc[row - 1].sum()
        raise InputError(f"probabilities sum to {total:.6g} > 1", file=path, row=row,
                         field=expected[-1])
    return probs


def _check_duplicates(df: pd.DataFrame, key: list[str], path: Path) -> None:
    dup = df.duplicated(key, keep="first")
    if dup.any():
        row = _first_bad(dup)
        values = df.iloc[row - 1][key]
        first = _first_bad((df[key] == values.to_numpy()).all(axis=1))
        desc = ", ".join(f"{k}={values[k]}" for k in key)
        raise InputError(f"duplicate row ({desc}) first seen in row {first}", file=path,
                         row=row, field=key[-1])


def item_ratings(df: pd.DataFrame) -> pd.DataFrame:
    """Per respondent and item: mean of the valid variant ratings.

    Parameters
    ----------
    df
        A table from :func:`read_llm_ratings`.

    Returns
    -------
    pandas.DataFrame
        Columns ``respondent, item_id, rating`` (mean of valid ratings; NaN when none),
        ``n_valid``, ``n_rows``.
    """
    grouped = df.groupby(["respondent", "item_id"], sort=True)["rating"]
    out = grouped.agg(rating="mean", n_valid="count", n_rows="size").reset_index()
    return out


def summarize_llm_ratings(df: pd.DataFrame) -> pd.DataFrame:
    """One line per respondent: coverage and unparsed counts.

    Parameters
    ----------
    df
        A table from :func:`read_llm_ratings`.

    Returns
    -------
    pandas.DataFrame
        Columns ``respondent, n_rows, n_items, n_variants, n_unparsed, unparsed_rate,
        n_items_no_valid, mean_rating`` (mean over valid ratings).
    """
    per_item = item_ratings(df)
    by_resp = df.groupby("respondent", sort=True)
    out = pd.DataFrame({
        "n_rows": by_resp.size(),
        "n_items": by_resp["item_id"].nunique(),
        "n_variants": by_resp["variant"].nunique(),
        "n_unparsed": by_resp["rating"].apply(lambda s: int(s.isna().sum())),
        "mean_rating": by_resp["rating"].mean(),
    })
    out["unparsed_rate"] = out["n_unparsed"] / out["n_rows"]
    no_valid = per_item[per_item["n_valid"] == 0].groupby("respondent").size()
    out["n_items_no_valid"] = no_valid.reindex(out.index, fill_value=0).astype(int)
    cols = ["n_rows", "n_items", "n_variants", "n_unparsed", "unparsed_rate",
            "n_items_no_valid", "mean_rating"]
    return out[cols].reset_index()

"""The paper's classic value scores: centred means of an LLM's item ratings.

Value Portrait (Han et al., ACL 2025) scores a respondent on a value as follows:

1. item rating = mean of the respondent's valid ratings of the item over prompt variants;
2. value score = mean item rating over the items tagged for that value;
3. centred score = value score minus the mean item rating over all items that carry at
   least one tag.

Items without any valid rating (all variants unparsed) are left out of every mean; they
are counted in ``n_items_no_valid`` of :func:`classic_summary`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vp_bayes.dims import RESPONDENT, VALUE, canonical_trait, current_columns
from vp_bayes.errors import InputError
from vp_bayes.output import N_SHOWN
from vp_bayes.readers import read_table
from vp_bayes.wave.ratings import item_ratings

SCORE_COLUMNS: list[str] = [RESPONDENT, VALUE, "score", "centered_score", "n_items"]


def read_tags(path: str | Path) -> pd.DataFrame:
    """Read a tag table written by ``vp-bayes select`` (or any ``item_id,value`` table).

    Parameters
    ----------
    path
        CSV or Parquet with ``item_id`` and ``value`` columns (``trait`` in files of earlier
        versions) and optionally a boolean ``tagged`` column (then only tagged rows count).

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id, value`` of the tagged pairs (canonical trait names).

    Raises
    ------
    InputError
        An unreadable file (see :func:`vp_bayes.readers.read_table`), a missing column, an
        empty item id, an unknown trait, a ``tagged`` cell that is not a boolean, or a table
        in which no item is tagged.
    """
    path = Path(path)
    raw = read_table(path, what="tag file")
    if raw.empty:
        raise InputError("no rows below the header", file=path, row=1)
    tags = normalize_tags(raw, source=path)
    if tags.empty:
        raise InputError("no item is tagged (every row's 'tagged' is false)", file=path,
                         field="tagged")
    return tags


def normalize_tags(tags: pd.DataFrame, source: str | Path | None = None) -> pd.DataFrame:
    """Reduce a tag or correlation table to its tagged ``item_id, value`` pairs."""
    tags = current_columns(tags)
    for col in ("item_id", VALUE):
        if col not in tags.columns:
            raise InputError(f"tag table lacks column {col!r}", file=source, row=0, field=col)
    keep = np.ones(len(tags), dtype=bool)
    if "tagged" in tags.columns:
        keep = parse_booleans(tags["tagged"], source)
    ids = tags["item_id"]
    empty = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    if empty.any():
        raise InputError("empty item id", file=source, row=int(np.flatnonzero(empty)[0]) + 1,
                         field="item_id")
    traits = []
    for i, name in enumerate(tags[VALUE].astype(str), start=1):
        try:
            traits.append(canonical_trait(name))
        except KeyError as err:
            raise InputError(f"unknown trait {name!r}", file=source, row=i,
                             field=VALUE) from err
    out = pd.DataFrame({"item_id": tags["item_id"].astype(str).to_numpy(), VALUE: traits})
    out = out[keep].drop_duplicates().reset_index(drop=True)
    return out


def parse_booleans(col: pd.Series, source: str | Path | None,
                   field: str = "tagged") -> np.ndarray:
    """A column of ``true/false/1/0`` (any case) as booleans; anything else names its row."""
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=bool)
    text = col.astype(str).str.strip().str.lower()
    truth = {"true": True, "1": True, "false": False, "0": False}
    bad = ~text.isin(list(truth))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise InputError(f"not a boolean: {col.iloc[row - 1]!r}", file=source, row=row,
                         field=field)
    return text.map(truth).to_numpy(dtype=bool)


def classic_scores(tags: pd.DataFrame, llm_ratings: pd.DataFrame) -> pd.DataFrame:
    """The paper's centred-mean value scores of every respondent.

    Parameters
    ----------
    tags
        Tagged ``item_id, value`` pairs, or a correlation table with a ``tagged`` column
        (see :func:`normalize_tags`).
    llm_ratings
        A long table ``respondent, item_id, variant, rating`` (NaN = unparsed), e.g. from
        :func:`vp_bayes.wave.ratings.read_llm_ratings`.

    Returns
    -------
    pandas.DataFrame
        Columns ``respondent, value, score, centered_score, n_items`` (``n_items``: tagged
        items with at least one valid rating), plus ``std`` (population sd, ddof 0, of the
        item ratings of that value, as the paper's ``std_dev``). Values in the order they
        first appear in ``tags``.

    Raises
    ------
    InputError
        When a respondent has no valid rating of any tagged item (it would have no score at
        all): naming the rating table (``llm_ratings.attrs["source"]``) and the respondent's
        first row.
    """
    pairs = normalize_tags(tags)
    per_item = item_ratings(llm_ratings)
    valid = per_item[per_item["n_valid"] > 0][[RESPONDENT, "item_id", "rating"]]
    tagged_items = pairs["item_id"].unique()
    baseline = (valid[valid["item_id"].isin(tagged_items)]
                .groupby(RESPONDENT)["rating"].mean().rename("baseline"))
    joined = valid.merge(pairs, on="item_id", how="inner")
    grouped = joined.groupby([RESPONDENT, VALUE], sort=False)["rating"]
    scores = grouped.agg(score="mean", n_items="count").reset_index()
    scores["std"] = grouped.std(ddof=0).to_numpy()
    scores = scores.merge(baseline, left_on=RESPONDENT, right_index=True, how="left")
    scores["centered_score"] = scores["score"] - scores["baseline"]
    order = {t: i for i, t in enumerate(dict.fromkeys(pairs[VALUE]))}
    scores["_order"] = scores[VALUE].map(order)
    scores = scores.sort_values([RESPONDENT, "_order"])
    _check_every_respondent(llm_ratings, set(scores[RESPONDENT]), set(tagged_items))
    return scores[[*SCORE_COLUMNS, "std"]].reset_index(drop=True)


def _check_every_respondent(llm_ratings: pd.DataFrame, scored: set[str],
                            tagged: set[str]) -> None:
    """Refuse a respondent that would vanish from the scores (no valid tagged rating)."""
    names = llm_ratings[RESPONDENT].astype(str)
    lost = [r for r in pd.unique(names) if r not in scored]
    if not lost:
        return
    mine = (names == lost[0]).to_numpy()
    rows = llm_ratings[mine]
    on_tagged = rows["item_id"].astype(str).isin(tagged)
    if on_tagged.any():
        why = (f"has no valid rating of the {int(on_tagged.sum())} ratings of tagged items it "
               "has (all unparsed)")
    else:
        why = (f"rated none of the {len(tagged)} tagged items (are the tags from another item "
               "set?)")
    more = f"; {len(lost) - 1} more respondent(s) alike" if len(lost) > 1 else ""
    raise InputError(f"respondent {lost[0]!r} {why}: it would have no score{more}",
                     file=llm_ratings.attrs.get("source"),
                     row=int(np.flatnonzero(mine)[0]) + 1, field="item_id")


def classic_summary(tags: pd.DataFrame, llm_ratings: pd.DataFrame) -> pd.DataFrame:
    """Per respondent: tagged items, those with no valid rating, and unparsed ratings."""
    pairs = normalize_tags(tags)
    per_item = item_ratings(llm_ratings)
    on_tagged = per_item[per_item["item_id"].isin(pairs["item_id"].unique())]
    out = on_tagged.groupby(RESPONDENT).agg(
        n_tagged_items=("item_id", "nunique"),
        n_items_no_valid=("n_valid", lambda s: int((s == 0).sum())),
        n_unparsed=("n_rows", "sum"),
    )
    out["n_unparsed"] -= on_tagged.groupby(RESPONDENT)["n_valid"].sum()
    return out.reset_index()


def classic_lines(scores: pd.DataFrame, info: pd.DataFrame, *, full: bool = False,
                  max_respondents: int = N_SHOWN,
                  table_path: str | Path | None = None) -> list[str]:
    """The lines ``vp-bayes classic-score`` prints.

    Parameters
    ----------
    scores
        :func:`classic_scores`' table.
    info
        :func:`classic_summary`'s table.
    full
        Every respondent and every flagged respondent; otherwise at most ``max_respondents``
        of each, then a line naming how many more there are and where the table is.
    max_respondents
        Cap of the summary.
    table_path
        Where the full table was written.

    Returns
    -------
    list of str
        Lines (a table is one multi-line string).
    """
    cap = None if full else max(max_respondents, 0)
    where = f" (all in {table_path})" if table_path is not None else ""
    lines: list[str] = []
    flagged = info[(info["n_items_no_valid"] > 0) | (info["n_unparsed"] > 0)]
    if len(flagged):
        lines.append("respondents with unparsed ratings on tagged items "
                     "(items with no valid rating are left out):")
        lines.append(flagged.head(cap).to_string(index=False))
        if cap is not None and len(flagged) > cap:
            lines.append(f"... {len(flagged) - cap} more respondents with unparsed ratings "
                         "(--full lists them)")
    wide = scores.pivot(index=RESPONDENT, columns=VALUE, values="centered_score")
    wide = wide[list(dict.fromkeys(scores[VALUE]))]
    wide = wide.loc[list(dict.fromkeys(scores[RESPONDENT]))]
    lines.append("centered scores (mean rating on the value's tagged items minus the mean "
                 "over all tagged items):")
    lines.append(wide.head(cap).round(3).to_string())
    if cap is not None and len(wide) > cap:
        lines.append(f"... {len(wide) - cap} more respondents{where}; --full prints every row")
    return lines

"""What ``vp-bayes score`` prints: a short summary of the portraits, the full tables on request.

A portrait table has one row per respondent and value (6,750 rows for 27 models x 25 personas x
10 values); printing it all buries the few lines a reader needs. :func:`respondent_summary`
gives one row per respondent (its highest and lowest values relative to its own mean, the
typical interval width, misfit), :func:`portrait_lines` the printed lines (capped at
:data:`N_SHOWN` respondents, or the full tables), :func:`note_lines` the scoring notes (the
general ones in full, per-respondent ones capped at :data:`N_NOTES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from vp_bayes.output import N_SHOWN

N_NOTES = 10  # per-respondent notes printed before '... N more'
N_EXTREME = 2  # values named as highest and as lowest per respondent

# The full printout: portraits, then one row per respondent of counts and checks.
PORTRAIT_COLUMNS = ("respondent", "value", "mean", "lower", "upper", "centered_mean",
                    "centered_lower", "centered_upper", "percentile")
CHECK_COLUMNS = ("respondent", "n_ratings", "n_unparsed", "n_unknown_items", "ess_fraction",
                 "pareto_k", "tau", "sigma", "ppp_agreement", "ppp_distribution", "ppp_fit",
                 "misfit")
SUMMARY_COLUMNS = ("respondent", "model", "persona", "n_ratings", "highest", "lowest",
                   "half_width", "misfit")


def _two(x: float) -> str:
    return f"{x:.2f}"


def _left_aligned(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """``frame.to_string`` with the text ``columns`` (and their headers) aligned left."""
    formatters = {}
    for col in columns:
        width = max([len(str(col)), *(len(str(v)) for v in frame[col])])
        formatters[col] = lambda v, w=width: f"{v!s:<{w}}"
    text = frame.to_string(index=False, float_format=_two, formatters=formatters)
    header, _, body = text.partition("\n")
    for col in columns:  # to_string right-aligns the header over a left-aligned column
        width = max([len(str(col)), *(len(str(v)) for v in frame[col])])
        header = header.replace(f"{col:>{width}}", f"{col:<{width}}", 1)
    return f"{header}\n{body}" if body else header


def _named(values: pd.Series, means: pd.Series) -> str:
    return ", ".join(f"{v} {m:+.2f}" for v, m in zip(values, means, strict=True))


def respondent_summary(table: pd.DataFrame, n_extreme: int = N_EXTREME) -> pd.DataFrame:
    """One row per respondent of a portrait table, in the table's order.

    Parameters
    ----------
    table
        A portrait table (:data:`vp_bayes.scoring.TABLE_COLUMNS`).
    n_extreme
        How many values to name as the highest and as the lowest.

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`: ``highest``/``lowest`` name the values furthest above and
        below the respondent's own mean (``centered_mean``, human SD units, e.g.
        ``"universalism +1.22, benevolence +0.59"``); ``half_width`` is the median over values
        of half the interval ``upper - lower`` (human scale); ``misfit`` as in the table.
    """
    rows = []
    for name, grp in table.groupby("respondent", sort=False):
        order = grp.sort_values("centered_mean", ascending=False, kind="stable")
        high, low = order.head(n_extreme), order.tail(n_extreme).iloc[::-1]
        first = grp.iloc[0]
        rows.append({
            "respondent": name,
            "model": first["model"],
            "persona": first["persona"],
            "n_ratings": int(first["n_ratings"]),
            "highest": _named(high["value"], high["centered_mean"]),
            "lowest": _named(low["value"], low["centered_mean"]),
            "half_width": float(((grp["upper"] - grp["lower"]) / 2).median()),
            "misfit": bool(first["misfit"]),
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _pct(table: pd.DataFrame) -> str:
    mass = float(table["mass"].iloc[0]) if len(table) else float("nan")
    return f"{100 * mass:g}%"


def portrait_lines(table: pd.DataFrame, *, full: bool = False, max_respondents: int = N_SHOWN,
                   table_path: str | Path | None = None) -> list[str]:
    """The lines ``vp-bayes score`` prints for a portrait table.

    Parameters
    ----------
    table
        A portrait table (:data:`vp_bayes.scoring.TABLE_COLUMNS`).
    full
        Print every row: the portraits (one row per respondent and value) and the
        per-respondent checks. Otherwise one line per respondent (:func:`respondent_summary`),
        unprompted models before personas, at most ``max_respondents`` of them.
    max_respondents
        Cap of the summary.
    table_path
        Where the full table was written (named in the line about the respondents left out).

    Returns
    -------
    list of str
        Lines without trailing newlines (a table is one multi-line string).
    """
    pct = _pct(table)
    if full:
        per = table.drop_duplicates("respondent")[list(CHECK_COLUMNS)]
        return [
            "",
            "Value portraits (human scale: 0 = the participants' centre, 1 = one SD; "
            f"docs/model.md); lower/upper = {pct} equal-tailed intervals",
            table[list(PORTRAIT_COLUMNS)].to_string(index=False, float_format=_two),
            "",
            "Per respondent: usable ratings, unparsed, unknown items, importance sampling, own "
            "noise (tau, sigma), posterior predictive p-values, misfit",
            per.to_string(index=False, float_format=_two),
        ]
    summary = respondent_summary(table)
    plain_first = summary["persona"].astype(str).ne("").argsort(kind="stable")
    shown = summary.iloc[plain_first].head(max(max_respondents, 0))
    lines = [
        "",
        "Value portraits, one line per respondent: the values furthest above and below its own "
        "mean (centred, human SD units), the median half-width of its "
        f"{pct} equal-tailed intervals (human scale), misfit",
    ]
    if len(shown):
        columns = ["respondent", "n_ratings", "highest", "lowest", "half_width", "misfit"]
        lines.append(_left_aligned(shown[columns], ["respondent", "highest", "lowest"]))
    n_more = len(summary) - len(shown)
    if n_more:
        where = f"every row in {table_path}" if table_path is not None else "the full table"
        lines.append(f"... {n_more} more respondent(s) ({where}; --full prints them all)")
    return lines


def note_lines(notes: Sequence[str], respondents: Sequence[str], *,
               max_notes: int | None = N_NOTES) -> list[str]:
    """The scoring notes as printed lines (``note: ...``), per-respondent ones capped.

    Parameters
    ----------
    notes
        :attr:`vp_bayes.scoring.Portraits.notes`.
    respondents
        The respondents' names; a note starting ``"<name>: "`` is about one respondent.
    max_notes
        How many per-respondent notes to print (``None``: all); notes about the whole table
        are always printed.

    Returns
    -------
    list of str
        The general notes, then the first per-respondent notes, then a line counting the rest.
    """
    names = set(map(str, respondents))
    general = [n for n in notes if n.partition(": ")[0] not in names]
    personal = [n for n in notes if n.partition(": ")[0] in names]
    keep = personal if max_notes is None else personal[:max(max_notes, 0)]
    lines = [f"note: {n}" for n in (*general, *keep)]
    rest = personal[len(keep):]
    if rest:
        about = len({n.partition(": ")[0] for n in rest})
        lines.append(f"note: ... {len(rest)} more note(s) on {about} respondent(s) "
                     "(--full prints them all; the table's misfit, pareto_k and "
                     "prior_sensitivity columns hold the checks)")
    return lines

"""What ``vp-bayes select`` prints: tags per trait against chance and FDR, and the comparison
with a published correlation table.

:func:`tag_summary` computes the per-trait counts (the rule's tags, the tags expected by chance,
the tags surviving Benjamini-Hochberg), :func:`selection_lines` and :func:`comparison_lines`
turn the results into the printed lines; the CLI only prints them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vp_bayes.dims import TAG_ALPHA, TAG_THRESHOLD, VALUE
from vp_bayes.selection.correlation import (
    compare_correlations,
    expected_chance_tags,
    select_items,
    tag_counts,
)

TOTAL = "total"  # label of the summary's last row


def _sci(x: float) -> str:
    """``1e-09`` -> ``1e-9``."""
    mantissa, _, exponent = f"{x:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def tag_summary(table: pd.DataFrame, ratings: pd.DataFrame, traits: pd.DataFrame, *,
                method: str = "spearman", threshold: float = TAG_THRESHOLD,
                alpha: float = TAG_ALPHA, sign: str = "positive", n_permutations: int = 200,
                seed: int = 0) -> pd.DataFrame:
    """Tags per trait beside the number expected by chance and the number surviving FDR.

    Parameters
    ----------
    table
        A tag table (:func:`~vp_bayes.selection.item_trait_correlations` or
        :func:`~vp_bayes.selection.select_items`).
    ratings, traits
        The wave's human ratings and trait scores (as for ``item_trait_correlations``).
    method, threshold, alpha, sign
        The rule whose chance rate is computed and re-applied with the FDR correction.
    n_permutations
        Permutations per item for the chance expectation; 0 uses the t approximation.
    seed
        Seed of the permutations.

    Returns
    -------
    pandas.DataFrame
        Indexed by trait, then :data:`TOTAL`: ``tags``, ``chance`` (expected tags if no item
        related to any trait, one decimal) and ``fdr_bh_tags`` (tags after Benjamini-Hochberg
        across all tests). ``attrs["chance"]`` says how chance was computed.
    """
    names = [str(c) for c in traits.columns]
    rule = dict(threshold=threshold, alpha=alpha, sign=sign)
    how = "permutation" if n_permutations > 0 else "t"
    chance = expected_chance_tags(ratings, traits, method=method, how=how,
                                  n_permutations=max(n_permutations, 1), seed=seed, **rule)
    fdr = select_items(table, correction="fdr_bh", **rule)
    summary = pd.DataFrame({
        "tags": tag_counts(table, names),
        "chance": chance.set_index(VALUE)["expected_tags"].reindex(names).round(1),
        "fdr_bh_tags": tag_counts(fdr, names),
    })
    summary.loc[TOTAL] = summary.sum()
    summary.attrs["chance"] = f"permutation, seed {seed}" if how == "permutation" else "t"
    return summary


def selection_lines(table: pd.DataFrame, summary: pd.DataFrame, out: str | Path, *,
                    source: str, correction: str, sign: str, threshold: float,
                    alpha: float) -> list[str]:
    """The lines ``vp-bayes select`` prints after writing a tag table.

    Parameters
    ----------
    table
        The tag table written to ``out``.
    summary
        Its :func:`tag_summary`.
    out
        Where the table was written.
    source
        Where the correlations came from (``"published"`` or the method's name).
    correction, sign, threshold, alpha
        The rule, as applied.

    Returns
    -------
    list of str
        What was written (tags, items, rule), what the columns mean, and the summary table.
    """
    tagged = table["tagged"].astype(bool)
    return [
        f"wrote {out}: {int(tagged.sum())} tags on {table.loc[tagged, 'item_id'].nunique()} "
        f"items ({source} correlations, correction {correction}, sign {sign}, r threshold "
        f"{threshold}, alpha {alpha})",
        f"chance = expected tags if no item related to any trait "
        f"({summary.attrs.get('chance', '?')}); fdr_bh_tags = tags after Benjamini-Hochberg "
        "across all tests",
        summary.to_string(),
    ]


def comparison_lines(recomputed: pd.DataFrame, published: pd.DataFrame, source: str | Path,
                     items: pd.DataFrame | None = None, tol: float = 1e-9) -> list[str]:
    """How many items' correlations match a published table, and the ones that do not.

    Parameters
    ----------
    recomputed, published
        Correlation tables (``item_id, value, r, p``).
    source
        The published file (named in the first line).
    items
        The wave's item table; its ``rater_group`` is shown beside items that do not match.
    tol
        Largest absolute difference in r and p counted as a match.

    Returns
    -------
    list of str
        One line of counts, then the table of items that do not match (if any).
    """
    cmp = compare_correlations(recomputed, published, tol=tol)
    bad = cmp[~cmp["match"]]
    lines = [f"compared with {source}: {int(cmp['match'].sum())} of {len(cmp)} items match "
             f"to {_sci(tol)}; not matching: {len(bad)}"]
    if len(bad):
        if items is not None and "rater_group" in items.columns:
            bad = bad.join(items["rater_group"])
        lines.append(bad.to_string())
    return lines

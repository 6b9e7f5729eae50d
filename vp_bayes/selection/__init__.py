"""Item selection: the paper's correlation rule (:mod:`vp_bayes.selection.correlation`)."""

from __future__ import annotations

from vp_bayes.selection.correlation import (
    adjust_pvalues,
    bh_adjust,
    chance_tag_probability,
    compare_correlations,
    expected_chance_tags,
    item_trait_correlations,
    published_correlations,
    resolve_traits,
    select_items,
    tag_counts,
    wave_traits,
)

__all__ = [
    "adjust_pvalues",
    "bh_adjust",
    "chance_tag_probability",
    "compare_correlations",
    "expected_chance_tags",
    "item_trait_correlations",
    "published_correlations",
    "resolve_traits",
    "select_items",
    "tag_counts",
    "wave_traits",
]

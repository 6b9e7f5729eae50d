"""Item selection: the paper's correlation rule (:mod:`vp_bayes.selection.correlation`) and
the reliability of tagged item sets among humans (:mod:`vp_bayes.selection.reliability`)."""

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
from vp_bayes.selection.reliability import (
    cronbach_alpha,
    mcdonald_omega,
    tagged_set_reliability,
)
from vp_bayes.selection.summary import comparison_lines, selection_lines, tag_summary

__all__ = [
    "adjust_pvalues",
    "bh_adjust",
    "chance_tag_probability",
    "compare_correlations",
    "comparison_lines",
    "cronbach_alpha",
    "expected_chance_tags",
    "item_trait_correlations",
    "mcdonald_omega",
    "published_correlations",
    "resolve_traits",
    "select_items",
    "selection_lines",
    "tag_counts",
    "tag_summary",
    "tagged_set_reliability",
    "wave_traits",
]

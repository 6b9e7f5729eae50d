"""Demographic posterior contrasts: human groups, LLM personas, and the bias between them.

``draws`` builds xarray draws ``(contrast, sample, value)``; ``tables`` summarises them into
tidy tables; ``reference`` reads external group means (e.g. the ESS table) for waves whose
participants' groups are unknown. See ``docs/contrasts.md``.
"""

from __future__ import annotations

from vp_bayes.contrasts.draws import (
    COLUMNS,
    CONTRAST,
    POPULATION,
    UNPROMPTED,
    group_draws,
    mean_draws,
    model_group_draws,
    pair_draws,
    persona_pair_draws,
    persona_shift_draws,
    portrait_draws,
    summarise,
)
from vp_bayes.contrasts.reference import (
    Reference,
    ReferenceWarning,
    read_reference,
    reference_group_draws,
)
from vp_bayes.contrasts.tables import (
    DISTANCE_COLUMNS,
    ContrastReport,
    ContrastWarning,
    bias_contrasts,
    bias_draws,
    compare,
    credible_summary,
    describe_credible,
    human_contrasts,
    human_group_means,
    persona_contrasts,
    persona_distance,
    persona_shifts,
    report_lines,
)
from vp_bayes.dims import parse_respondent

__all__ = [
    "COLUMNS",
    "CONTRAST",
    "DISTANCE_COLUMNS",
    "POPULATION",
    "UNPROMPTED",
    "ContrastReport",
    "ContrastWarning",
    "Reference",
    "ReferenceWarning",
    "bias_contrasts",
    "bias_draws",
    "compare",
    "credible_summary",
    "describe_credible",
    "group_draws",
    "human_contrasts",
    "human_group_means",
    "mean_draws",
    "model_group_draws",
    "pair_draws",
    "parse_respondent",
    "persona_contrasts",
    "persona_distance",
    "persona_pair_draws",
    "persona_shift_draws",
    "persona_shifts",
    "portrait_draws",
    "read_reference",
    "reference_group_draws",
    "report_lines",
    "summarise",
]

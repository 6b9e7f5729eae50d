"""Scoring respondents (LLMs, personas) through the item posterior: value portraits.

The cut (modular) posterior: item parameters are integrated over their posterior from the
human fit and never updated by a respondent's ratings. See ``docs/scoring.md``.
"""

from __future__ import annotations

from vp_bayes.scoring.laplace import RespondentData, laplace_samples, make_problem
from vp_bayes.scoring.portraits import (
    TABLE_COLUMNS,
    Portraits,
    load_portraits,
    portrait_table,
    respondent_data,
    save_portraits,
    score,
    score_respondent,
    split_respondent,
)
from vp_bayes.scoring.posterior import ItemDraws, item_draws

__all__ = [
    "TABLE_COLUMNS",
    "ItemDraws",
    "Portraits",
    "RespondentData",
    "item_draws",
    "laplace_samples",
    "load_portraits",
    "make_problem",
    "portrait_table",
    "respondent_data",
    "save_portraits",
    "score",
    "score_respondent",
    "split_respondent",
]

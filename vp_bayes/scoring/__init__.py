"""Scoring respondents (LLMs, personas) through the item posterior: value portraits.

Item parameters come from the human fit's posterior and are never refitted: by default each
item's parameters are integrated out item by item together with the respondent's own noise
(:mod:`.marginal`), under a prior twice as wide as the human population, and a model's
personas are scored jointly with it (:mod:`.joint`); ``method="cut"`` gives the cut (modular)
posterior (:mod:`.laplace`). Every respondent is checked (:mod:`.checks`: posterior
predictive person fit, reliability, prior sensitivity). See ``docs/scoring.md``.
"""

from __future__ import annotations

from vp_bayes.dims import split_respondent
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
)
from vp_bayes.scoring.posterior import ItemDraws, item_draws
from vp_bayes.scoring.summary import note_lines, portrait_lines, respondent_summary

__all__ = [
    "TABLE_COLUMNS",
    "ItemDraws",
    "Portraits",
    "RespondentData",
    "item_draws",
    "laplace_samples",
    "load_portraits",
    "make_problem",
    "note_lines",
    "portrait_lines",
    "portrait_table",
    "respondent_data",
    "respondent_summary",
    "save_portraits",
    "score",
    "score_respondent",
    "split_respondent",
]

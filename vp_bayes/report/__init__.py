"""The report: matplotlib figures (:mod:`.plots`) and the self-contained HTML page (:mod:`.html`).

Report code only reads results (tables and a fitted model's stored diagnostics); it never fits.
"""

from __future__ import annotations

from vp_bayes.report.html import fit_warnings, write_report
from vp_bayes.report.plots import (
    compare_forest,
    contrast_forest,
    overlapping_labels,
    portrait_forest,
    portrait_polar,
    ppc_figure,
)
from vp_bayes.report.tables import (
    read_contrasts,
    read_portraits,
    read_selection,
    selection_summary,
)

__all__ = [
    "compare_forest",
    "contrast_forest",
    "fit_warnings",
    "overlapping_labels",
    "portrait_forest",
    "portrait_polar",
    "ppc_figure",
    "read_contrasts",
    "read_portraits",
    "read_selection",
    "selection_summary",
    "write_report",
]

"""The report: matplotlib figures (:mod:`.plots`) and the self-contained HTML page (:mod:`.html`).

Report code only reads results (tables and a fitted model's stored diagnostics); it never fits.
Its fit warnings are :func:`vp_bayes.model.diagnostics.convergence_problems` (re-exported:
:func:`fit_warnings`), the same as the model card's.

The package is also the front door's report verb: ``vb.report(out_dir, item_model=...,
portraits=..., contrasts=...)`` calls :func:`vp_bayes.api.report`. (Python binds an imported
subpackage as an attribute of its parent, so ``vp_bayes.report`` is this package whatever the
front door exports; making the package callable keeps ``vb.report(...)`` one thing.)
"""

from __future__ import annotations

import inspect
import sys
import types
from pathlib import Path
from typing import Any

from vp_bayes.model.diagnostics import fit_warnings
from vp_bayes.report.html import write_report
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


class _CallableReport(types.ModuleType):
    """Module type of this package: calling it writes the report (:func:`vp_bayes.api.report`)."""

    def __call__(self, out_dir: str | Path, **kwargs: Any) -> Path:
        from vp_bayes.api import report

        return report(out_dir, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # for help() and inspect.signature
        from vp_bayes.api import report

        return inspect.signature(report)


sys.modules[__name__].__class__ = _CallableReport

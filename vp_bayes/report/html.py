"""The HTML report: one self-contained ``index.html`` plus the PNG files of its raster figures.

Sections (each has an ``id``, in this order): ``summary`` (what was scored, with which model,
convergence and person-fit warnings, the findings in brief), ``leaderboard`` (respondents x
values, sortable), ``ranking`` (posterior ranks per value), ``pairs`` (P(a > b) matrix),
``population`` (each respondent against the fitted participants), ``findings`` (the paper's
findings retested), ``contrasts`` (demographic contrasts), ``selection`` (Bayesian vs
correlation item selection), ``diagnostics`` (convergence, sampler, predictive check) and
``portraits`` (each respondent's forest and circle, collapsed, last). The comparison sections
are :mod:`vp_bayes.report.sections` (inline SVG); contrasts and the predictive check stay PNG.
The report only reads results; it never fits anything.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes import __version__, dims
from vp_bayes.errors import InputError
from vp_bayes.model.diagnostics import (
    ESS_MIN,
    R_HAT_MAX,
    convergence_problems,
    sampler_summary,
)
from vp_bayes.report import assets, findings, plots, sections
from vp_bayes.report.tables import (
    check_contrasts,
    check_portraits,
    check_selection,
    selection_summary,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vp_bayes.model.fit import ItemModel

SECTIONS = ("summary", "leaderboard", "ranking", "pairs", "population", "findings",
            "contrasts", "selection", "diagnostics", "portraits")
COMPARISON_SECTIONS = ("summary", "leaderboard", "ranking", "pairs", "population", "findings",
                       "portraits")
PORTRAIT_TABLE_ROWS = 1000  # rows of the portrait table on the page (the page's size budget)
SECTION_TITLES = {
    "summary": "Summary",
    "leaderboard": "Leaderboard",
    "ranking": "Ranking per value",
    "pairs": "Model vs model: P(a > b)",
    "population": "Against the human population",
    "findings": "The paper's findings, retested",
    "contrasts": "Demographic contrasts",
    "selection": "Item selection: Bayesian vs correlation rule",
    "diagnostics": "Fit diagnostics",
    "portraits": "Value portraits, one by one",
}


@dataclass
class _Figures:
    """Writes each figure as a PNG into the report folder and returns the inline HTML."""

    folder: Path
    dpi: int = 110
    written: list[Path] = field(default_factory=list)

    def add(self, fig: Figure, name: str, caption: str) -> str:
        png = plots.figure_png(fig, dpi=self.dpi)
        if getattr(fig, "number", None) is not None:  # made through pyplot: release it
            import matplotlib.pyplot as plt

            plt.close(fig)
        fig.clear()
        stem = _slug(name)
        path = self.folder / f"{stem}.png"
        n = 2
        while path in self.written:
            path = self.folder / f"{stem}-{n}.png"
            n += 1
        path.write_bytes(png)
        self.written.append(path)
        data = base64.b64encode(png).decode("ascii")
        rel = f"{self.folder.name}/{path.name}"
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                f'<figcaption>{_e(caption)} (<a href="{_e(rel)}">{_e(path.name)}</a>)'
                "</figcaption></figure>")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "figure"


def _table_html(frame: pd.DataFrame, *, index: bool = False, digits: int = 3) -> str:
    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}"
                                        if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}")
    return ('<div class="scroll">' + frame.to_html(index=index, escape=True, border=0, na_rep="")
            + "</div>")


def _missing(what: str, option: str) -> str:
    return f'<p class="missing">No {_e(what)} given (use {_e(option)}).</p>'


# --------------------------------------------------------------------------- diagnostics
def ppc_table(item_model: ItemModel) -> pd.DataFrame | None:
    """The posterior predictive check stored in the model (``ppc`` group) as a tidy table."""
    tree = item_model.idata
    if "ppc" not in tree.children:
        return None
    ds = tree["ppc"].to_dataset()
    need = {"observed", "predicted_mean", "predicted_lower", "predicted_upper"}
    if not need <= set(ds.data_vars):
        return None
    frame = ds[[v for v in ds.data_vars if dims.ITEM in ds[v].dims]].to_dataframe()
    frame = frame.reset_index()
    frame["mass"] = float(ds.attrs.get("mass", dims.INTERVAL_MASS))
    return frame


def model_selection_table(item_model: ItemModel) -> pd.DataFrame | None:
    """A selection comparison stored in the model file (``selection`` group), if any."""
    tree = item_model.idata
    if "selection" not in tree.children:
        return None
    frame = tree["selection"].to_dataset().to_dataframe().reset_index()
    frame = frame.drop(columns=[c for c in frame.columns if c in ("index", "row")])
    return check_selection(frame, "model file: selection group")


# --------------------------------------------------------------------------- sections
def _selection_section(selection: pd.DataFrame | None) -> str:
    if selection is None:
        return _missing("selection comparison", "--selection SELECTION.csv")
    summary = selection_summary(selection)
    parts = ["<p>Items tagged for a value by the posterior rule (probability of a practically "
             "positive loading) and by the paper's Spearman rule (rho &gt; 0.3, p &lt; 0.05). "
             "<i>agreement</i> = share of items on which the two rules agree.</p>",
             _table_html(summary.reset_index().rename(columns={"index": "value"}))]
    tagged = selection[selection["posterior_tagged"].astype(bool) |
                       selection["spearman_tagged"].astype(bool)]
    parts.append(f"<details><summary>Tagged by either rule ({len(tagged)} item-value pairs of "
                 f"{len(selection)})</summary>{_table_html(tagged)}</details>")
    return "\n".join(parts)


def _contrast_figure(contrasts: pd.DataFrame, axis: str, model: str | None) -> Figure:
    """The contrast layer's forest (``contrast_plots.plot_contrasts``), else a simple one."""
    rows = contrasts[contrasts["axis"] == axis]
    if model is not None and "model" in rows.columns:
        rows = rows[(rows["model"].astype(str) == model) | rows["model"].isna()]
    try:
        from vp_bayes.report.contrast_plots import plot_contrasts
    except ImportError:  # pragma: no cover - the contrast layer ships it
        plot_contrasts = None
    if plot_contrasts is not None and "model" in rows.columns:
        try:
            return plot_contrasts(rows.assign(model=rows["model"].fillna("")))
        except ValueError:  # only group-mean or shift rows: no pairs for that plot
            pass
    return plots.contrast_forest(contrasts, axis, model=model)


def _contrasts_section(contrasts: pd.DataFrame | None, figs: _Figures) -> str:
    if contrasts is None:
        return _missing("contrast table", "--contrasts CONTRASTS.csv")
    mass = plots.table_mass(contrasts)
    parts = [f"<p>Differences between demographic groups on each value (group a minus group "
             f"b, latent SD units): <i>human</i> from the survey, <i>llm</i> between personas, "
             f"<i>bias</i> = llm minus human. Bars are {plots.mass_phrase(mass)}.</p>"]
    models: Iterable[str | None] = [None]
    if "model" in contrasts.columns and contrasts["model"].notna().any():
        models = list(dict.fromkeys(contrasts["model"].dropna().astype(str)))
    for model in models:
        for axis in dict.fromkeys(contrasts["axis"]):
            rows = contrasts[contrasts["axis"] == axis]
            if model is not None:
                rows = rows[(rows["model"].astype(str) == model) | rows["model"].isna()]
            if rows.empty:
                continue
            title = f"{axis}" + (f" - {model}" if model else "")
            parts.append(f"<h3>{_e(title)}</h3>")
            parts.append(figs.add(_contrast_figure(contrasts, axis, model),
                                  f"contrast_{title}", f"Contrasts by {title}"))
    credible = contrasts[(contrasts["lower"] > 0) | (contrasts["upper"] < 0)]
    parts.append(f"<details><summary>Intervals excluding zero ({len(credible)} of "
                 f"{len(contrasts)} contrasts)</summary>{_table_html(credible)}</details>")
    return "\n".join(parts)


def _diagnostics_section(item_model: ItemModel | None, figs: _Figures) -> str:
    if item_model is None:
        return _missing("fitted model", "MODEL.nc")
    diag = item_model.diagnostics
    stats = sampler_summary(item_model.idata)
    ppc = ppc_table(item_model)
    ppc_mass = plots.table_mass(ppc) if ppc is not None else dims.INTERVAL_MASS
    warnings = convergence_problems(item_model)
    parts = []
    if warnings:
        parts += [f'<div class="warn">{_e(w)}</div>' for w in warnings]
    else:
        parts.append(f'<div class="ok">No warnings: R-hat at most {R_HAT_MAX}, effective '
                     f"sample sizes at least {ESS_MIN:.0f}, no divergent transitions.</div>")
    sc = item_model.sampler_config
    facts = {
        "wave": item_model.wave_name or "",
        "wave hash": item_model.wave_hash[:16],
        "vp_bayes version (fit)": item_model.version,
        "sampler": f"{sc.sampler}: {sc.chains} chains x {sc.draws} draws "
                   f"(tune {sc.tune}), seed {sc.seed}",
        "fit time (s)": f"{getattr(item_model, 'fit_seconds', float('nan')):.0f}",
        "thresholds": item_model.model_config.thresholds,
        "value input": item_model.idata.attrs.get("value_input",
                                                  item_model.model_config.value_input),
        "divergences": _fmt(stats.get("divergences")),
        "min E-BFMI": _fmt(stats.get("bfmi_min")),
    }
    parts.append(_table_html(pd.DataFrame({"": list(facts), "value": list(facts.values())})))
    if len(diag):
        parts.append("<h3>Convergence per variable</h3>"
                     "<p>Worst element of each saved posterior variable.</p>")
        shown = diag.reset_index()
        for col in ("ess_bulk_min", "ess_tail_min"):
            if col in shown.columns:
                shown[col] = shown[col].round().astype("Int64")
        parts.append(_table_html(shown, digits=3))
    if ppc is not None:
        parts.append("<h3>Posterior predictive check</h3>"
                     f"<p>Observed rating proportions (grey) against ratings replicated from "
                     f"the posterior ({plots.mass_phrase(ppc_mass)}); the first panel averages "
                     f"proportions and interval ends over items, the others show the items "
                     f"fitted worst.</p>")
        parts.append(figs.add(plots.ppc_figure(ppc), "ppc", "Posterior predictive check"))
        if "outside" in ppc.columns:
            share = float(ppc["outside"].astype(bool).mean())
            parts.append(f"<p>{100 * share:.1f}% of item-by-rating proportions fall outside "
                         f"their {plots.mass_phrase(ppc_mass)[:-1]} (about "
                         f"{100 * (1 - ppc_mass):.0f}% expected for a well-fitting model).</p>")
    return "\n".join(parts)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3f}"


# --------------------------------------------------------------------------- page
def model_facts(item_model: ItemModel | None) -> dict[str, str]:
    """The summary's lines about the item model (wave, sampler, convergence bars)."""
    if item_model is None:
        return {}
    sc = item_model.sampler_config
    return {"Item model": f"wave {item_model.wave_name or '(unnamed)'} (hash "
                          f"{item_model.wave_hash[:12]}), {sc.sampler}: {sc.chains} chains x "
                          f"{sc.draws} draws (tune {sc.tune}); thresholds "
                          f"{item_model.model_config.thresholds}",
            "Convergence checks": f"R-hat at most {R_HAT_MAX}, bulk and tail ESS at least "
                                f"{ESS_MIN:.0f}, no divergences"}


def _draws_of(portraits: Any, draws: xr.Dataset | None) -> tuple[pd.DataFrame | None,
                                                                  xr.Dataset | None]:
    """(table, draws) from a Portraits object, a table, or a table and its draws."""
    if portraits is not None and not isinstance(portraits, pd.DataFrame):
        table = getattr(portraits, "table", None)
        draws = getattr(portraits, "draws", None) if draws is None else draws
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"expected a portrait table or Portraits, got {type(portraits)!r}")
        return table, draws
    if portraits is None and draws is not None:
        from vp_bayes.scoring.portraits import portrait_table

        return portrait_table(draws, float(draws.attrs.get("mass", dims.INTERVAL_MASS))), draws
    return portraits, draws


def build_context(table: pd.DataFrame, draws: xr.Dataset | None, item_model: ItemModel | None,
                  *, scale: str, compare: Sequence[str] | None = None,
                  groups: pd.DataFrame | None = None) -> sections.Context:
    """Everything the comparison sections show, computed once: the leaderboard, ranks and
    pairs (:func:`vp_bayes.contrasts.models.compare_models`), the human reference and the
    findings (:mod:`vp_bayes.report.findings`)."""
    mass = plots.table_mass(table)
    ctx = sections.Context(table=table, scale=scale, mass=mass,
                           misfit=sections.misfits(table))
    if item_model is not None:
        try:
            ctx.reference = findings.human_reference(item_model)
        except InputError as err:
            ctx.notes.append(f"No human reference: {err}")
    if draws is None:
        ctx.compared = [n for n in ctx.respondents if not dims.split_respondent(n)[1]] \
            or ctx.respondents
        return ctx
    from vp_bayes.contrasts.models import compare_models, select_respondents

    ctx.compared = select_respondents(draws, compare)
    values = [v for v in ctx.values if v in set(map(str, draws[dims.VALUE].values))]
    ctx.comparison = compare_models(draws, ctx.compared, values=values, scale=scale, mass=mass)
    if len(ctx.compared) > 1:
        ctx.priorities = findings.value_priorities(draws, ctx.compared, mass=mass)
        ctx.paper = findings.paper_ordering(draws, ctx.compared) or None
        if ctx.reference is not None:
            ctx.spread = findings.spread_ratio(draws, ctx.reference, ctx.compared,
                                               scale=scale, mass=mass)
    if groups is not None:
        ctx.groups = findings.group_differences(draws, groups, scale=scale, mass=mass)
    return ctx


def write_report(out_dir: str | Path, *, item_model: ItemModel | None = None,
                 portraits: pd.DataFrame | Any | None = None,
                 contrasts: pd.DataFrame | None = None,
                 selection: pd.DataFrame | None = None,
                 title: str = "vp_bayes report", scale: str = dims.LATENT,
                 max_portraits: int = 30, sources: dict[str, str] | None = None,
                 draws: xr.Dataset | None = None, compare: Sequence[str] | None = None,
                 groups: pd.DataFrame | None = None) -> Path:
    """Write ``index.html`` (self-contained: SVG figures, PNGs inline, one inlined script)
    and the contrast and predictive-check PNGs into ``figures/``.

    Parameters
    ----------
    out_dir
        Report folder (created).
    item_model
        Fitted item model: diagnostics, predictive check, a stored selection table, and the
        fitted participants (the human distribution and spread).
    portraits
        The portrait table, or :class:`~vp_bayes.scoring.portraits.Portraits` (table and
        draws).
    contrasts, selection
        Tidy result tables (checked as in :mod:`vp_bayes.report.tables`).
    scale
        Scale of the leaderboard and figures: ``"latent"`` or ``"centered"``.
    max_portraits
        Respondents that get their own (collapsed) portrait figures (all are tabled).
    sources
        Input names (e.g. file paths) listed in the page header.
    draws
        Portrait draws (``portraits.nc``) when ``portraits`` is a table: ranks, P(a > b) and
        the findings need them.
    compare
        Respondents to rank and compare (default: every model scored without a persona).
    groups
        A metadata table ``respondent`` + group columns (e.g. open/closed weights): group
        differences of the LLMs in the findings.

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    if scale not in dims.SCALES:
        raise InputError(f"must be one of {', '.join(dims.SCALES)}", field="scale")
    out_dir = Path(out_dir)
    folder = out_dir / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a rerun replaces the figures of the last run
        old.unlink()
    portraits, draws = _draws_of(portraits, draws)
    if portraits is not None:
        portraits = check_portraits(portraits)
    if contrasts is not None:
        contrasts = check_contrasts(contrasts)
    if selection is not None:
        selection = check_selection(selection)
    elif item_model is not None:
        selection = model_selection_table(item_model)
    figs = _Figures(folder)
    problems = convergence_problems(item_model) if item_model is not None else None
    body: dict[str, str] = {}
    if portraits is None:
        for s in COMPARISON_SECTIONS:
            body[s] = _missing("portrait table", "--portraits PORTRAITS.nc")
    else:
        ctx = build_context(portraits, draws, item_model, scale=scale, compare=compare,
                            groups=groups)
        attrs = dict(draws.attrs) if draws is not None else None
        body["summary"] = sections.summary_section(ctx, problems=problems,
                                                   model_facts=model_facts(item_model),
                                                   draws_attrs=attrs)
        body["leaderboard"] = sections.leaderboard_section(ctx)
        body["ranking"] = sections.ranking_section(ctx)
        body["pairs"] = sections.pairs_section(ctx)
        body["population"] = sections.population_section(ctx)
        body["findings"] = sections.findings_section(ctx)
        body["portraits"] = sections.portraits_section(ctx, max_portraits) + \
            _portrait_table(portraits)
    if portraits is None and problems:
        body["summary"] = "".join(f'<p class="alert">{_e(p)}</p>' for p in problems) + \
            body["summary"]
    body["contrasts"] = _contrasts_section(contrasts, figs)
    body["selection"] = _selection_section(selection)
    body["diagnostics"] = _diagnostics_section(item_model, figs)
    nav = " ".join(f'<a href="#{s}">{_e(SECTION_TITLES[s])}</a>' for s in SECTIONS)
    listed = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in (sources or {}).items())
    parts = []
    for s in SECTIONS:
        inner = f'<h2>{_e(SECTION_TITLES[s])}</h2>\n{body[s]}'
        if s == "portraits":  # after the comparisons, collapsed
            inner = (f'<details><summary><h2 style="display:inline">'
                     f'{_e(SECTION_TITLES[s])}</h2></summary>\n{body[s]}</details>')
        parts.append(f'<section id="{s}">{inner}\n</section>')
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{assets.CSS}{sections.heat_css()}</style>"
            f"</head><body><h1>{_e(title)}</h1><p class=\"meta\">vp_bayes "
            f"{_e(__version__)}; intervals are equal-tailed; value scores are in human "
            f"population SD units.</p>"
            f"{'<ul class=meta>' + listed + '</ul>' if listed else ''}<nav>{nav}</nav>"
            + "\n".join(parts) + f"<script>{assets.JS}</script></body></html>\n")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _portrait_table(portraits: pd.DataFrame) -> str:
    cols = [c for c in ("respondent", "value", "mean", "lower", "upper", "centered_mean",
                        "centered_lower", "centered_upper", "percentile", "n_ratings",
                        "n_unparsed", "n_unknown_items", "ess_fraction", "pareto_k",
                        "reliability", "prior_sensitivity", "tau", "sigma", "ppp_agreement",
                        "ppp_distribution", "ppp_fit", "misfit")
            if c in portraits.columns]
    shown = portraits[cols].head(PORTRAIT_TABLE_ROWS)
    cut = (f" (the first {len(shown)}; every row is in the portrait file)"
           if len(shown) < len(portraits) else "")
    return (f"<details><summary>Portrait table ({len(portraits)} rows{cut})</summary>"
            f"{_table_html(shown)}</details>")

"""The HTML report: one self-contained ``index.html`` (images inline) plus the PNG files.

Sections (each has an ``id``): ``portraits`` (forest + circular plot per respondent),
``comparison`` (respondents dodged on one forest), ``selection`` (Bayesian vs correlation
item selection), ``contrasts`` (demographic contrasts), ``diagnostics`` (convergence, sampler
and posterior predictive check, with warnings in plain words). The report only reads results;
it never fits anything.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from vp_bayes import __version__, dims
from vp_bayes.model.diagnostics import (
    ESS_MIN,
    R_HAT_MAX,
    convergence_problems,
    sampler_summary,
)
from vp_bayes.report import plots
from vp_bayes.report.tables import (
    check_contrasts,
    check_portraits,
    check_selection,
    selection_summary,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vp_bayes.model.fit import ItemModel

SECTIONS = ("portraits", "comparison", "selection", "contrasts", "diagnostics")
SECTION_TITLES = {
    "portraits": "Value portraits",
    "comparison": "Respondents compared",
    "selection": "Item selection: Bayesian vs correlation rule",
    "contrasts": "Demographic contrasts",
    "diagnostics": "Fit diagnostics",
}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:24px auto;
padding:0 20px;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;
margin-top:2em}h3{margin-bottom:.3em}
nav a{margin-right:14px}
.meta{color:#555;font-size:.92em}
.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.figs figure{flex:1 1 0;min-width:440px}
figure{margin:0}figure img{max-width:100%;border:1px solid #eee}.figs figure img{width:100%}
figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.warn{background:#fff4e5;border-left:4px solid #e08214;padding:6px 12px;margin:6px 0}
.ok{background:#edf7ed;border-left:4px solid #1b7837;padding:6px 12px;margin:6px 0}
.missing{color:#777;font-style:italic}
details{margin:8px 0}summary{cursor:pointer;color:#2166ac}
"""


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
    return frame.to_html(index=index, escape=True, border=0, na_rep="")


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
def _portraits_section(portraits: pd.DataFrame | None, figs: _Figures, scale: str,
                       max_portraits: int) -> str:
    if portraits is None:
        return _missing("portrait table", "--portraits PORTRAITS.csv")
    mass = plots.table_mass(portraits)
    respondents = list(dict.fromkeys(portraits["respondent"]))
    parts = [f"<p>Each respondent's ten values in Schwartz circular order, scored through "
             f"the item posterior: points are posterior means, bars and bands "
             f"{plots.mass_phrase(mass)}. Scale: {_e(plots.SCALE_LABELS[scale])}.</p>"]
    parts += respondent_warnings(portraits)
    shown = respondents[:max_portraits]
    if len(respondents) > len(shown):
        parts.append(f'<p class="warn">Figures are drawn for the first {len(shown)} of '
                     f"{len(respondents)} respondents; every respondent is in the table "
                     "below.</p>")
    for name in tqdm(shown, desc="portrait figures", leave=False):
        parts.append(f"<h3>{_e(name)}</h3>")
        forest = figs.add(plots.portrait_forest(portraits, name, scale=scale),
                          f"portrait_{name}", f"Forest plot of {name}")
        polar = figs.add(plots.portrait_polar(portraits, name, scale=scale),
                         f"circle_{name}", f"Circular plot of {name}")
        parts.append(f'<div class="figs">{forest}{polar}</div>')
    cols = [c for c in ("respondent", "value", "mean", "lower", "upper", "centered_mean",
                        "centered_lower", "centered_upper", "percentile", "n_ratings",
                        "n_unparsed", "n_unknown_items", "ess_fraction", "pareto_k",
                        "reliability", "prior_sensitivity", "tau", "sigma", "ppp_agreement",
                        "ppp_distribution", "ppp_fit", "misfit")
            if c in portraits.columns]
    parts.append(f"<details><summary>Portrait table ({len(portraits)} rows)</summary>"
                 f"{_table_html(portraits[cols])}</details>")
    return "\n".join(parts)


def respondent_warnings(portraits: pd.DataFrame) -> list[str]:
    """Warning paragraphs naming respondents the item model does not fit (posterior
    predictive p below :data:`~vp_bayes.scoring.checks.MISFIT_P`) and prior-sensitive values."""
    from vp_bayes.scoring.checks import MISFIT_P, SENSITIVE_SHIFT

    out = []
    if "misfit" in portraits.columns:
        flags = portraits.drop_duplicates("respondent")
        bad = flags.loc[flags["misfit"].astype(str).str.lower() == "true", "respondent"]
        if len(bad):
            out.append(f'<p class="warn">The item model does not fit {len(bad)} of '
                       f"{len(flags)} respondent(s) (a posterior predictive p-value below "
                       f"{MISFIT_P:g}: see the ppp_* columns): {_e(', '.join(map(str, bad)))}. "
                       "Read their portraits with care.</p>")
    if "prior_sensitivity" in portraits.columns:
        sens = portraits[pd.to_numeric(portraits["prior_sensitivity"], errors="coerce")
                         > SENSITIVE_SHIFT]
        if len(sens):
            out.append(f'<p class="warn">{len(sens)} portrait value(s) are prior-sensitive '
                       f"(power-scaling sensitivity above {SENSITIVE_SHIFT:g}): the prior "
                       "supplies much of their precision.</p>")
    return out


def comparison_groups(portraits: pd.DataFrame, size: int = 8) -> list[list[str]]:
    """Respondents to draw together: the models (no persona), then each model with its personas.

    A respondent ``"{model}|{persona}"`` belongs to ``model``; groups with a single respondent
    are dropped and long groups are cut into chunks of ``size``.
    """
    names = list(dict.fromkeys(portraits["respondent"].astype(str)))
    split = {n: dims.split_respondent(n) for n in names}
    groups = [[n for n in names if not split[n][1]]]
    for model in dict.fromkeys(m for m, _ in split.values()):
        members = [n for n in names if split[n][0] == model]
        if any(split[n][1] for n in members):
            groups.append(members)
    out = []
    for g in groups:
        out += [g[i:i + size] for i in range(0, len(g), size)]
    return [g for g in out if len(g) > 1]


def _comparison_section(portraits: pd.DataFrame | None, figs: _Figures, scale: str) -> str:
    if portraits is None:
        return _missing("portrait table", "--portraits PORTRAITS.csv")
    groups = comparison_groups(portraits)
    if not groups:
        return '<p class="missing">Only one respondent: nothing to compare.</p>'
    parts = ["<p>Respondents side by side (the models, then each model with its personas); "
             "non-overlapping bars are credible differences only roughly - use the contrast "
             "table for exact statements.</p>"]
    for g in groups:
        parts.append(figs.add(plots.compare_forest(portraits, g, scale=scale),
                              "compare_" + "_".join(g)[:60],
                              "Compared: " + ", ".join(g)))
    return "\n".join(parts)


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
def write_report(out_dir: str | Path, *, item_model: ItemModel | None = None,
                 portraits: pd.DataFrame | None = None,
                 contrasts: pd.DataFrame | None = None,
                 selection: pd.DataFrame | None = None,
                 title: str = "vp_bayes report", scale: str = dims.LATENT,
                 max_portraits: int = 30, sources: dict[str, str] | None = None) -> Path:
    """Write ``index.html`` and ``figures/*.png`` into ``out_dir``.

    Parameters
    ----------
    out_dir
        Report folder (created).
    item_model
        Fitted item model (diagnostics, predictive check, and a stored selection table).
    portraits, contrasts, selection
        Tidy result tables (checked as in :mod:`vp_bayes.report.tables`).
    scale
        Portrait scale to draw: ``"latent"`` or ``"centered"``.
    max_portraits
        Respondents that get their own forest and circular figures (all are tabled).
    sources
        Input names (e.g. file paths) listed in the page header.

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    if scale not in dims.SCALES:
        from vp_bayes.errors import InputError

        raise InputError(f"must be one of {', '.join(dims.SCALES)}", field="scale")
    out_dir = Path(out_dir)
    folder = out_dir / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a rerun replaces the figures of the last run
        old.unlink()
    if portraits is not None:
        portraits = check_portraits(portraits)
    if contrasts is not None:
        contrasts = check_contrasts(contrasts)
    if selection is not None:
        selection = check_selection(selection)
    elif item_model is not None:
        selection = model_selection_table(item_model)
    figs = _Figures(folder)
    body = {
        "portraits": _portraits_section(portraits, figs, scale, max_portraits),
        "comparison": _comparison_section(portraits, figs, scale),
        "selection": _selection_section(selection),
        "contrasts": _contrasts_section(contrasts, figs),
        "diagnostics": _diagnostics_section(item_model, figs),
    }
    nav = " ".join(f'<a href="#{s}">{_e(SECTION_TITLES[s])}</a>' for s in SECTIONS)
    listed = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in (sources or {}).items())
    sections = "\n".join(
        f'<section id="{s}"><h2>{_e(SECTION_TITLES[s])}</h2>\n{body[s]}\n</section>'
        for s in SECTIONS)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"meta\">vp_bayes {_e(__version__)}; intervals "
            f"are equal-tailed; value scores are in human population SD units.</p>"
            f"{'<ul class=meta>' + listed + '</ul>' if listed else ''}<nav>{nav}</nav>"
            f"{sections}</body></html>\n")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index

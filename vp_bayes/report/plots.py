"""Matplotlib figures of the report: portraits, comparisons, contrasts and the predictive check.

Every function takes tidy tables (never a model), returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state, Agg canvas attached), and gives the figure a title
that states the interval mass, axis labels and a constrained layout.
:func:`overlapping_labels` lists text boxes that collide (used by the tests and the report).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from vp_bayes import dims

# Columns of a portrait table for each scale (:data:`vp_bayes.dims.SCALES`): (point, lower, upper).
SCALE_COLUMNS: dict[str, tuple[str, str, str]] = {
    dims.LATENT: ("mean", "lower", "upper"),
    dims.CENTERED: ("centered_mean", "centered_lower", "centered_upper"),
}
SCALE_LABELS: dict[str, str] = {
    dims.LATENT: "latent value (human population SD units; 0 = population mean)",
    dims.CENTERED: "centred value (relative to the respondent's own mean value)",
}
SOURCE_COLORS: dict[str, str] = {"human": "#1b7837", "llm": "#2166ac", "bias": "#b2182b"}
_PALETTE = ("#2166ac", "#b2182b", "#1b7837", "#762a83", "#e08214", "#35978f", "#878787",
            "#c51b7d")


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with an Agg canvas and constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """PNG bytes of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def value_label(value: str) -> str:
    """Display form of a canonical trait name: ``self_direction`` -> ``self-direction``."""
    return str(value).replace("_", "-")


def mass_phrase(mass: float) -> str:
    """``0.9`` -> ``"90% intervals"``."""
    return f"{100 * mass:g}% intervals"


def ordered_values(values: Sequence[str]) -> list[str]:
    """Values in Schwartz circular order when they belong to a known trait set.

    Values of ``dims.VALUES_10`` (or another set in ``dims.TRAIT_SETS``) come in that set's
    order; unknown names follow in their order of first appearance.
    """
    present = list(dict.fromkeys(str(v) for v in values))
    for traits in (dims.VALUES_10, *dims.TRAIT_SETS.values()):
        if set(present) <= set(traits):
            return [t for t in traits if t in present]
    known = [t for t in dims.VALUES_10 if t in present]
    return known + [v for v in present if v not in known]


def table_mass(table: pd.DataFrame, default: float = dims.INTERVAL_MASS) -> float:
    """The interval mass recorded in a table's ``mass`` column (else ``default``)."""
    if "mass" in table.columns and table["mass"].notna().any():
        return float(table["mass"].dropna().iloc[0])
    return default


def _respondent_rows(portraits: pd.DataFrame, respondent: str) -> pd.DataFrame:
    rows = portraits[portraits["respondent"].astype(str) == str(respondent)]
    if rows.empty:
        raise KeyError(f"respondent {respondent!r} is not in the portrait table")
    return rows.drop_duplicates("value").set_index("value")


def portrait_forest(portraits: pd.DataFrame, respondent: str, *, scale: str = dims.LATENT,
                    mass: float | None = None) -> Figure:
    """Forest plot of one respondent's ten values in Schwartz circular order.

    Parameters
    ----------
    portraits
        Tidy portrait table (``respondent, value, mean, lower, upper, centered_*``, ``mass``).
    respondent
        Which respondent to draw.
    scale
        ``"latent"`` (mean/lower/upper) or ``"centered"`` (centered_mean/...).
    mass
        Interval mass for the title; default from the table's ``mass`` column.
    """
    point, lo, hi = SCALE_COLUMNS[scale]
    rows = _respondent_rows(portraits, respondent)
    order = ordered_values(rows.index)
    rows = rows.loc[order]
    mass = table_mass(portraits) if mass is None else mass
    fig = new_figure(7.5, 0.38 * len(order) + 1.9)
    ax = fig.add_subplot()
    y = np.arange(len(order))[::-1]
    ax.axvline(0.0, color="0.6", lw=1, ls="--", zorder=0)
    ax.errorbar(rows[point], y, xerr=[rows[point] - rows[lo], rows[hi] - rows[point]],
                fmt="o", color=_PALETTE[0], ecolor=_PALETTE[0], elinewidth=2, capsize=3)
    ax.set_yticks(y, [value_label(v) for v in order])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel(SCALE_LABELS[scale])
    ax.set_ylabel("Schwartz value (circular order)")
    ax.set_title(f"Value portrait of {respondent}\npoint = posterior mean, bar = "
                 f"{mass_phrase(mass)[:-1]}", fontsize=11)
    ax.grid(axis="x", color="0.92")
    return fig


def portrait_polar(portraits: pd.DataFrame, respondent: str, *, scale: str = dims.LATENT,
                   mass: float | None = None) -> Figure:
    """Circular plot of one respondent: values around the Schwartz circle, interval band.

    The dashed circle is 0 (the human population mean on the latent scale, the respondent's
    own mean on the centred scale); the shaded band spans the intervals.
    """
    point, lo, hi = SCALE_COLUMNS[scale]
    rows = _respondent_rows(portraits, respondent)
    order = ordered_values(rows.index)
    rows = rows.loc[order]
    mass = table_mass(portraits) if mass is None else mass
    n = len(order)
    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    closed = np.append(angles, angles[0])

    def loop(col: str) -> np.ndarray:
        v = rows[col].to_numpy(dtype=float)
        return np.append(v, v[0])

    many = n > 12  # e.g. the 19 refined values: wrapped, smaller labels on a larger circle
    fig = new_figure(8.0, 8.2) if many else new_figure(6.4, 6.6)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.fill_between(closed, loop(lo), loop(hi), color=_PALETTE[0], alpha=0.22, lw=0,
                    label=mass_phrase(mass)[:-1])
    ax.plot(closed, loop(point), "o-", color=_PALETTE[0], lw=2, ms=4, label="posterior mean")
    zero = "0 = population mean" if scale == dims.LATENT else "0 = own mean"
    ax.plot(np.linspace(0, 2 * np.pi, 200), np.zeros(200), ls="--", color="0.4", lw=1,
            label=zero)
    low = float(np.nanmin(rows[lo]))
    high = float(np.nanmax(rows[hi]))
    pad = 0.15 * max(high - low, 1e-6)
    ax.set_ylim(min(low, 0.0) - pad, max(high, 0.0) + pad)
    names = [value_label(v) for v in order]
    if many:
        names = ["-\n".join(n.rsplit("-", 1)) for n in names]
    ax.set_xticks(angles, names)
    ax.tick_params(axis="x", pad=14, labelsize=8 if many else 10)
    ax.set_rlabel_position(180.0 / n)  # radial ticks between the first two values
    ax.tick_params(axis="y", labelsize=7, labelcolor="0.35")
    ax.set_xlabel("Schwartz values in circular order (clockwise from top)")
    radial = SCALE_LABELS[scale].split(" (")[0]
    if many:  # at the figure edge, clear of the wrapped angular labels
        fig.supylabel(f"radius: {radial}", fontsize=10)
    else:
        ax.set_ylabel(radial, labelpad=28)
    ax.set_title(f"Circular value portrait of {respondent}\nline = posterior mean, band = "
                 f"{mass_phrase(mass)[:-1]}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.08), fontsize=8, frameon=False)
    return fig


def compare_forest(portraits: pd.DataFrame, respondents: Sequence[str] | None = None, *,
                   scale: str = dims.LATENT, mass: float | None = None,
                   max_respondents: int = 8) -> Figure:
    """Several respondents side by side: one forest over the values, respondents dodged.

    Parameters
    ----------
    respondents
        Which respondents (default: the first ``max_respondents`` in table order).
    """
    point, lo, hi = SCALE_COLUMNS[scale]
    if respondents is None:
        respondents = list(dict.fromkeys(portraits["respondent"].astype(str)))[:max_respondents]
    respondents = [str(r) for r in respondents]
    order = ordered_values(portraits["value"])
    mass = table_mass(portraits) if mass is None else mass
    k = len(respondents)
    step = 0.8 / max(k, 1)
    fig = new_figure(8.5, 0.17 * len(order) * max(k, 3) + 2.2)
    ax = fig.add_subplot()
    base = np.arange(len(order))[::-1].astype(float)
    ax.axvline(0.0, color="0.6", lw=1, ls="--", zorder=0)
    for r, name in enumerate(respondents):
        rows = _respondent_rows(portraits, name).reindex(order)
        y = base + 0.4 - step / 2 - r * step
        color = _PALETTE[r % len(_PALETTE)]
        ax.errorbar(rows[point], y, xerr=[rows[point] - rows[lo], rows[hi] - rows[point]],
                    fmt="o", ms=4, color=color, ecolor=color, elinewidth=1.6, capsize=2,
                    label=name)
    ax.set_yticks(base, [value_label(v) for v in order])
    ax.set_ylim(-0.6, len(order) - 0.4)
    for b in base[:-1]:
        ax.axhline(b - 0.5, color="0.92", lw=0.8, zorder=0)
    ax.set_xlabel(SCALE_LABELS[scale])
    ax.set_ylabel("Schwartz value (circular order)")
    ax.set_title(f"Respondents compared\npoint = posterior mean, bar = {mass_phrase(mass)[:-1]}",
                 fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title="respondent")
    return fig


def contrast_forest(contrasts: pd.DataFrame, axis: str, *, model: str | None = None,
                    mass: float | None = None) -> Figure:
    """Demographic contrasts of one axis: a panel per group pair, sources dodged.

    A simple stand-in for :func:`vp_bayes.report.contrast_plots.plot_contrasts`.

    Parameters
    ----------
    contrasts
        Tidy table ``axis, group_a, group_b, value, source, mean, lower, upper`` (+ ``model``).
    axis
        The demographic axis to draw.
    model
        Keep only this model's rows (when the table has a ``model`` column).
    """
    rows = contrasts[contrasts["axis"].astype(str) == str(axis)]
    if model is not None and "model" in rows.columns:
        rows = rows[(rows["model"].astype(str) == str(model)) | rows["model"].isna()]
    if rows.empty:
        raise KeyError(f"no contrasts for axis {axis!r}")
    mass = table_mass(rows) if mass is None else mass
    pairs = list(dict.fromkeys(zip(rows["group_a"].astype(str), rows["group_b"].astype(str),
                                   strict=True)))
    order = ordered_values(rows["value"])
    sources = [s for s in ("human", "llm", "bias") if s in set(rows["source"])]
    sources += [s for s in dict.fromkeys(rows["source"]) if s not in sources]
    n = len(pairs)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig = new_figure(max(3.6 * ncol + 1.6, 6.0), (0.3 * len(order) + 1.3) * nrow + 1.6)
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    step = 0.8 / max(len(sources), 1)
    base = np.arange(len(order))[::-1].astype(float)
    for p, (ga, gb) in enumerate(pairs):
        ax = axes[p // ncol][p % ncol]
        sub = rows[(rows["group_a"].astype(str) == ga) & (rows["group_b"].astype(str) == gb)]
        ax.axvline(0.0, color="0.6", lw=1, ls="--", zorder=0)
        for s, source in enumerate(sources):
            part = sub[sub["source"] == source].drop_duplicates("value").set_index("value")
            part = part.reindex(order)
            y = base + 0.4 - step / 2 - s * step
            color = SOURCE_COLORS.get(source, _PALETTE[s % len(_PALETTE)])
            ax.errorbar(part["mean"], y, xerr=[part["mean"] - part["lower"],
                                               part["upper"] - part["mean"]],
                        fmt="o", ms=3.5, color=color, ecolor=color, elinewidth=1.4,
                        label=source if p == 0 else None)
        ax.set_title(f"{ga} minus {gb}", fontsize=9)
        ax.set_xlabel("difference (latent SD units)", fontsize=8)
        ax.tick_params(labelsize=8)
        if p % ncol == 0:
            ax.set_ylabel("Schwartz value")
        ax.set_yticks(base, [value_label(v) for v in order])
    for extra in range(n, nrow * ncol):
        axes[extra // ncol][extra % ncol].set_visible(False)
    who = f" ({model})" if model is not None else ""
    fig.suptitle(f"Contrasts by {axis}{who}\npoint = posterior mean, bar = "
                 f"{mass_phrase(mass)[:-1]}", fontsize=11)
    fig.legend(loc="outside lower center", ncols=len(sources), fontsize=8, frameon=False,
               title="source: human = survey groups, llm = personas, bias = llm - human",
               title_fontsize=8)
    return fig


def ppc_figure(ppc: pd.DataFrame, *, mass: float | None = None, n_worst: int = 3) -> Figure:
    """Posterior predictive check of rating distributions: all items, then the worst items.

    Parameters
    ----------
    ppc
        Tidy table ``item, category, observed, predicted_mean, predicted_lower,
        predicted_upper`` (proportions per item and rating category).
    n_worst
        How many items with the largest absolute error to show next to the overall panel.
    """
    mass = table_mass(ppc) if mass is None else mass
    item_col = dims.ITEM if dims.ITEM in ppc.columns else "item_id"
    cats = list(dict.fromkeys(ppc[dims.CATEGORY].astype(str)))
    overall = ppc.groupby(dims.CATEGORY, sort=False)[
        ["observed", "predicted_mean", "predicted_lower", "predicted_upper"]].mean()
    err = (ppc["observed"] - ppc["predicted_mean"]).abs().groupby(ppc[item_col]).max()
    worst = list(err.sort_values(ascending=False).index[:n_worst])
    panels = [("all items (averaged over items)", overall.reindex(cats))]
    for item in worst:
        sub = ppc[ppc[item_col] == item].set_index(ppc[dims.CATEGORY].astype(str)
                                                   [ppc[item_col] == item])
        panels.append((f"poorest fit: {item}", sub.reindex(cats)))
    fig = new_figure(3.2 * len(panels) + 0.8, 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    x = np.arange(len(cats))
    for p, (ax, (name, tab)) in enumerate(zip(axes, panels, strict=True)):
        ax.bar(x, tab["observed"], color="0.78", label="observed")
        ax.errorbar(x, tab["predicted_mean"],
                    yerr=[tab["predicted_mean"] - tab["predicted_lower"],
                          tab["predicted_upper"] - tab["predicted_mean"]],
                    fmt="o", color=_PALETTE[1], ms=4, capsize=3,
                    label=f"replicated ({mass_phrase(mass)[:-1]})")
        ax.set_xticks(x, cats)
        ax.set_xlabel("rating")
        ax.set_title(name, fontsize=9)
        if p == 0:
            ax.set_ylabel("proportion of ratings")
    fig.suptitle(f"Posterior predictive check of item rating distributions "
                 f"({mass_phrase(mass)})", fontsize=11)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2,
               fontsize=8, frameon=False)
    return fig


def figure_texts(fig: Figure) -> list[Text]:
    """Every drawn, non-empty text of a figure: tick labels in view, axis labels, titles, legends.

    Call after drawing. Tick labels are taken from the axes' current tick locations that lie
    inside the view limits (matplotlib keeps stale, undrawn tick objects beyond them).
    """
    ticks: set[int] = set()
    out: list[Text] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
            if not ax.get_visible():
                continue
            lo, hi = sorted(axis.get_view_interval())
            for locs, tick_list in ((axis.get_majorticklocs(), axis.get_major_ticks),
                                    (axis.get_minorticklocs(), axis.get_minor_ticks)):
                for loc, tick in zip(locs, tick_list(len(locs)), strict=True):
                    if not (tick.get_visible() and lo - 1e-9 <= loc <= hi + 1e-9):
                        continue
                    out += [lab for lab in (tick.label1, tick.label2)
                            if lab.get_visible() and lab.get_text().strip()]
    for t in fig.findobj(Text):
        if id(t) in ticks or not (t.get_visible() and t.get_text().strip()):
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append(t)
    return out


def overlapping_labels(fig: Figure, *, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose rendered boxes overlap by more than ``tolerance`` pixels.

    The figure is drawn first so that the boxes are final (constrained layout applied).
    Texts reaching outside the figure are reported as ``("<edge>", text)``.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = figure_texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    out = []
    for (ta, ba), (tb, bb) in combinations(zip(texts, boxes, strict=True), 2):
        w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if w > tolerance and h > tolerance:
            out.append((ta.get_text(), tb.get_text()))
    fw, fh = fig.bbox.width, fig.bbox.height
    for t, b in zip(texts, boxes, strict=True):
        if b.x0 < -tolerance or b.y0 < -tolerance or b.x1 > fw + tolerance or \
                b.y1 > fh + tolerance:
            out.append(("<edge>", t.get_text()))
    return out

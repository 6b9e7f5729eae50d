"""Forest plot of demographic contrasts: human vs LLM persona vs their bias, per value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SOURCES = (("human", "tab:blue", "o"), ("llm", "tab:orange", "s"), ("bias", "tab:red", "D"))
_NOT_PAIRS = ("population", "unprompted")
CREDIBLE = "interval excludes 0"  # legend of the marked (credible) biases


def _panels(pairs: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(axis, group_a, group_b, model) per panel; model "" when there are no LLM rows."""
    keys = pairs[["axis", "group_a", "group_b"]].drop_duplicates().itertuples(index=False)
    models = sorted(set(pairs.loc[pairs["source"] != "human", "model"])) or [""]
    return [(a, ga, gb, m) for a, ga, gb in keys for m in models
            if m == "" or ((pairs["model"] == m) & (pairs["axis"] == a)
                           & (pairs["group_a"] == ga) & (pairs["group_b"] == gb)).any()]


def plot_contrasts(table: pd.DataFrame, path: str | Path | None = None, *,
                   max_panels: int = 12, unit: str = "population SD units"):
    """Forest-style intervals per value for human, LLM and bias pair contrasts.

    Parameters
    ----------
    table
        A contrast table (``vp_bayes.contrasts.COLUMNS``); group-mean and shift rows are
        ignored, only pair contrasts are drawn.
    path
        Where to save the figure (PNG/PDF/SVG by suffix); ``None`` only returns it.
    max_panels
        At most this many (axis, pair, model) panels.
    unit
        Label of the x axis' unit.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = table[~table["group_b"].isin(_NOT_PAIRS)]
    panels = _panels(pairs)[:max_panels]
    if not panels:
        raise ValueError("no pair contrasts to plot")
    values = list(dict.fromkeys(pairs["value"]))
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    size = (max(6.0, 4.2 * ncol), 0.42 * len(values) * nrow + 1.6)
    # one x axis for every panel: a difference reads the same in each (shared scale)
    fig, axes = plt.subplots(nrow, ncol, figsize=size, sharey=True, sharex=True,
                             squeeze=False)
    for ax, (axis, ga, gb, model) in zip(axes.flat, panels, strict=False):
        sel = pairs[(pairs["axis"] == axis) & (pairs["group_a"] == ga) & (pairs["group_b"] == gb)]
        for k, (source, colour, marker) in enumerate(SOURCES):
            rows = sel[sel["source"] == source]
            if source != "human":
                rows = rows[rows["model"] == model]
            rows = rows.set_index("value").reindex(values).dropna(subset=["mean"])
            if rows.empty:
                continue
            y = np.array([values.index(v) for v in rows.index]) + (k - 1) * 0.25
            credible = ((rows["lower"] > 0) | (rows["upper"] < 0)).to_numpy()
            if source == "bias":  # credible biases marked: filled, thicker
                parts = [(~credible, source, False), (credible, f"bias, {CREDIBLE}", True)]
            else:
                parts = [(np.ones(len(rows), dtype=bool), source, True)]
            for mask, label, filled in parts:
                if not mask.any():
                    continue
                part = rows[mask]
                strong = source == "bias" and filled
                ax.errorbar(part["mean"], y[mask], xerr=[part["mean"] - part["lower"],
                                                         part["upper"] - part["mean"]],
                            fmt=marker, color=colour, ms=6 if strong else 4, capsize=2,
                            elinewidth=2.5 if strong else 1.2,
                            mfc=colour if filled else "white", label=label)
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{axis}: {ga} - {gb}" + (f"\n{model}" if model else ""), fontsize=9)
        ax.set_xlabel(f"difference ({unit})")
        ax.set_yticks(range(len(values)), values)
    axes.flat[0].invert_yaxis()  # shared y: first value on top in every panel
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("value")
    mass = float(table["mass"].iloc[0])
    fig.suptitle(f"Group contrasts: human, LLM persona, bias (LLM - human)\n"
                 f"{100 * mass:g}% equal-tailed intervals; filled bias: {CREDIBLE}",
                 fontsize=11)
    legend: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.93))
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

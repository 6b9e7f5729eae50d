"""Inline SVG figures of the report page (no plotting library, no JavaScript needed to draw).

The page's comparison figures are drawn here as SVG text: sharp at any zoom, a few kB each,
searchable, with a ``<title>`` tooltip on every mark and ``data-r`` (the respondent) on every
respondent's group so the page's script can highlight one respondent everywhere. Layout is
computed from the labels' lengths (:func:`text_width`); the tests measure the rendered boxes
in headless Chromium.

- :func:`forest`: labelled intervals on one axis (rankings, priorities, spreads, portraits);
- :func:`population_panel`: the human participants' distribution of one value with every
  respondent's interval stacked on top;
- :func:`radar`: one respondent's values around the Schwartz circle.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FONT = 12  # px, tick and row labels
CHAR = 0.62  # average glyph width of the page's sans-serif font, in em (generous)
COLORS = {"point": "#2166ac", "human": "#bdbdbd", "high": "#1b7837", "low": "#b2182b",
          "misfit": "#e08214", "zero": "#888888"}


def esc(text: object) -> str:
    """Text escaped for SVG/HTML content and attributes."""
    return html.escape(str(text), quote=True)


def text_width(text: str, size: float = FONT) -> float:
    """Width (px) the text takes at most at ``size`` px (a generous estimate)."""
    return len(str(text)) * size * CHAR


def nice_ticks(lo: float, hi: float, target: int = 7) -> list[float]:
    """Round tick positions covering ``[lo, hi]`` (about ``target`` of them)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def domain(*arrays: Sequence[float] | np.ndarray, pad: float = 0.05,
           include: Sequence[float] = ()) -> tuple[float, float]:
    """A padded ``(lo, hi)`` covering every finite number given (and ``include``)."""
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]
                          + [np.asarray(include, dtype=float)])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (-1.0, 1.0)
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo or 1.0
    return lo - pad * span, hi + pad * span


def fmt(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


@dataclass
class Row:
    """One labelled interval of a :func:`forest` (or a respondent of a population panel)."""

    label: str
    mean: float
    lower: float
    upper: float
    tip: str = ""  # tooltip text
    right: str = ""  # text right of the plot
    key: str | None = None  # data-r: the respondent, for highlighting
    css: str = ""  # extra class of the row (colour)


class _Axis:
    def __init__(self, lo: float, hi: float, x0: float, x1: float):
        self.lo, self.hi, self.x0, self.x1 = lo, hi, x0, x1

    def __call__(self, v: float) -> float:
        v = min(max(float(v), self.lo), self.hi)
        return self.x0 + (v - self.lo) / (self.hi - self.lo) * (self.x1 - self.x0)


def _x_axis(ax: _Axis, y: float, label: str, *, grid_top: float | None = None) -> list[str]:
    out = [f'<line class="axis" x1="{ax.x0:.1f}" x2="{ax.x1:.1f}" y1="{y:.1f}" '
           f'y2="{y:.1f}"/>']
    ticks = nice_ticks(ax.lo, ax.hi)
    # thin the ticks until their labels cannot touch
    while len(ticks) > 2:
        widths = [text_width(fmt_tick(t), FONT - 1) for t in ticks]
        gaps = [ax(b) - ax(a) - (wa + wb) / 2 for a, b, wa, wb
                in zip(ticks, ticks[1:], widths, widths[1:], strict=False)]
        if min(gaps) > 6:
            break
        ticks = ticks[::2]
    for t in ticks:
        x = ax(t)
        if grid_top is not None:
            out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{grid_top:.1f}" '
                       f'y2="{y:.1f}"/>')
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{y:.1f}" '
                   f'y2="{y + 4:.1f}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{y + 16:.1f}" '
                   f'text-anchor="middle">{esc(fmt_tick(t))}</text>')
    if label:
        out.append(f'<text class="xlabel" x="{(ax.x0 + ax.x1) / 2:.1f}" y="{y + 32:.1f}" '
                   f'text-anchor="middle">{esc(label)}</text>')
    return out


def fmt_tick(t: float) -> str:
    return f"{t:g}" if abs(t) >= 1e-9 else "0"


def forest(rows: Sequence[Row], *, lim: tuple[float, float], title: str, xlabel: str,
           width: int = 760, row_height: int = 18, reference: float | None = 0.0,
           css: str = "forest", right_title: str = "") -> str:
    """Labelled intervals, one row each, on the x range ``lim``; a dashed line at ``reference``.

    Rows keep their order (top first); ``Row.right`` texts form a column right of the plot.
    """
    label_w = max([text_width(r.label) for r in rows] + [40.0]) + 14
    right_w = max([text_width(r.right) for r in rows] + [text_width(right_title)]
                  + [0.0]) + (16 if any(r.right for r in rows) else 8)
    x0, x1 = label_w, max(width - right_w, label_w + 160)
    width = int(max(x1 + right_w, text_width(title, 13) + 8))
    top = 44 if right_title else 30
    height = int(top + row_height * len(rows) + 46)
    ax = _Axis(*lim, x0, x1)
    y_axis = top + row_height * len(rows) + 4
    out = [f'<svg class="{esc(css)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<text class="title" x="4" y="16">{esc(title)}</text>']
    if right_title:
        out.append(f'<text class="rtitle" x="{x1 + 12:.1f}" y="{top - 6}">'
                   f'{esc(right_title)}</text>')
    out += _x_axis(ax, y_axis, xlabel, grid_top=top)
    if reference is not None and lim[0] < reference < lim[1]:
        out.append(f'<line class="ref" x1="{ax(reference):.1f}" x2="{ax(reference):.1f}" '
                   f'y1="{top:.1f}" y2="{y_axis:.1f}"/>')
    for i, r in enumerate(rows):
        y = top + row_height * (i + 0.5)
        key = f' data-r="{esc(r.key)}"' if r.key is not None else ""
        out.append(f'<g class="row {esc(r.css)}"{key}><title>{esc(r.tip or r.label)}</title>'
                   f'<rect class="hit" x="0" y="{y - row_height / 2:.1f}" width="{width}" '
                   f'height="{row_height}"/>'
                   f'<text class="label" x="{x0 - 8:.1f}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{esc(r.label)}</text>')
        if np.isfinite(r.lower) and np.isfinite(r.upper):
            out.append(f'<line class="ci" x1="{ax(r.lower):.1f}" x2="{ax(r.upper):.1f}" '
                       f'y1="{y:.1f}" y2="{y:.1f}"/>')
        if np.isfinite(r.mean):
            out.append(f'<circle class="pt" cx="{ax(r.mean):.1f}" cy="{y:.1f}" r="3.5"/>')
        if r.right:
            out.append(f'<text class="right" x="{x1 + 12:.1f}" y="{y + 4:.1f}">'
                       f'{esc(r.right)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def population_panel(title: str, human: np.ndarray, rows: Sequence[Row], *,
                     lim: tuple[float, float], xlabel: str, width: int = 540,
                     bins: int = 40) -> str:
    """The participants' distribution of one value (grey histogram, with its 5%, 50% and 95%
    quantiles) and each respondent's interval stacked on top, sorted as given.

    Rows are not labelled (a tooltip names each one); the page's script highlights one
    respondent and writes its name into the panel's ``hlab`` text.
    """
    human = np.asarray(human, dtype=float)
    human = human[np.isfinite(human)]
    left, right = 14, 14
    x0, x1 = left, width - right
    ax = _Axis(*lim, x0, x1)
    top, dens_h = 40, 56
    row_h = 6 if len(rows) <= 40 else max(2, int(240 / max(len(rows), 1)))
    base = top + dens_h
    y_axis = base + row_h * len(rows) + 8
    height = int(y_axis + 40)
    out = [f'<svg class="population" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<text class="title" x="{x0}" y="15">{esc(title)}</text>',
           f'<text class="hlab" x="{x0}" y="31"></text>']
    if human.size:
        edges = np.linspace(lim[0], lim[1], bins + 1)
        counts, _ = np.histogram(np.clip(human, lim[0], lim[1]), edges)
        peak = counts.max() or 1
        pts = [f"{ax(edges[0]):.1f},{base:.1f}"]
        for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
            h = dens_h * c / peak
            pts += [f"{ax(a):.1f},{base - h:.1f}", f"{ax(b):.1f},{base - h:.1f}"]
        pts.append(f"{ax(edges[-1]):.1f},{base:.1f}")
        q = np.quantile(human, [0.05, 0.5, 0.95])
        out.append(f'<polygon class="human" points="{" ".join(pts)}"><title>'
                   f'{human.size} participants: 5% {fmt(q[0])}, median {fmt(q[1])}, '
                   f'95% {fmt(q[2])}</title></polygon>')
        for v in q:
            out.append(f'<line class="hq" x1="{ax(v):.1f}" x2="{ax(v):.1f}" '
                       f'y1="{base - dens_h:.1f}" y2="{y_axis:.1f}"/>')
    for i, r in enumerate(rows):
        y = base + row_h * (i + 0.5) + 4
        key = f' data-r="{esc(r.key)}"' if r.key is not None else ""
        out.append(f'<g class="prow {esc(r.css)}"{key} data-tip="{esc(r.tip)}">'
                   f'<title>{esc(r.tip or r.label)}</title>'
                   f'<line class="ci" x1="{ax(r.lower):.1f}" x2="{ax(r.upper):.1f}" '
                   f'y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<circle class="pt" cx="{ax(r.mean):.1f}" cy="{y:.1f}" '
                   f'r="{min(2.5, row_h / 2):.1f}"/></g>')
    out += _x_axis(ax, y_axis, xlabel)
    out.append("</svg>")
    return "".join(out)


def radar(labels: Sequence[str], mean: Sequence[float], lower: Sequence[float],
          upper: Sequence[float], *, lim: tuple[float, float], title: str,
          size: int = 330) -> str:
    """Values around a circle: the interval as a band, the means as a polygon; the circle
    ``lim[0]`` is the centre, the dashed circle 0 (the human population mean or the
    respondent's own mean)."""
    n = len(labels)
    pad_x = max(text_width(lab, FONT - 1) for lab in labels) + 10
    cx = size / 2 + pad_x
    cy = size / 2 + 26
    rad = size / 2 - 12
    width, height = int(size + 2 * pad_x), int(size + 46)

    def pt(k: int, v: float) -> tuple[float, float]:
        a = math.pi / 2 - 2 * math.pi * k / n
        r = rad * (min(max(v, lim[0]), lim[1]) - lim[0]) / (lim[1] - lim[0])
        return cx + r * math.cos(a), cy - r * math.sin(a)

    def poly(vals: Sequence[float]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(k, v) for k, v in enumerate(vals)))

    out = [f'<svg class="radar" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<text class="title" x="4" y="14">{esc(title)}</text>',
           f'<circle class="grid" cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" fill="none"/>']
    if lim[0] < 0 < lim[1]:
        r0 = rad * (0 - lim[0]) / (lim[1] - lim[0])
        out.append(f'<circle class="ref" cx="{cx:.1f}" cy="{cy:.1f}" r="{r0:.1f}" '
                   f'fill="none"/>')
    for k, lab in enumerate(labels):
        x, y = pt(k, lim[1])
        out.append(f'<line class="grid" x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" '
                   f'y2="{y:.1f}"/>')
        a = math.pi / 2 - 2 * math.pi * k / n
        c, s = math.cos(a), math.sin(a)
        anchor = "middle" if abs(c) < 0.2 else ("start" if c > 0 else "end")
        lx, ly = cx + (rad + 6) * c, cy - (rad + 6) * s + (4 if abs(s) < 0.8 else
                                                            (-2 if s > 0 else 11))
        out.append(f'<text class="tick" x="{lx:.1f}" y="{ly:.1f}" '
                   f'text-anchor="{anchor}">{esc(lab)}</text>')
    out.append(f'<polygon class="band" points="{poly(upper)}"/>'
               f'<polygon class="inner" points="{poly(lower)}"/>'
               f'<polygon class="mean" points="{poly(mean)}"/>')
    for k, lab in enumerate(labels):
        x, y = pt(k, mean[k])
        out.append(f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>'
                   f'{esc(lab)}: {fmt(mean[k], True)} [{fmt(lower[k], True)}, '
                   f'{fmt(upper[k], True)}]</title></circle>')
    out.append("</svg>")
    return "".join(out)

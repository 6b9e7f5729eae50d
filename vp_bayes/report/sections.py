"""The comparison sections of the report page: summary, leaderboard, ranking, pairs, the human
population, the paper's findings retested, and the per-respondent portraits.

Each function returns an HTML fragment; figures are inline SVG (:mod:`vp_bayes.report.svg`),
tables are plain HTML that the page's script (:mod:`vp_bayes.report.assets`) sorts and
filters. Numbers come from :mod:`vp_bayes.contrasts.models` (leaderboard, ranks, P(a > b))
and :mod:`vp_bayes.report.findings`; nothing is computed twice.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.report import svg
from vp_bayes.report.findings import PAPER_HIGH, PAPER_LOW, HumanReference
from vp_bayes.report.plots import SCALE_COLUMNS, SCALE_LABELS, ordered_values, value_label

MAX_PAIRWISE = 60  # respondents in the P(a > b) matrix (the first ones compared)
HEAT_STEP = 0.25  # SD units per colour class of the leaderboard
HEAT_CLASSES = 8  # classes on each side of zero
_HEAT = ("#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#d1e5f0",
         "#92c5de", "#4393c3", "#2166ac", "#053061")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def pct(mass: float) -> str:
    return f"{100 * mass:g}%"


@dataclass
class Context:
    """What the comparison sections share: the portrait table and everything computed once.

    Attributes
    ----------
    table
        The checked portrait table (every respondent).
    scale
        The page's scale (:data:`vp_bayes.dims.SCALES`).
    mass
        Interval mass of the table.
    compared
        Respondents ranked and compared (the models, or those chosen).
    comparison
        :class:`~vp_bayes.contrasts.models.ModelComparison` of ``compared`` (needs draws).
    reference
        The fitted participants' values (needs the item model).
    priorities, paper, spread, groups
        :mod:`vp_bayes.report.findings` tables (``None`` when their inputs are missing).
    misfit
        Respondents the item model does not fit, with the checks that failed.
    """

    table: pd.DataFrame
    scale: str
    mass: float
    compared: list[str] = field(default_factory=list)
    comparison: Any = None
    reference: HumanReference | None = None
    priorities: pd.DataFrame | None = None
    paper: dict[str, float] | None = None
    spread: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    misfit: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[str]:
        return ordered_values(self.table["value"])

    @property
    def respondents(self) -> list[str]:
        return list(dict.fromkeys(self.table["respondent"].astype(str)))

    def label(self, name: str) -> str:
        """A respondent's name, marked when the item model does not fit it."""
        return f"{name} \u26a0" if name in self.misfit else name

    def cols(self) -> tuple[str, str, str]:
        return SCALE_COLUMNS[self.scale]


def misfits(table: pd.DataFrame) -> dict[str, list[str]]:
    """Respondent -> the posterior predictive checks below ``MISFIT_P`` (misfitting only)."""
    from vp_bayes.scoring.checks import MISFIT_P, PPP_NAMES

    out: dict[str, list[str]] = {}
    first = table.drop_duplicates("respondent").set_index("respondent")
    have = [c for c in PPP_NAMES if c in first.columns]
    for name, row in first.iterrows():
        failed = [c.removeprefix("ppp_") for c in have
                  if pd.notna(row[c]) and float(row[c]) < MISFIT_P]
        flagged = "misfit" in first.columns and str(row["misfit"]).lower() == "true"
        if failed or flagged:
            out[str(name)] = failed
    return out


# --------------------------------------------------------------------------- summary
def summary_section(ctx: Context, *, problems: list[str] | None, model_facts: dict[str, str],
                    draws_attrs: dict[str, Any] | None) -> str:
    """What was scored, with which model, whether the fit converged and each respondent fits,
    and the findings in one line each; warnings next to what they qualify."""
    from vp_bayes.scoring.checks import MISFIT_P, SENSITIVE_SHIFT

    names = ctx.respondents
    personas = [n for n in names if dims.split_respondent(n)[1]]
    models = list(dict.fromkeys(dims.split_respondent(n)[0] for n in names))
    rows = [("Scored", f"{len(names)} respondent(s): {len(models)} model(s), "
             f"{len(personas)} persona(s); {len(ctx.values)} values; "
             f"{pct(ctx.mass)} equal-tailed intervals; page scale: "
             f"{SCALE_LABELS[ctx.scale]}")]
    if draws_attrs:
        how = ", ".join(f"{k} {draws_attrs[k]}" for k in ("method", "personas", "prior_scale",
                                                          "n_item_draws") if k in draws_attrs)
        rows.append(("Scoring", how or "portrait draws given"))
    else:
        rows.append(("Scoring", "portrait table only (no draws): ranks, P(a > b) and the "
                     "findings need the portraits' .nc file"))
    for k, v in model_facts.items():
        rows.append((k, v))
    parts = ["<table class=facts>" + "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"]
    # convergence
    if problems is None:
        parts.append('<p class="alert">No item model given: convergence of the item '
                     "parameters the portraits rest on is not checked here.</p>")
    elif problems:
        items = "".join(f"<li>{_e(p)}</li>" for p in problems)
        parts.append(f'<div class="alert"><b>The item model did not pass the convergence '
                     f"checks</b> ({len(problems)} problem(s)); every portrait below rests on "
                     f"its item parameters. <a href=\"#diagnostics\">Details</a>"
                     f"<ul>{items}</ul></div>")
    else:
        parts.append('<p class="good">The item model passed every convergence check '
                     '(<a href="#diagnostics">details</a>).</p>')
    # person fit
    if ctx.misfit:
        counts = pd.Series([c for v in ctx.misfit.values() for c in v]).value_counts()
        which = "; ".join(f"{k}: {n}" for k, n in counts.items())
        parts.append(f'<div class="alert"><b>The item model does not fit '
                     f"{len(ctx.misfit)} of {len(names)} respondent(s)</b> (a posterior "
                     f"predictive p-value below {MISFIT_P:g}; failed checks - {_e(which)}). "
                     "Their names carry \u26a0 in every table and figure: their portraits "
                     "describe what the human item model makes of their ratings, not "
                     "necessarily their values.</div>")
    elif any(c.startswith("ppp_") for c in ctx.table.columns):
        parts.append(f'<p class="good">The item model fits every respondent (no posterior '
                     f"predictive p-value below {MISFIT_P:g}).</p>")
    if "prior_sensitivity" in ctx.table.columns:
        sens = pd.to_numeric(ctx.table["prior_sensitivity"], errors="coerce") > SENSITIVE_SHIFT
        if sens.any():
            parts.append(f'<p class="alert">{int(sens.sum())} portrait value(s) are '
                         f"prior-sensitive (above {SENSITIVE_SHIFT:g}): the prior supplies "
                         "much of their precision.</p>")
    parts += [f'<p class="alert">{_e(n)}</p>' for n in ctx.notes]
    lines = finding_lines(ctx)
    if lines:
        parts.append("<h3>In brief</h3><ul class=brief>"
                     + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")
    return "\n".join(parts)


def finding_lines(ctx: Context) -> list[str]:
    """One sentence (HTML) per computed finding, with intervals."""
    out = []
    p = pct(ctx.mass)
    if ctx.comparison is not None and len(ctx.compared) > 1:
        ranks = ctx.comparison.ranks
        lead = ranks.sort_values("prob_first", ascending=False).drop_duplicates("value")
        lead = lead.set_index("value").reindex(ctx.values)
        sure = lead[lead["prob_first"] >= ctx.mass]
        out.append(f"Ranking {len(ctx.compared)} respondents value by value, the top one is "
                   f"settled (P(rank 1) &ge; {ctx.mass:g}) on {len(sure)} of {len(lead)} values"
                   + (": " + ", ".join(f"{_e(value_label(v))} ({_e(r.respondent)}, "
                                       f"{r.prob_first:.2f})" for v, r in sure.iterrows())
                      if len(sure) else "") + ".")
    if ctx.priorities is not None:
        pr = ctx.priorities
        top, bottom = pr.iloc[0], pr.iloc[-1]
        out.append(f"Across {int(top['n_models'])} LLMs the highest average priority is "
                   f"{_e(value_label(top['value']))} (centred {svg.fmt(top['mean'], True)}, "
                   f"{p} [{svg.fmt(top['lower'], True)}, {svg.fmt(top['upper'], True)}]), "
                   f"the lowest {_e(value_label(bottom['value']))} "
                   f"({svg.fmt(bottom['mean'], True)} [{svg.fmt(bottom['lower'], True)}, "
                   f"{svg.fmt(bottom['upper'], True)}]).")
        if ctx.paper:
            out.append(f"The paper's ordering ({_e(', '.join(map(value_label, PAPER_HIGH)))} "
                       f"above {_e(', '.join(map(value_label, PAPER_LOW)))}) holds in "
                       f"{100 * ctx.paper['all']:.1f}% of posterior draws "
                       '(<a href="#findings">per pair</a>).')
    if ctx.spread is not None:
        sp = ctx.spread
        narrow = sp[sp["ratio_upper"] < 1]
        wide = sp[sp["ratio_lower"] > 1]
        out.append(f"Between-LLM spread against between-human spread: narrower on "
                   f"{len(narrow)}, wider on {len(wide)}, not distinguishable on "
                   f"{len(sp) - len(narrow) - len(wide)} of {len(sp)} values ({p} intervals "
                   "of the SD ratio).")
    return out


# --------------------------------------------------------------------------- leaderboard
def _heat_class(v: float) -> str:
    if not np.isfinite(v):
        return ""
    k = int(np.clip(np.round(v / HEAT_STEP), -HEAT_CLASSES, HEAT_CLASSES))
    return f"h{k + HEAT_CLASSES}"


def heat_css() -> str:
    """CSS of the leaderboard's colour classes (diverging, 0 white)."""
    n = 2 * HEAT_CLASSES + 1
    out = []
    for k in range(n):
        t = (k / (n - 1)) * (len(_HEAT) - 1)
        colour = _HEAT[int(round(t))]
        dark = abs(k - HEAT_CLASSES) >= HEAT_CLASSES - 2
        out.append(f".h{k}{{background:{colour}{';color:#fff' if dark else ''}}}")
    return "".join(out)


def leaderboard_section(ctx: Context) -> str:
    """All respondents x values: posterior mean (colour) with its interval; sortable."""
    point, lo, hi = ctx.cols()
    values = ctx.values
    t = ctx.table.set_index(["respondent", "value"])
    rank = {}
    if ctx.comparison is not None:
        rank = {(r.respondent, r.value): r for r in ctx.comparison.ranks.itertuples()}
    n_ranked = len(ctx.compared)
    has_personas = any(dims.split_respondent(n)[1] for n in ctx.respondents)
    head = ("<tr><th>respondent</th>"
            + "".join(f"<th>{_e(value_label(v))}</th>" for v in values) + "</tr>")
    body = []
    for name in ctx.respondents:
        persona = dims.split_respondent(name)[1]
        cls = ' class="persona"' if persona else ""
        cells = []
        fit = ctx.misfit.get(name)
        tip = f"item model misfit ({', '.join(fit)})" if fit is not None else ""
        cells.append(f'<td class="name" title="{_e(tip)}">{_e(ctx.label(name))}</td>')
        for v in values:
            if (name, v) not in t.index:
                cells.append('<td data-s="-999"></td>')
                continue
            r = t.loc[(name, v)]
            m, a, b = float(r[point]), float(r[lo]), float(r[hi])
            extra = ""  # the tooltip is composed by the page's script on hover (smaller page)
            if "percentile" in r and pd.notna(r["percentile"]):
                extra += f' data-p="{r["percentile"]:.0f}"'
            if (name, v) in rank:
                k = rank[(name, v)]
                extra += (f' data-k="{k.mean_rank:.1f} [{k.rank_lower:g}, {k.rank_upper:g}] '
                          f'of {n_ranked}, P(first) {k.prob_first:.2f}"')
            cells.append(f'<td class="{_heat_class(m)}" data-s="{m:.3f}"{extra}>{m:+.2f}'
                         f"<small>{a:+.1f}, {b:+.1f}</small></td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    toggle = ('<label><input type=checkbox class="show-personas"> show personas</label>'
              if has_personas else "")
    legend = (f"Cell: posterior mean, below it the {pct(ctx.mass)} interval; colour steps of "
              f"{HEAT_STEP:g} (blue high, red low; {_e(SCALE_LABELS[ctx.scale])}). Hover a "
              "cell for its percentile among the fitted participants and its posterior rank; "
              "click a column to sort.")
    legend += f" Intervals are {pct(ctx.mass)}."
    return (f'<p>{legend}</p><div class="controls"><input type=search class="filter" '
            f'data-target="leaderboard-table" placeholder="filter respondents" '
            f'aria-label="filter respondents"> {toggle}</div>'
            f'<div class="scroll"><table id="leaderboard-table" class="sortable heat'
            f'{" hide-personas" if has_personas else ""}"><thead>{head}</thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


# --------------------------------------------------------------------------- ranking
def _value_picker(id_: str, group: str, values: Sequence[str], label: str) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(value_label(v))}</option>' for v in values)
    return (f'<label>{_e(label)} <select id="{id_}" class="pick" data-group="{group}">'
            f"{opts}</select></label>")


def ranking_section(ctx: Context) -> str:
    """Per value: the compared respondents' intervals on one shared axis, sorted, with their
    posterior rank intervals and P(rank 1)."""
    if ctx.comparison is None:
        return ('<p class="missing">Posterior ranks need the portrait draws (give the '
                "portraits' .nc file).</p>")
    lb, ranks = ctx.comparison.leaderboard, ctx.comparison.ranks
    lim = svg.domain(lb["lower"], lb["upper"], include=[0.0])
    n = len(ctx.compared)
    figs = []
    for i, v in enumerate(ctx.values):
        rows_v = lb[lb["value"] == v]
        rk = ranks[ranks["value"] == v].set_index("respondent")
        rows = []
        for r in rows_v.itertuples():
            k = rk.loc[r.respondent]
            right = (f"rank {k.mean_rank:4.1f} [{k.rank_lower:g}-{k.rank_upper:g}]  "
                     f"P(1st) {k.prob_first:.2f}")
            rows.append(svg.Row(
                ctx.label(r.respondent), r.mean, r.lower, r.upper,
                tip=f"{r.respondent}: {svg.fmt(r.mean, True)} [{svg.fmt(r.lower, True)}, "
                    f"{svg.fmt(r.upper, True)}]; {right}",
                right=right, key=r.respondent,
                css="misfit" if r.respondent in ctx.misfit else ""))
        fig = svg.forest(rows, lim=lim, title=f"{value_label(v)}: {n} respondents, highest "
                         f"posterior mean first ({pct(ctx.mass)} intervals)",
                         xlabel=SCALE_LABELS[ctx.scale], right_title="posterior rank [interval]",
                         width=1100)
        figs.append(f'<div class="pane" data-v="{_e(v)}"{"" if i == 0 else " hidden"}>'
                    f"{fig}</div>")
    picker = _value_picker("rank-value", "#ranking .pane", ctx.values, "value")
    return (f"<p>Each value's ranking of the {n} compared respondents: the rank is computed in "
            "every posterior draw (1 = highest), so its interval says how settled a place is. "
            "All values share one x axis.</p>"
            f'<div class="controls">{picker}</div>' + "".join(figs))


# --------------------------------------------------------------------------- pairs
def pairs_payload(ctx: Context) -> dict[str, Any]:
    """The P(a > b) matrix data the page's script draws (rounded, upper triangle)."""
    pairs = ctx.comparison.pairs
    names = ctx.compared[:MAX_PAIRWISE]
    keep = pairs["respondent_a"].isin(names) & pairs["respondent_b"].isin(names)
    pairs = pairs[keep]
    index = {n: i for i, n in enumerate(names)}
    lb = ctx.comparison.leaderboard
    data: dict[str, Any] = {"names": names, "labels": [ctx.label(n) for n in names],
                            "mass": ctx.mass, "values": {}}
    for v in ctx.values:
        rows = pairs[pairs["value"] == v]
        order = [index[r] for r in lb.loc[lb["value"] == v, "respondent"] if r in index]
        data["values"][v] = {
            "label": value_label(v), "order": order,
            "a": [index[x] for x in rows["respondent_a"]],
            "b": [index[x] for x in rows["respondent_b"]],
            "p": [round(float(x), 3) for x in rows["prob_a_greater"]],
            "d": [[round(float(m), 2), round(float(lo), 2), round(float(hi), 2)]
                  for m, lo, hi in zip(rows["mean"], rows["lower"], rows["upper"],
                                       strict=True)]}
    return data


def pairs_section(ctx: Context) -> str:
    """P(row > column) for the compared respondents, value by value (drawn by the script)."""
    if ctx.comparison is None:
        return ('<p class="missing">P(a &gt; b) needs the portrait draws (give the portraits\' '
                ".nc file).</p>")
    if len(ctx.compared) < 2:
        return '<p class="missing">Only one respondent compared: no pairs.</p>'
    cut = ""
    if len(ctx.compared) > MAX_PAIRWISE:
        cut = (f'<p class="alert">The matrix shows the first {MAX_PAIRWISE} of '
               f"{len(ctx.compared)} compared respondents (choose others with --compare).</p>")
    payload = json.dumps(pairs_payload(ctx), separators=(",", ":"))
    payload = payload.replace("</", "<\\/")
    return (f"<p>Cell = posterior probability that the row's value exceeds the column's "
            f"(joint draws; hover for the difference and its {pct(ctx.mass)} interval). Rows "
            "and columns follow the value's leaderboard; columns are numbered as the rows. "
            f"Bold: P &ge; {ctx.mass:g} or &le; {1 - ctx.mass:.2g}.</p>{cut}"
            f'<div class="controls">{_value_picker("pairs-value", "", ctx.values, "value")} '
            '<input type=search id="pairs-filter" placeholder="models: name, name, ..." '
            'aria-label="choose models"></div><div class="scroll" id="pairs-matrix"></div>'
            f'<script type="application/json" id="pairs-data">{payload}</script>')


# --------------------------------------------------------------------------- population
def population_section(ctx: Context) -> str:
    """Per value: the fitted participants' distribution with each respondent's interval."""
    point, lo, hi = ctx.cols()
    names = ctx.compared or [n for n in ctx.respondents if not dims.split_respondent(n)[1]]
    names = names or ctx.respondents
    t = ctx.table[ctx.table["respondent"].isin(names)]
    human = None
    if ctx.reference is not None:
        human = ctx.reference.means(ctx.scale)
    parts = []
    if human is None:
        parts.append('<p class="missing">No item model given: the human distribution is not '
                     "drawn (the respondents' intervals are).</p>")
    h_all = human.to_numpy().ravel() if human is not None else np.array([])
    h_lim = np.quantile(h_all, [0.005, 0.995]) if h_all.size else []
    lim = svg.domain(t[lo], t[hi], h_lim, include=[0.0])
    panels = []
    for v in ctx.values:
        rows_v = t[t["value"] == v].sort_values(point)
        rows = []
        for r in rows_v.itertuples():
            name = r.respondent
            pc = getattr(r, "percentile", np.nan)
            where = (f"; above {pc:.0f}% of participants" if ctx.scale == dims.LATENT
                     and pd.notna(pc) else "")
            rows.append(svg.Row(name, getattr(r, point), getattr(r, lo), getattr(r, hi),
                                tip=f"{ctx.label(name)}: {svg.fmt(getattr(r, point), True)} "
                                    f"[{svg.fmt(getattr(r, lo), True)}, "
                                    f"{svg.fmt(getattr(r, hi), True)}]{where}",
                                key=name, css="misfit" if name in ctx.misfit else ""))
        hv = human[v].to_numpy() if human is not None and v in human.columns else np.array([])
        panels.append(svg.population_panel(value_label(v), hv, rows, lim=lim,
                                           xlabel=SCALE_LABELS[ctx.scale].split(" (")[0]))
    opts = "".join(f'<option value="{_e(n)}">{_e(ctx.label(n))}</option>' for n in names)
    n_h = len(human) if human is not None else 0
    intro = (f"<p>Grey: the {n_h} fitted participants' values (posterior means; thin lines at "
             f"their 5%, 50% and 95% quantiles). On top, each of {len(names)} respondents' "
             f"{pct(ctx.mass)} interval and posterior mean, sorted by the mean; hover for the "
             "name and percentile, or pick one to highlight it in every panel. All panels "
             "share one x axis.</p>")
    picker = (f'<div class="controls"><label>highlight <select id="highlight"><option value="">'
              f"(none)</option>{opts}</select></label></div>")
    return "\n".join(parts) + intro + picker + f'<div class="panels">{"".join(panels)}</div>'


# --------------------------------------------------------------------------- findings
def findings_section(ctx: Context) -> str:
    """The paper's findings as computed statements with intervals."""
    if ctx.priorities is None:
        return ('<p class="missing">The findings need the portrait draws (give the '
                "portraits' .nc file).</p>")
    p = pct(ctx.mass)
    pr = ctx.priorities
    parts = ["<h3>Which values do the LLMs prioritise?</h3>",
             f"<p>Per posterior draw: the mean over the {int(pr['n_models'].iloc[0])} compared "
             f"LLMs of each centred value (the value minus the LLM's own mean), then the "
             f"rank of the ten averages. Green: a value the paper reports as high, red: as "
             f"low ({p} intervals).</p>"]
    rows = [svg.Row(value_label(r.value), r.mean, r.lower, r.upper,
                    tip=f"{value_label(r.value)}: {svg.fmt(r.mean, True)} "
                        f"[{svg.fmt(r.lower, True)}, {svg.fmt(r.upper, True)}]",
                    right=f"rank {r.mean_rank:.1f} [{r.rank_lower:g}-{r.rank_upper:g}]"
                          + (f"  paper: {r.paper}" if r.paper else ""),
                    css=r.paper) for r in pr.itertuples()]
    parts.append(svg.forest(rows, lim=svg.domain(pr["lower"], pr["upper"], include=[0.0]),
                            title=f"Average relative priority across the LLMs ({p} intervals)",
                            xlabel="centred value (minus each LLM's mean value), averaged",
                            right_title="rank among values"))
    if ctx.paper:
        pairs = [(k.split(">")[0], k.split(">")[1], v) for k, v in ctx.paper.items()
                 if k != "all"]
        cells = "".join(f"<tr><td>{_e(value_label(a))} &gt; {_e(value_label(b))}</td>"
                        f'<td data-s="{pv:.3f}">{pv:.3f}</td></tr>' for a, b, pv in pairs)
        parts.append(f"<p><b>The paper's ordering</b> (every one of "
                     f"{_e(', '.join(map(value_label, PAPER_HIGH)))} above every one of "
                     f"{_e(', '.join(map(value_label, PAPER_LOW)))}) holds in "
                     f"{100 * ctx.paper['all']:.1f}% of posterior draws. Per pair:</p>"
                     f"<table class=sortable><thead><tr><th>statement</th><th>posterior "
                     f"probability</th></tr></thead><tbody>{cells}</tbody></table>")
    if ctx.spread is not None:
        sp = ctx.spread
        rows = [svg.Row(value_label(r.value), r.ratio, r.ratio_lower, r.ratio_upper,
                        tip=f"{value_label(r.value)}: LLM SD {r.llm_sd:.2f} "
                            f"[{r.llm_sd_lower:.2f}, {r.llm_sd_upper:.2f}], human SD "
                            f"{r.human_sd:.2f}",
                        right=f"P(narrower) {r.prob_llm_narrower:.2f}",
                        css="narrow" if r.ratio_upper < 1 else "wide" if r.ratio_lower > 1 else "")
                for r in sp.itertuples()]
        parts += ["<h3>Do LLMs compress value diversity?</h3>",
                  f"<p>Per posterior draw: the standard deviation of the "
                  f"{int(sp['n_models'].iloc[0])} LLMs' values divided by that of the "
                  f"{int(sp['n_participants'].iloc[0])} fitted participants "
                  f"({_e(sp['scale'].iloc[0])} scale). Below 1: LLMs differ less from each "
                  "other than people do; purple: credibly narrower, orange: credibly wider. "
                  "The LLM SD is that of their values under the "
                  "posterior; with few LLMs it is itself uncertain.</p>",
                  svg.forest(rows, lim=svg.domain(sp["ratio_lower"], sp["ratio_upper"],
                                                  include=[0.0, 1.0]),
                             title=f"Between-LLM SD / between-human SD ({p} intervals)",
                             xlabel="ratio of standard deviations (1 = as diverse as people)",
                             reference=1.0, right_title="P(ratio < 1)")]
    if ctx.groups is not None and len(ctx.groups):
        g = ctx.groups
        parts.append("<h3>Groups of LLMs</h3><p>Per posterior draw: the mean of each group's "
                     f"LLMs, group a minus group b ({p} intervals).</p>")
        lim = svg.domain(g["lower"], g["upper"], include=[0.0])
        for (col, a, b), rows_g in g.groupby(["column", "group_a", "group_b"], sort=False):
            rows_g = rows_g.set_index("value").reindex(ctx.values).dropna(subset=["mean"])
            rows = [svg.Row(value_label(v), r["mean"], r["lower"], r["upper"],
                            tip=f"{value_label(v)}: {svg.fmt(r['mean'], True)} "
                                f"[{svg.fmt(r['lower'], True)}, {svg.fmt(r['upper'], True)}]",
                            right=f"P(a > b) {r['prob_a_greater']:.2f}",
                            css="credible" if r["lower"] > 0 or r["upper"] < 0 else "")
                    for v, r in rows_g.iterrows()]
            n_a, n_b = int(rows_g["n_a"].iloc[0]), int(rows_g["n_b"].iloc[0])
            parts.append(svg.forest(rows, lim=lim, title=f"{col}: {a} ({n_a}) - {b} ({n_b})",
                                    xlabel=f"difference of group means "
                                           f"({SCALE_LABELS[ctx.scale].split(' (')[0]})",
                                    right_title="P(a > b)"))
    return "\n".join(parts)


# --------------------------------------------------------------------------- portraits
def portraits_section(ctx: Context, max_portraits: int) -> str:
    """Each respondent's forest and circle (inline SVG), collapsed, after the comparisons."""
    point, lo, hi = ctx.cols()
    names = ctx.respondents
    shown = names[:max_portraits]
    t = ctx.table
    lim = svg.domain(t[lo], t[hi], include=[0.0])
    parts = [f"<p>Each respondent's values in Schwartz circular order ({pct(ctx.mass)} "
             f"intervals, {_e(SCALE_LABELS[ctx.scale])}); every figure shares one axis. "
             "Open a respondent to see its portrait.</p>"]
    if len(shown) < len(names):
        parts.append(f'<p class="alert">Figures for the first {len(shown)} of {len(names)} '
                     "respondents (--max-portraits); every respondent is in the table below."
                     "</p>")
    for name in shown:
        rows_r = t[t["respondent"] == name].set_index("value").reindex(ctx.values)
        labels = [value_label(v) for v in ctx.values]
        rows = [svg.Row(lab, r[point], r[lo], r[hi],
                        tip=f"{lab}: {svg.fmt(r[point], True)} [{svg.fmt(r[lo], True)}, "
                            f"{svg.fmt(r[hi], True)}]")
                for lab, (_, r) in zip(labels, rows_r.iterrows(), strict=True)]
        forest = svg.forest(rows, lim=lim, title=f"{name} ({pct(ctx.mass)} intervals)",
                            xlabel=SCALE_LABELS[ctx.scale].split(" (")[0], width=520)
        circle = svg.radar(labels, rows_r[point].to_numpy(float), rows_r[lo].to_numpy(float),
                           rows_r[hi].to_numpy(float), lim=lim,
                           title="around the circle (dashed: 0)")
        fit = ctx.misfit.get(name)
        warn = (f'<p class="alert">The item model does not fit {_e(name)} '
                f"({_e(', '.join(fit) or 'misfit')}).</p>" if fit is not None else "")
        parts.append(f"<details class=portrait><summary>{_e(ctx.label(name))}</summary>{warn}"
                     f'<div class="figs">{forest}{circle}</div></details>')
    return "\n".join(parts)

"""Public contrast tables: human groups, LLM personas, the bias between them, distances.

All tables are tidy with :data:`~vp_bayes.contrasts.draws.COLUMNS` (``axis, group_a, group_b,
value, source, model, mean, lower, upper, prob_positive, mass``); ``source`` is ``human``,
``llm`` or ``bias``; ``model`` is ``""`` on human rows. Human and LLM posteriors are
independent, so a bias is computed draw by draw after resampling both to a common number of
draws in random order with a fixed seed, and pairing them by index.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes.contrasts.draws import (
    CONTRAST,
    LABELS,
    POPULATION,
    UNPROMPTED,
    center,
    check_scale,
    group_draws,
    interval_bounds,
    mean_draws,
    pair_draws,
    persona_groups,
    persona_pair_draws,
    persona_shift_draws,
    portrait_draws,
    resample,
    summarise,
)
from vp_bayes.dims import CENTERED, GROUP, INTERVAL_MASS, LATENT, RESPONDENT, SAMPLE, VALUE, Scale
from vp_bayes.errors import InputError

BIAS_SEED = 2026
DISTANCE_COLUMNS = ["model", "respondent", "axis", "group", "quantity", "mean", "lower", "upper",
                    "prob_positive", "mass"]
Kind = Literal["contrast", "shift"]
# What ``vp-bayes contrast`` prints (:func:`report_lines`): columns, and rows per table.
PAIR_COLUMNS = ["source", "model", "axis", "group_a", "group_b", "value", "mean", "lower",
                "upper", "prob_positive"]
DISTANCE_PRINT_COLUMNS = ["model", "axis", "group", "quantity", "mean", "lower", "upper",
                          "prob_positive"]
N_PRINTED = 20  # rows of each source (human, llm, bias) per printed table


class ContrastWarning(UserWarning):
    """Persona contrasts without a human counterpart (left out of the bias, and said so)."""


def _human(source, axes, scale: Scale, kind: Kind) -> xr.DataArray:
    groups = group_draws(source, axes)
    da = pair_draws(groups) if kind == "contrast" else mean_draws(groups)
    return center(da) if check_scale(scale) == CENTERED else da


def human_contrasts(source: object, axes=None, mass: float = INTERVAL_MASS, *,
                    scale: Scale = LATENT) -> pd.DataFrame:
    """Posterior of every within-axis group difference (``male - female``, ...), humans.

    Parameters
    ----------
    source
        A fitted ``ItemModel`` (its ``effect_{axis}`` draws), its DataTree/posterior, or an
        external :class:`~vp_bayes.contrasts.reference.Reference`.
    axes
        Axes to use; default all.
    mass
        Interval mass (equal-tailed).
    scale
        ``"latent"`` (the human scale) or ``"centered"`` (minus the mean over values, draw by
        draw).
    """
    interval_bounds(mass)
    return summarise(_human(source, axes, scale, "contrast"), "human", mass)


def human_group_means(source: object, axes=None, mass: float = INTERVAL_MASS, *,
                      scale: Scale = LATENT) -> pd.DataFrame:
    """Posterior of each group mean minus the population mean (``group_b="population"``)."""
    interval_bounds(mass)
    return summarise(_human(source, axes, scale, "mean"), "human", mass)


def persona_contrasts(portraits: object, mass: float = INTERVAL_MASS, scale: Scale = LATENT,
                      axes=None) -> pd.DataFrame:
    """Persona pair contrasts within a model and axis (``gpt|gender=male - gpt|gender=female``)."""
    interval_bounds(mass)
    return summarise(persona_pair_draws(portraits, scale, axes), "llm", mass)


def persona_shifts(portraits: object, mass: float = INTERVAL_MASS, scale: Scale = LATENT,
                   axes=None) -> pd.DataFrame:
    """Persona minus the same model without a persona (``group_b="unprompted"``)."""
    interval_bounds(mass)
    return summarise(persona_shift_draws(portraits, scale, axes), "llm", mass)


def _common(n_draws: int | None, *sizes: int) -> int:
    n = min(sizes) if n_draws is None else int(n_draws)
    if n < 1:
        raise InputError(f"must be >= 1, got {n}", field="draws")
    return n


def _align_values(human: xr.DataArray, llm_values, where: str) -> xr.DataArray:
    missing = [v for v in llm_values if v not in set(human[VALUE].values.tolist())]
    if missing:
        raise InputError(f"the human side has no values {missing}", file=where, field=VALUE)
    return human.sel({VALUE: list(llm_values)})


def bias_draws(human: object, portraits: object, *, axes=None, scale: Scale = LATENT,
               kind: Kind = "contrast", n_draws: int | None = None,
               seed: int = BIAS_SEED) -> xr.DataArray:
    """Draws of LLM persona contrast minus the human group contrast (or shift minus group mean).

    Both posteriors are resampled to ``n_draws`` (default: the smaller count) in random order
    with ``seed`` and paired by index. Persona contrasts whose groups the human side lacks
    are left out with a :class:`ContrastWarning` naming them.

    Returns
    -------
    xr.DataArray
        ``(contrast, sample, value)`` with the LLM contrast's labels.
    """
    if kind not in ("contrast", "shift"):
        raise InputError(f"kind must be 'contrast' or 'shift', got {kind!r}", field="kind")
    llm = (persona_pair_draws if kind == "contrast" else persona_shift_draws)(
        portraits, scale, axes)
    if llm.sizes[CONTRAST] == 0:
        return llm
    hum = _human(human, axes, LATENT, kind)
    hum = _align_values(hum, llm[VALUE].values.tolist(), getattr(human, "path", None))
    if scale == CENTERED:
        hum = center(hum)
    rng = np.random.default_rng(seed)
    n = _common(n_draws, hum.sizes[SAMPLE], llm.sizes[SAMPLE])
    hum, llm = resample(hum, n, rng), resample(llm, n, rng)
    index = {(a, ga, gb if kind == "contrast" else POPULATION): i for i, (a, ga, gb) in
             enumerate(zip(*(hum[lab].values.tolist() for lab in LABELS[:3]), strict=True))}
    keep, rows, missing = [], [], []
    for c in range(llm.sizes[CONTRAST]):
        a, ga, gb, model = (str(llm[lab].values[c]) for lab in LABELS)
        key = (a, ga, gb if kind == "contrast" else POPULATION)
        if key in index:
            keep.append(c)
            rows.append(index[key])
        else:
            missing.append(f"{model}: {a} {ga} - {gb}")
    if missing:
        warnings.warn("no human counterpart for " + "; ".join(missing), ContrastWarning,
                      stacklevel=2)
    out = llm.isel({CONTRAST: keep})
    diff = out.values - hum.isel({CONTRAST: rows}).values
    return out.copy(data=diff).assign_coords({CONTRAST: np.arange(len(keep))})


def bias_contrasts(human: object, portraits: object, *, axes=None, mass: float = INTERVAL_MASS,
                   scale: Scale = LATENT, kind: Kind = "contrast", n_draws: int | None = None,
                   seed: int = BIAS_SEED) -> pd.DataFrame:
    """Tidy table of :func:`bias_draws` (``source="bias"``): LLM minus human, with intervals."""
    interval_bounds(mass)
    return summarise(bias_draws(human, portraits, axes=axes, scale=scale, kind=kind,
                                n_draws=n_draws, seed=seed), "bias", mass)


def _summary_1d(x: np.ndarray, mass: float) -> dict[str, float]:
    lo, hi = interval_bounds(mass)
    q = np.quantile(x, [lo, hi])
    return {"mean": float(x.mean()), "lower": float(q[0]), "upper": float(q[1])}


def persona_distance(human: object, portraits: object, *, axes=None,
                     mass: float = INTERVAL_MASS, scale: Scale = LATENT,
                     n_draws: int | None = None, seed: int = BIAS_SEED) -> pd.DataFrame:
    """Euclidean distance (over values, per draw) from each persona to its group's mean portrait.

    Quantities per persona: ``distance`` (persona to the human group mean), and when the
    model was also scored without a persona ``distance_unprompted`` (plain model to the same
    group mean) and ``closer`` = distance_unprompted - distance (``prob_positive`` = posterior
    probability that the persona moved the portrait toward its group). ``prob_positive`` is
    NaN for the distances themselves.

    Returns
    -------
    pd.DataFrame
        Columns :data:`DISTANCE_COLUMNS`.
    """
    interval_bounds(mass)
    draws = portrait_draws(portraits, scale)
    personas = persona_groups(draws, axes)
    if not personas:
        return pd.DataFrame(columns=DISTANCE_COLUMNS)
    groups = group_draws(human, axes)  # all the human side's axes unless asked
    values = draws[VALUE].values.tolist()
    rng = np.random.default_rng(seed)
    n_h = next(iter(groups.values())).sizes[SAMPLE]
    n = _common(n_draws, n_h, draws.sizes[SAMPLE])
    idx_h = rng.choice(n_h, size=n, replace=n > n_h)
    draws = resample(draws, n, rng)
    names = set(draws[RESPONDENT].values.tolist())
    rows, missing = [], []
    for (model, axis), members in personas.items():
        for g, resp in sorted(members.items()):
            hum = groups.get(axis)
            if hum is None or g not in set(hum[GROUP].values.tolist()):
                missing.append(f"{resp}")
                continue
            gm = _align_values(hum.sel({GROUP: g}), values, getattr(human, "path", None))
            gm = gm.isel({SAMPLE: idx_h}).values
            if scale == CENTERED:
                gm = gm - gm.mean(axis=-1, keepdims=True)
            d = np.sqrt(((draws.sel({RESPONDENT: resp}).values - gm) ** 2).sum(-1))
            base = {"model": model, "respondent": resp, "axis": axis, "group": g, "mass": mass}
            rows.append(base | {"quantity": "distance", "prob_positive": np.nan}
                        | _summary_1d(d, mass))
            if model in names:
                d0 = np.sqrt(((draws.sel({RESPONDENT: model}).values - gm) ** 2).sum(-1))
                rows.append(base | {"quantity": "distance_unprompted", "prob_positive": np.nan}
                            | _summary_1d(d0, mass))
                rows.append(base | {"quantity": "closer",
                                    "prob_positive": float((d0 - d > 0).mean())}
                            | _summary_1d(d0 - d, mass))
    if missing:
        warnings.warn("no human group for " + "; ".join(missing), ContrastWarning, stacklevel=2)
    return pd.DataFrame(rows, columns=DISTANCE_COLUMNS)


def excludes_zero(df: pd.DataFrame) -> pd.Series:
    """Whether each row's interval excludes 0 (``lower > 0`` or ``upper < 0``): credible."""
    return (df["lower"] > 0) | (df["upper"] < 0)


def credible_summary(df: pd.DataFrame, source: str | None = "bias") -> pd.DataFrame:
    """Rows whose interval excludes 0, with ``direction`` (``positive``/``negative``).

    Parameters
    ----------
    df
        A contrast table (:data:`COLUMNS`).
    source
        Keep only rows of this source (default ``bias``); ``None`` keeps all.
    """
    rows = df if source is None else df[df["source"] == source]
    hit = rows[excludes_zero(rows)].copy()
    hit["direction"] = np.where(hit["mean"] > 0, "positive", "negative")
    hit["_shift"] = hit["group_b"] == UNPROMPTED
    hit["_size"] = -hit["mean"].abs()
    hit = hit.sort_values(["_shift", "axis", "group_a", "group_b", "model", "_size"],
                          kind="stable")
    return hit.drop(columns=["_shift", "_size"]).reset_index(drop=True)


def describe_credible(summary: pd.DataFrame, mass: float = INTERVAL_MASS,
                      limit: int | None = None) -> str:
    """One line per credible bias, e.g. ``gpt  gender male - female  power  +0.42 [0.12, 0.71]``.

    Parameters
    ----------
    summary
        :func:`credible_summary`.
    mass
        The interval mass (named in the heading).
    limit
        List at most this many biases, then a line counting the rest (``None``: all).
    """
    pct = f"{100 * mass:g}%"
    if summary.empty:
        return f"No bias is credible at {pct} (every interval contains 0)."
    lines = [f"{len(summary)} credible bias(es) at {pct} (interval excludes 0). A pair bias is "
             "(persona a - persona b) - (human a - human b); a shift bias is (persona - "
             "unprompted model) - (human group - population):"]
    shown = summary if limit is None else summary.head(max(limit, 0))
    for r in shown.itertuples():
        what = (f"{r.group_a} shift" if r.group_b == UNPROMPTED
                else f"{r.group_a} - {r.group_b}")
        lines.append(f"  {r.model or '-'}  {r.axis}: {what}  {r.value}  "
                     f"{r.mean:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}]")
    if len(shown) < len(summary):
        lines.append(f"  ... {len(summary) - len(shown)} more (the bias rows of the contrast "
                     "table whose interval excludes 0)")
    return "\n".join(lines)


@dataclass(frozen=True)
class ContrastReport:
    """Everything ``vp-bayes contrast`` prints and writes.

    Attributes
    ----------
    table
        Human pair contrasts and group means, then (with portraits) LLM persona contrasts and
        shifts, and their biases; :data:`COLUMNS`.
    distance
        Persona-to-group distances (:data:`DISTANCE_COLUMNS`), empty without portraits.
    credible
        :func:`credible_summary` of the bias rows.
    mass
        The interval mass.
    """

    table: pd.DataFrame
    distance: pd.DataFrame
    credible: pd.DataFrame
    mass: float

    def summary(self) -> pd.DataFrame:
        """The contrasts in brief: one row per contrast and value (mirt's ``summary``).

        Returns
        -------
        pandas.DataFrame
            Columns ``source, model, axis, group_a, group_b, value, mean, lower, upper,
            prob_positive, credible`` of :attr:`table` (``source`` human, llm or bias;
            ``group_b`` ``population`` for a group mean, ``unprompted`` for a persona shift;
            intervals of mass :attr:`mass`); ``credible``: the interval excludes 0.
        """
        columns = ["source", "model", "axis", "group_a", "group_b", "value", "mean", "lower",
                   "upper", "prob_positive"]
        out = self.table[columns].reset_index(drop=True)
        out["credible"] = excludes_zero(out).to_numpy()
        return out


def compare(human: object, portraits: object | None = None, *, axes=None,
            mass: float = INTERVAL_MASS, scale: Scale = LATENT, n_draws: int | None = None,
            seed: int = BIAS_SEED) -> ContrastReport:
    """Compute every contrast table at once (what the CLI shows)."""
    check_scale(scale)
    parts = [human_contrasts(human, axes, mass, scale=scale),
             human_group_means(human, axes, mass, scale=scale)]
    distance = pd.DataFrame(columns=DISTANCE_COLUMNS)
    if portraits is not None:
        parts += [persona_contrasts(portraits, mass, scale, axes),
                  persona_shifts(portraits, mass, scale, axes)]
        for kind in ("contrast", "shift"):
            parts.append(bias_contrasts(human, portraits, axes=axes, mass=mass, scale=scale,
                                        kind=kind, n_draws=n_draws, seed=seed))
        distance = persona_distance(human, portraits, axes=axes, mass=mass, scale=scale,
                                    n_draws=n_draws, seed=seed)
    table = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    return ContrastReport(table, distance, credible_summary(table), mass)


def _table_lines(title: str, frame: pd.DataFrame, columns: list[str], max_rows: int | None,
                 where: str, by: str | None = None) -> list[str]:
    """A titled table, at most ``max_rows`` rows (of each ``by`` group), and what was left out."""
    lines = ["", title]
    if frame.empty:
        return [*lines, "  (none)"]
    if max_rows is None:
        shown = frame
    elif by is None:
        shown = frame.head(max(max_rows, 0))
    else:
        shown = frame.groupby(by, sort=False).head(max(max_rows, 0))
    if len(shown):
        lines.append(shown[columns].to_string(index=False, float_format=lambda x: f"{x:+.3f}"))
    if len(shown) < len(frame):
        if by is None:
            left = f"{len(frame) - len(shown)} more row(s)"
        else:
            counts = frame[by].value_counts(sort=False) - shown[by].value_counts(sort=False)
            left = "more rows: " + ", ".join(
                f"{int(n)} {key}" for key, n in
                counts.reindex(frame[by].unique()).fillna(0).items() if n > 0)
        lines.append(f"... {left} ({where}; --full prints them all)")
    return lines


def report_lines(report: ContrastReport, *, scale: str = LATENT, with_portraits: bool = True,
                 full: bool = False, max_rows: int = N_PRINTED,
                 table_path: str | Path | None = None,
                 distance_path: str | Path | None = None) -> list[str]:
    """The lines ``vp-bayes contrast`` prints for a :class:`ContrastReport`.

    Parameters
    ----------
    report
        From :func:`compare`.
    scale
        The scale the contrasts were computed on (named in the heading).
    with_portraits
        Whether LLM portraits were compared: adds the persona distances and the credible
        biases.
    full
        Print every row; otherwise the pair table stops after ``max_rows`` rows of each source
        (human, llm, bias: the same first contrasts of each), the distance table after
        ``max_rows`` rows and the list of credible biases after ``max_rows`` biases, each with
        a line counting the rest.
    max_rows
        The cap of the summary.
    table_path, distance_path
        Where the full tables were written (named in the lines about rows left out).

    Returns
    -------
    list of str
        The pair contrasts (human, persona and bias rows; group means and persona shifts are
        in the written table), then with portraits the persona distances and the credible
        biases.
    """
    cap = None if full else max_rows
    pct = f"{100 * report.mass:g}%"
    table = report.table
    pairs = table[~table["group_b"].isin((POPULATION, UNPROMPTED))]
    lines = _table_lines(f"Pair contrasts ({pct} intervals, {scale} scale)", pairs, PAIR_COLUMNS,
                         cap, f"all in {table_path}" if table_path else "all in the table",
                         by="source")
    if with_portraits:
        lines += _table_lines(f"Persona distance to its human group ({pct})", report.distance,
                              DISTANCE_PRINT_COLUMNS, cap,
                              f"all in {distance_path}" if distance_path else "all in the table")
        lines += ["", describe_credible(report.credible, report.mass, limit=cap)]
    return lines

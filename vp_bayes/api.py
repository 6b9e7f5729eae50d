"""The verbs of the front door that are more than a re-export: ``fit``, ``select``, ``contrast``,
``report`` and the generic ``summary``.

Each is a thin layer over the library function the matching CLI command calls (``vp-bayes
fit``, ``select``, ``contrast``, ``report``); nothing is computed here that the library does not
compute. :mod:`vp_bayes` re-exports them flat with the other verbs (``load_wave``,
``simulate_wave``, ``read_llm_ratings``, ``classic_scores``, ``score``, ``load_model``, ...).
Heavy modules are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from vp_bayes.dims import INTERVAL_MASS, ITEM_ID, LATENT, TAG_ALPHA, TAG_THRESHOLD, VALUE
from vp_bayes.errors import InputError

if TYPE_CHECKING:
    from vp_bayes.contrasts.reference import Reference
    from vp_bayes.contrasts.tables import ContrastReport
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import ItemModel
    from vp_bayes.scoring.portraits import Portraits
    from vp_bayes.wave.core import Wave

TAG_COLUMNS = (ITEM_ID, VALUE, "tagged")  # what makes a tag table (:data:`dims.TAG_COLUMNS`)


def _as_wave(wave: Wave | str | Path) -> Wave:
    """A :class:`Wave`, or the wave folder at a path (loaded and validated)."""
    if isinstance(wave, str | Path):
        from vp_bayes.wave.io import load_wave

        return load_wave(wave)
    return wave


def _config_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into :class:`ModelConfig` and :class:`SamplerConfig` fields."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig

    model_fields = {f.name for f in fields(ModelConfig)}
    sampler_fields = {f.name for f in fields(SamplerConfig)}
    unknown = sorted(set(options) - model_fields - sampler_fields)
    if unknown:
        raise TypeError(f"fit() got unknown option(s) {', '.join(unknown)}; model options: "
                        f"{', '.join(sorted(model_fields))}; sampler options: "
                        f"{', '.join(sorted(sampler_fields))}")
    return ({k: v for k, v in options.items() if k in model_fields},
            {k: v for k, v in options.items() if k in sampler_fields})


def fit(
    wave: Wave | str | Path,
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    model_config: ModelConfig | None = None,
    sampler_config: SamplerConfig | None = None,
    progress: bool = True,
    ppc_draws: int = 200,
    **model_options: Any,
) -> ItemModel:
    """Fit the hierarchical item model to a wave (``vp-bayes fit``).

    Builds a :class:`~vp_bayes.model.config.ModelConfig` and a
    :class:`~vp_bayes.model.config.SamplerConfig` and calls
    :func:`vp_bayes.model.fit.fit_wave`.

    Parameters
    ----------
    wave
        A :class:`~vp_bayes.wave.core.Wave`, or the path of a wave folder.
    draws, tune, chains, seed, sampler
        The sampler's budget and engine (``nutpie`` (default), ``pymc``, ``numpyro``,
        ``advi``, ``pathfinder``); ``None`` keeps the value of ``sampler_config`` (default
        :class:`SamplerConfig()`: nutpie, 4 chains x (400 warm-up + 1000 draws)).
    model_config, sampler_config
        Starting configurations (defaults: ``ModelConfig()``, ``SamplerConfig()``).
    progress
        Show the sampler's progress.
    ppc_draws
        Posterior draws of the posterior predictive check of item rating distributions.
    **model_options
        Fields of :class:`ModelConfig` (e.g. ``thresholds="item"``, ``value_input="exact"``)
        or of :class:`SamplerConfig` (e.g. ``init="jitter"``, ``advi_iterations=500``) that
        replace those of the starting configurations.

    Returns
    -------
    ItemModel
        The posterior, configs, wave hash and diagnostics; ``.summary()`` for convergence.

    Raises
    ------
    TypeError
        An option that is no field of either configuration.
    InputError
        An impossible setting (naming it) or an invalid wave folder.
    """
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import fit_wave

    model_opts, sampler_opts = _config_options(model_options)
    named = dict(sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed)
    sampler_opts.update({k: v for k, v in named.items() if v is not None})
    model_cfg = model_config or ModelConfig()
    if model_opts:
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), **model_opts},
                                          source="vp_bayes.fit")
    sampler_cfg = replace(sampler_config or SamplerConfig(), **sampler_opts)
    sampler_cfg.validate(source="vp_bayes.fit")
    return fit_wave(_as_wave(wave), model_cfg, sampler_cfg, progress=progress,
                    ppc_draws=ppc_draws)


def select(
    wave: Wave | str | Path,
    *,
    traits: str | Sequence[str] = "values",
    method: str = "spearman",
    threshold: float = TAG_THRESHOLD,
    alpha: float = TAG_ALPHA,
    correction: str = "none",
    sign: str = "positive",
) -> pd.DataFrame:
    """Tag items for traits by the paper's correlation rule (``vp-bayes select``).

    An item is tagged for a trait when its human ratings correlate with the raters' trait
    scores above ``threshold`` with p below ``alpha`` (Value Portrait: Spearman rho > 0.3,
    p < 0.05). Calls :func:`vp_bayes.selection.wave_traits` and
    :func:`vp_bayes.selection.item_trait_correlations`.

    Parameters
    ----------
    wave
        A :class:`~vp_bayes.wave.core.Wave`, or the path of a wave folder.
    traits
        ``values``, ``values19``, ``higher``, ``bigfive`` or a list of trait names.
    method
        ``spearman`` (the paper), ``pearson`` or ``kendall``.
    threshold, alpha
        Correlation threshold and significance level.
    correction
        Multiple-testing correction of the p-values: ``none`` (the paper), ``fdr_bh`` or
        ``bonferroni``.
    sign
        ``positive`` (the paper), ``negative`` or ``both``.

    Returns
    -------
    pandas.DataFrame
        The tag table ``item_id, value, r, p, p_adjusted, n, tagged`` (one row per item and
        trait), accepted by :func:`vp_bayes.classic_scores`; :func:`summary` counts its tags.
    """
    from vp_bayes.selection import item_trait_correlations, wave_traits

    wave = _as_wave(wave)
    return item_trait_correlations(wave.ratings, wave_traits(wave, traits), method=method,
                                   threshold=threshold, alpha=alpha, correction=correction,
                                   sign=sign)


def contrast(
    human: ItemModel | Reference,
    portraits: Portraits | None = None,
    *,
    axes: str | Sequence[str] | None = None,
    mass: float = INTERVAL_MASS,
    scale: str = LATENT,
    n_draws: int | None = None,
    seed: int | None = None,
) -> ContrastReport:
    """Demographic posterior contrasts of humans, personas and their bias (``vp-bayes contrast``).

    Calls :func:`vp_bayes.contrasts.compare`.

    Parameters
    ----------
    human
        The fitted :class:`~vp_bayes.model.fit.ItemModel` (its group effects), or an external
        reference (:func:`vp_bayes.read_reference`).
    portraits
        Scored LLMs and personas (:func:`vp_bayes.score`); ``None`` gives the human side only.
    axes
        Demographic axes (one name or several); ``None``: every axis.
    mass
        Mass of the equal-tailed intervals.
    scale
        ``latent`` (the human scale) or ``centered`` (minus the mean over values, draw by draw).
    n_draws
        Common number of draws of the bias (default: the smaller posterior).
    seed
        Seed of the resampling that pairs the two posteriors (default: the CLI's, 2026).

    Returns
    -------
    ContrastReport
        ``table`` (pair contrasts, group means, persona contrasts and shifts, biases),
        ``distance``, ``credible``; ``.summary()`` for the tidy essentials.
    """
    from vp_bayes.contrasts.tables import BIAS_SEED, compare

    if isinstance(axes, str):
        axes = [axes]
    return compare(human, portraits, axes=list(axes) if axes is not None else None, mass=mass,
                   scale=scale, n_draws=n_draws, seed=BIAS_SEED if seed is None else seed)


def _as_table(obj: Any, reader: Any) -> pd.DataFrame | None:
    """A result table: ``None``, a DataFrame, a result object's ``.table`` or a file read."""
    if obj is None or isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, str | Path):
        return reader(obj)
    table = getattr(obj, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, a result object or a path, got {type(obj)!r}")
    return table


def report(
    out_dir: str | Path,
    *,
    item_model: ItemModel | str | Path | None = None,
    portraits: Portraits | pd.DataFrame | str | Path | None = None,
    contrasts: ContrastReport | pd.DataFrame | str | Path | None = None,
    selection: pd.DataFrame | str | Path | None = None,
    title: str = "vp_bayes report",
    scale: str = LATENT,
    max_portraits: int = 30,
    compare: list[str] | None = None,
) -> Path:
    """Write the self-contained HTML report (``vp-bayes report``).

    Calls :func:`vp_bayes.report.html.write_report`; ``vb.report`` is the package
    :mod:`vp_bayes.report`, whose call is this function.

    Parameters
    ----------
    out_dir
        Report folder (``index.html`` and ``figures/``).
    item_model
        A fitted :class:`ItemModel` or its file: diagnostics and the predictive check.
    portraits
        :class:`Portraits`, their table, or a file (CSV, Parquet, portraits ``.nc``).
    contrasts
        A :class:`ContrastReport`, its table, or a file (CSV, Parquet).
    selection
        A Bayesian-vs-correlation selection table (or its file), or a correlation tag table
        from :func:`select`, compared here with the posterior selection of ``item_model``
        (:func:`vp_bayes.selection.bayes.posterior_selection`, as ``vp-bayes select-bayes``).
    title
        Page title.
    scale
        Portrait scale drawn: ``latent`` or ``centered``.
    max_portraits
        Respondents drawn one by one (all are tabled).
    compare
        Respondents ranked and compared (default: every model scored without a persona);
        ranks, P(a > b) and the findings need portrait draws (:class:`Portraits` or a
        ``.nc`` file, or a table file with its ``.nc`` beside it).

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    from vp_bayes.report.html import write_report
    from vp_bayes.report.tables import read_contrasts, read_portraits, read_selection

    if all(x is None for x in (item_model, portraits, contrasts, selection)):
        raise InputError("nothing to report: give item_model and/or portraits, contrasts, "
                         "selection", field="item_model")
    sources = {name: str(obj) for name, obj in (
        ("model", item_model), ("portraits", portraits), ("contrasts", contrasts),
        ("selection", selection)) if isinstance(obj, str | Path)}
    if isinstance(item_model, str | Path):
        from vp_bayes.model.io import load_model

        item_model = load_model(item_model)
    selection = _as_table(selection, read_selection)
    if (selection is not None and "posterior_tagged" not in selection.columns
            and set(TAG_COLUMNS) <= set(selection.columns) and item_model is not None):
        from vp_bayes.selection.bayes import compare_selection, posterior_selection

        selection = compare_selection(posterior_selection(item_model), selection)
    draws = getattr(portraits, "draws", None)  # ranks, P(a > b) and findings need draws
    if isinstance(portraits, str | Path):
        from vp_bayes.report.tables import read_portrait_draws

        draws = read_portrait_draws(portraits)
    return write_report(out_dir, item_model=item_model,
                        portraits=_as_table(portraits, read_portraits),
                        contrasts=_as_table(contrasts, read_contrasts), selection=selection,
                        title=title, scale=scale, max_portraits=max_portraits,
                        sources=sources, draws=draws, compare=compare)


def _tag_summary(tags: pd.DataFrame) -> pd.DataFrame:
    """Per trait: items tested and items tagged (:func:`vp_bayes.selection.tag_counts`)."""
    from vp_bayes.selection import tag_counts

    tested = tags.groupby(VALUE, sort=False)[ITEM_ID].nunique()
    out = pd.DataFrame({"n_items": tested, "n_tagged": tag_counts(tags, list(tested.index))})
    return out.rename_axis(VALUE).reset_index()


def summary(obj: Any) -> pd.DataFrame:
    """A tidy summary of any result of the front door (mirt's generic ``summary``).

    Parameters
    ----------
    obj
        A result object with a ``summary()`` method (:class:`Wave`, :class:`SimulatedWave`,
        :class:`ItemModel`, :class:`Portraits`, :class:`ContrastReport`,
        :class:`ModelComparison`), or a correlation tag table from :func:`select`.

    Returns
    -------
    pandas.DataFrame
        ``obj.summary()``; for a tag table one row per trait: ``value, n_items, n_tagged``.

    Raises
    ------
    TypeError
        For anything else.
    """
    if isinstance(obj, pd.DataFrame):  # before getattr: a column named "summary" would match
        if set(TAG_COLUMNS) <= set(obj.columns):
            return _tag_summary(obj)
        raise TypeError("vp_bayes.summary knows DataFrames that are tag tables "
                        f"({', '.join(TAG_COLUMNS)}); this one has {list(obj.columns)}")
    method = getattr(obj, "summary", None)
    if callable(method):
        return method()
    raise TypeError(f"no summary for {type(obj).__name__!r}: expected a Wave, SimulatedWave, "
                    "ItemModel, Portraits, ContrastReport, ModelComparison or a tag table")

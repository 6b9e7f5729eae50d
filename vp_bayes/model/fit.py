"""Fit the item model to a wave: one call returning an :class:`ItemModel` (mirt's habit).

Small generic functions then work on the fitted object: :mod:`vp_bayes.model.diagnostics`,
:mod:`vp_bayes.model.io` (save / load), :mod:`vp_bayes.scoring`, :mod:`vp_bayes.contrasts`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from vp_bayes import __version__, dims
from vp_bayes.errors import InputError
from vp_bayes.model.build import (
    COLLAPSED_SCATTER,
    build_model_from_data,
    collapsed_df,
    draw_collapsed_correlation,
    integrated_scales,
)
from vp_bayes.model.compiling import reproducibly
from vp_bayes.model.config import (
    NUTS_SAMPLERS,
    ModelConfig,
    SamplerConfig,
    resolve_model_config,
    resolve_sampler_config,
)
from vp_bayes.model.data import ModelData, prepare_data
from vp_bayes.model.scales import IntegratedScale, draw_scale
from vp_bayes.model.variational import AdviSettings, fit_meanfield, meanfield_posterior
from vp_bayes.wave.core import Wave

if TYPE_CHECKING:
    from vp_bayes.model.nutpie_path import StopRule

# Raw (non-centred) and transformed helper variables that are not kept in the saved posterior.
_DROP_SUFFIXES = ("_z", "_raw", "_chol", "_log_gaps", "_first", "_local", "_mix", "_block")


@dataclass(frozen=True)
class ItemModel:
    """A fitted item model: the posterior plus everything needed to trust and reuse it.

    Attributes
    ----------
    idata
        ``posterior``, ``sample_stats``, ``constant_data`` and ``ppc`` groups.
    model_config, sampler_config
        How it was built and fitted.
    wave_hash
        :meth:`Wave.data_hash` of the fitted wave.
    version
        vp_bayes version that fitted it.
    diagnostics
        One row per saved variable: ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``.
    wave_name
        The fitted wave's manifest name.
    fit_seconds
        Wall time of the fit.
    """

    idata: xr.DataTree
    model_config: ModelConfig
    sampler_config: SamplerConfig
    wave_hash: str
    version: str = __version__
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    wave_name: str = ""
    fit_seconds: float = float("nan")

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws as a Dataset (dims ``chain, draw, ...``)."""
        return self.idata["posterior"].to_dataset()

    @property
    def values(self) -> tuple[str, ...]:
        """Names of the latent values."""
        return tuple(self.posterior[dims.VALUE].values.tolist())

    @property
    def items(self) -> tuple[str, ...]:
        """Ids of the fitted items."""
        return tuple(self.posterior[dims.ITEM].values.tolist())

    @property
    def n_categories(self) -> int:
        """Number of rating categories."""
        return int(self.idata.attrs["n_categories"])

    @property
    def scale_min(self) -> int:
        """Lowest rating on the scale."""
        return int(self.idata.attrs["scale_min"])

    def summary(self) -> pd.DataFrame:
        """Convergence of the fit, one row per saved posterior variable (mirt's ``summary``).

        Reads the stored :attr:`diagnostics` (computed by
        :func:`vp_bayes.model.diagnostics.convergence_table` when the model was fitted) and the
        sampler statistics (:func:`vp_bayes.model.diagnostics.sampler_summary`).

        Returns
        -------
        pandas.DataFrame
            Columns ``variable, n_elements, r_hat_max, ess_bulk_min, ess_tail_min,
            item_parameter, divergences``: the worst R-hat and smallest bulk/tail ESS over the
            variable's elements (NaN where they cannot be computed: one chain, ADVI or
            Pathfinder), whether it is an item parameter, and the fit's total number of
            divergent transitions (the same on every row; NaN without NUTS statistics).
            ``convergence_problems`` says in words what to do about them.
        """
        from vp_bayes.model.diagnostics import convergence_table, sampler_summary

        table = self.diagnostics if not self.diagnostics.empty else convergence_table(self.idata)
        out = table.rename_axis("variable").reset_index()
        out["divergences"] = sampler_summary(self.idata)["divergences"]
        columns = ["variable", "n_elements", "r_hat_max", "ess_bulk_min", "ess_tail_min",
                   "item_parameter", "divergences"]
        return out[[c for c in columns if c in out.columns]]


def resolve_init(model: pm.Model, cfg: SamplerConfig) -> str:
    """``"advi"`` or ``"jitter"``: what ``cfg.init`` means for this model (see
    :class:`SamplerConfig`); ``"auto"`` is ``"advi"`` when the values are latent (the model
    samples their correlation matrix or integrates their covariance out) and the sampler is
    nutpie."""
    if cfg.init != "auto":
        return cfg.init
    latent = "corr_chol" in model.named_vars or "theta_raw" in model.named_vars
    return "advi" if latent and cfg.sampler == "nutpie" else "jitter"


def _advi_settings(cfg: SamplerConfig) -> AdviSettings:
    return AdviSettings(steps=cfg.advi_iterations, learning_rate=cfg.advi_learning_rate,
                        map_iterations=cfg.advi_map_iterations, seed=cfg.seed)


def usable_cores() -> int:
    """CPUs this process may run on: chains sampled at once.

    Passed to the samplers explicitly: PyMC's default assumes half of the CPUs are hardware
    threads (``min(4, cpu_count() // 2)``), which on a 2-CPU machine ran the chains one at a
    time. The affinity mask is read; a container's CPU quota is not.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def nutpie_settings(cfg: SamplerConfig) -> dict:
    """The settings ``nutpie.sample`` gets from ``cfg`` (on PyMC's path and from ADVI starts).

    Both nutpie paths take ``target_accept`` and the mass-matrix adaptation from here (earlier
    code passed only the adaptation, so nutpie sampled at its default 0.8 whatever the config
    said). nutpie refuses unknown settings, so a misspelt key fails loudly. Settings left at
    ``None`` take the defaults of value inputs other than calibrated and raw answers
    (``fit_wave`` resolves them for the wave first).
    """
    cfg = resolve_sampler_config(cfg, None)
    settings: dict = {"target_accept": float(cfg.target_accept)}
    if cfg.low_rank_modified_mass_matrix:
        settings["adaptation"] = "low_rank"
    return settings


def _sample_nutpie(model: pm.Model, cfg: SamplerConfig, progress: bool, cores: int,
                   stop: StopRule | None = None,
                   trace: list[str] | None = None) -> xr.DataTree:
    """nutpie with chains from ADVI draws or from PyMC's initial points (``resolve_init``),
    ending early where ``stop`` says so; its trace keeps the variables ``trace`` (None:
    all, with the unconstrained coordinates)."""
    from vp_bayes.model.nutpie_path import (
        compile_nutpie,
        logp_dlogp,
        pymc_chain_seed,
        sample_nutpie,
    )

    nuts = nutpie_settings(cfg)
    compiled = compile_nutpie(model, var_names=trace)
    if resolve_init(model, cfg) == "advi":  # ADVI on nutpie's compiled density: one compile
        from vp_bayes.model.warmstart import sample_nutpie_from

        approx = fit_meanfield(model, _advi_settings(cfg), progress=progress,
                               logp_dlogp=logp_dlogp(compiled))
        return sample_nutpie_from(model, approx, draws=cfg.draws, tune=cfg.tune,
                                  chains=cfg.chains, seed=cfg.seed, progress=progress,
                                  nuts=nuts, spread=cfg.init_spread, cores=cores,
                                  compiled=compiled, stop=stop)
    return sample_nutpie(model, compiled, draws=cfg.draws, tune=cfg.tune,
                         chains=cfg.chains, seed=pymc_chain_seed(cfg.seed, cfg.chains),
                         cores=cores, progress=progress, nuts=nuts, stop=stop)


@reproducibly
def _sample(model: pm.Model, cfg: SamplerConfig, progress: bool,
            stop: StopRule | None = None, trace: list[str] | None = None) -> xr.DataTree:
    """Sample (or approximate) the posterior, compiling with
    :data:`vp_bayes.model.compiling.REPRODUCIBLE_FLAGS`; nutpie ends early where ``stop``
    says so and keeps the variables ``trace`` alone (None: all)."""
    cfg = resolve_sampler_config(cfg, None)  # fit_wave resolved it for the wave already
    if cfg.sampler in NUTS_SAMPLERS:
        if cfg.sampler == "numpyro":
            try:
                import jax  # noqa: F401
                import numpyro  # noqa: F401
            except ImportError:
                raise InputError("the numpyro sampler needs JAX: pip install 'vp_bayes[numpyro]'",
                                 field="sampler") from None
            from vp_bayes.model.likelihood import use_stable_jax_softplus

            use_stable_jax_softplus()
        cores = min(cfg.chains, usable_cores())  # chains sampled at once
        if cfg.sampler == "nutpie":
            return _sample_nutpie(model, cfg, progress, cores, stop, trace)
        return pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                         cores=cores, nuts_sampler=cfg.sampler,
                         random_seed=cfg.seed, model=model, progressbar=progress,
                         compute_convergence_checks=False, target_accept=cfg.target_accept)
    if cfg.sampler == "advi":
        approx = fit_meanfield(model, _advi_settings(cfg), progress=progress)
        post = meanfield_posterior(model, approx, cfg.draws * cfg.chains, seed=cfg.seed)
        return xr.DataTree.from_dict({"posterior": post})
    if cfg.sampler == "pathfinder":
        import pymc_extras as pmx

        return pmx.fit(method="pathfinder", model=model, num_draws=cfg.draws * cfg.chains,
                       random_seed=cfg.seed, progressbar=progress)
    raise InputError(f"unknown sampler {cfg.sampler!r}", field="sampler")


def _with_collapsed_correlation(post: xr.Dataset, df: float, seed: int) -> xr.Dataset:
    """``post`` with ``corr`` drawn given each draw's values (:func:`draw_collapsed_correlation`)
    and without the scatter matrices it is drawn from."""
    scatter = post[COLLAPSED_SCATTER]
    corr = draw_collapsed_correlation(scatter.values, df, np.random.default_rng([seed, 17]))
    return post.drop_vars(COLLAPSED_SCATTER).assign(corr=scatter.copy(data=corr))


def with_integrated_scales(post: xr.Dataset, scales: list[IntegratedScale],
                           seed: int) -> xr.Dataset:
    """``post`` with each integrated scale drawn given its block, one per posterior draw
    (:func:`vp_bayes.model.scales.draw_scale`)."""
    for k, spec in enumerate(scales):
        block = post[spec.block].transpose("chain", "draw", ...)
        axes = tuple(block.dims.index(d) - 2 for d in spec.sum_dims)
        sigma = draw_scale(block.values, axes, spec.prior_sd,
                           np.random.default_rng([seed, 18, k]))
        post = post.assign({spec.scale: (("chain", "draw"), sigma)})
    return post


SCREENED_SIZE = 100  # variables of at most this many elements per draw: the stop's screen


def _stop_rule(every: int, saved: Callable[[xr.Dataset], xr.Dataset],
               tables: dict[int, pd.DataFrame], unsaved: set[str]) -> StopRule:
    """Stop when what the fit would save meets the fit warnings' bar.

    The screen: the variables of at most :data:`SCREENED_SIZE` elements that the fit saves
    as sampled (none of ``unsaved``), checked smallest first
    (:func:`vp_bayes.model.diagnostics.unconverged`): a necessary condition. Where it passes,
    the whole convergence table of the saved posterior is computed, kept in ``tables`` (the
    fit's table, when it stops there) and checked (:func:`vp_bayes.model.diagnostics.meets_bar`).
    """
    from vp_bayes.model.diagnostics import meets_bar, posterior_table, unconverged
    from vp_bayes.model.nutpie_path import StopRule

    def done(raw: xr.Dataset) -> bool:
        table = posterior_table(saved(raw), None)
        tables[raw.sizes["draw"]] = table
        return meets_bar(table)

    def screened(name: str, shape: tuple[int, ...]) -> bool:
        return _keep(name) and name not in unsaved and int(np.prod(shape)) <= SCREENED_SIZE

    return StopRule(every, done, screen=lambda raw: unconverged(raw) is None,
                    screened=screened)


def _not_saved_as_sampled(data: ModelData, model_config: ModelConfig) -> set[str]:
    """Sampled variables :func:`_saved_posterior` drops or replaces: the values' scatter, and
    ``corr`` and the integrated scales, which it may draw after sampling."""
    scales = {spec.scale for spec in integrated_scales(data, model_config)}
    return {COLLAPSED_SCATTER, "corr"} | scales


def _saved_posterior(post: xr.Dataset, data: ModelData, model_config: ModelConfig,
                     seed: int) -> xr.Dataset:
    """The sampler's draws as a fit saves them: ``corr`` drawn where the values' covariance
    was integrated out, the integrated scales drawn, and the sampler's helpers dropped (the
    same for a stopping rule's checkpoints as for the end: the same draws give the same
    result)."""
    if COLLAPSED_SCATTER in post:
        post = _with_collapsed_correlation(post, collapsed_df(data, model_config), seed)
    post = with_integrated_scales(post, integrated_scales(data, model_config), seed)
    return post[[v for v in post.data_vars if _keep(str(v))]]


def _keep(name: str) -> bool:
    return not name.endswith(_DROP_SUFFIXES)


def traced_names(model: pm.Model, data: ModelData, model_config: ModelConfig) -> list[str]:
    """The variables a nutpie fit's trace keeps: those the fit saves (the sampler's helpers
    dropped) and those :func:`_saved_posterior` draws from (the values' scatter, the blocks
    of integrated scales)."""
    needed = {COLLAPSED_SCATTER} | {s.block for s in integrated_scales(data, model_config)}
    return [var.name for var in [*model.free_RVs, *model.deterministics]
            if _keep(var.name) or var.name in needed]


def _constant_data(data: ModelData) -> xr.Dataset:
    ds = xr.Dataset(
        {
            "rating_participant": ("rating", data.rating_participant),
            "rating_item": ("rating", data.rating_item),
            "rating_y": ("rating", data.rating_y),
        }
    )
    if data.values_z is not None:
        ds["values_z"] = ((dims.PARTICIPANT, dims.VALUE), data.values_z)
        ds["value_mean"] = ((dims.VALUE,), data.value_mean)
        ds["value_sd"] = ((dims.VALUE,), data.value_sd)
    if data.calibration is not None:  # the covariates and the latent population they imply
        cal = data.calibration
        cross = (dims.VALUE, f"{dims.VALUE}_b")
        ds["values_calibrated"] = ((dims.PARTICIPANT, dims.VALUE), cal.predicted)
        ds["value_population_cov"] = (cross, cal.population_cov)
        ds["value_conditional_cov"] = (cross, cal.conditional_cov)
    if data.dif is not None:  # each participant's DIF group code (-1 = unknown)
        ds["dif_group"] = ((dims.PARTICIPANT,), data.dif.codes)
    ds = ds.assign_coords({dims.PARTICIPANT: list(data.participants),
                           dims.VALUE: list(data.values)})
    return ds


class PreparedFit(NamedTuple):
    """What :func:`fit_wave` samples: the wave's model data, the configs resolved for its
    value input (as the fit saves them) and the model built from them."""

    data: ModelData
    model_config: ModelConfig
    sampler_config: SamplerConfig
    model: pm.Model


def prepare_fit(wave: Wave, model_config: ModelConfig | None = None,
                sampler_config: SamplerConfig | None = None) -> PreparedFit:
    """Validate the configs, prepare the wave's data, resolve every ``None`` ("auto")
    setting for its value input and build the model, as :func:`fit_wave` does before it
    samples (benchmarks that time the sampler alone start here).

    Parameters
    ----------
    wave
        A validated survey wave.
    model_config, sampler_config
        Defaults: :class:`ModelConfig()`, :class:`SamplerConfig()`.

    Returns
    -------
    PreparedFit
    """
    model_config = model_config or ModelConfig()
    sampler_config = sampler_config or SamplerConfig()
    model_config.validate()
    sampler_config.validate()
    data = prepare_data(wave, model_config)
    # saved as run: "auto" geometry settings take what they mean for the resolved value input
    model_config = resolve_model_config(model_config, data.value_input)
    sampler_config = resolve_sampler_config(sampler_config, data.value_input, model_config)
    model = build_model_from_data(data, model_config,
                                  fused=bool(sampler_config.fused_likelihood))
    return PreparedFit(data, model_config, sampler_config, model)


def fit_wave(
    wave: Wave,
    model_config: ModelConfig | None = None,
    sampler_config: SamplerConfig | None = None,
    *,
    progress: bool = True,
    ppc_draws: int = 200,
) -> ItemModel:
    """Build and fit the item model of a wave.

    Parameters
    ----------
    wave
        A validated survey wave.
    model_config, sampler_config
        Defaults: :class:`ModelConfig()`, :class:`SamplerConfig()` (nutpie, 4 chains x
        (400 warm-up + 1000 draws)).
    progress
        Show the sampler's progress bar.
    ppc_draws
        Posterior draws used for the posterior predictive check of item distributions.

    Returns
    -------
    ItemModel
    """
    from vp_bayes.model.diagnostics import convergence_table, posterior_predictive_items

    data, model_config, sampler_config, model = prepare_fit(wave, model_config, sampler_config)

    def saved(raw: xr.Dataset) -> xr.Dataset:
        return _saved_posterior(raw, data, model_config, sampler_config.seed)

    tables: dict[int, pd.DataFrame] = {}  # the stopping rule's tables, by draws per chain
    stop = None
    if sampler_config.check_every is not None:
        stop = _stop_rule(sampler_config.check_every, saved, tables,
                          unsaved=_not_saved_as_sampled(data, model_config))
    start = time.perf_counter()
    idata = _sample(model, sampler_config, progress, stop,
                    trace=traced_names(model, data, model_config))
    seconds = time.perf_counter() - start

    post = saved(idata["posterior"].to_dataset())
    groups = {"posterior": post, "constant_data": _constant_data(data)}
    if "sample_stats" in idata.children:
        groups["sample_stats"] = idata["sample_stats"].to_dataset()
    tree = xr.DataTree.from_dict(groups)
    tree.attrs.update(n_categories=data.n_categories, scale_min=data.scale_min,
                      value_input=data.value_input, draws_sampled=int(post.sizes["draw"]))
    if sampler_config.sampler in NUTS_SAMPLERS:
        tree.attrs["chain_start"] = resolve_init(model, sampler_config)
    table = tables.get(post.sizes["draw"])  # where the fit stopped: the rule's own table
    tree["ppc"] = xr.DataTree(posterior_predictive_items(tree, model_config, ppc_draws,
                                                         seed=sampler_config.seed))
    return ItemModel(
        idata=tree,
        model_config=model_config,
        sampler_config=sampler_config,
        wave_hash=wave.data_hash(),
        diagnostics=table if table is not None else convergence_table(tree),
        wave_name=wave.manifest.name,
        fit_seconds=seconds,
    )


def stopped_at(item_model: ItemModel) -> int | None:
    """The draws per chain where a fit stopped at the convergence bar before its budget
    (``SamplerConfig.check_every``), or None (it ran its budget, or it was saved before fits
    recorded ``draws_sampled``)."""
    sampled = item_model.idata.attrs.get("draws_sampled")
    cfg = item_model.sampler_config
    if sampled is None or cfg.check_every is None or int(sampled) >= cfg.draws:
        return None
    return int(sampled)


def thin(item_model: ItemModel, keep_draws: int) -> ItemModel:
    """Keep about ``keep_draws`` evenly spaced draws per chain (for compact saved models)."""
    post = item_model.posterior
    n = post.sizes["draw"]
    if keep_draws >= n:
        return item_model
    idx = np.linspace(0, n - 1, keep_draws).round().astype(int)
    tree = item_model.idata.copy()
    tree["posterior"] = xr.DataTree(post.isel(draw=idx))
    from dataclasses import replace

    return replace(item_model, idata=tree)

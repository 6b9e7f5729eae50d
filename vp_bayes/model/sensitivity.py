"""Power-scaling sensitivity of a fitted item model to its prior and to its likelihood.

The priorsense approach (Kallioinen, Paananen, Buerkner & Vehtari 2024, Stat Comput 34, 57):
raise the prior (or the likelihood) to a power ``a`` near 1, reweight the posterior draws by
Pareto-smoothed importance sampling (weights ``p^(a - 1)``), and measure how far each
quantity's posterior moves: the cumulative Jensen-Shannon distance between the reweighted and
the original draws, divided by ``|log a|`` and averaged over ``a = 0.99`` and ``1.01``
(:func:`arviz_stats.psense`, computed here for many elements at once:
:func:`power_scale_sensitivity`). A quantity is prior-sensitive above :data:`SENSITIVITY_MIN`
(0.05, priorsense's threshold); prior- and likelihood-sensitive together is a possible
prior-data conflict; prior-sensitive with a likelihood sensitivity below the threshold is a
strong prior with a weak likelihood.

What is power-scaled (:func:`power_scaled_priors`): the top-level priors, as priorsense
recommends for hierarchical models; the priors of the standardised item-, participant-,
question- and group-level deviations are left alone (they carry the hierarchy, whose scales
are among the scaled hyperpriors). The log prior is the model's own (built by
:func:`~vp_bayes.model.build.build_model` from the fitted wave, evaluated at the posterior
draws on the constrained scale, without Jacobian); the log likelihood is that of the item
ratings, summed per draw (:func:`~vp_bayes.model.diagnostics.rating_log_likelihood_total`:
psense power-scales the sum). With latent values the
questionnaire or pre-scored-value terms are part of the likelihood too but are not scaled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.diagnostics import SENSITIVITY_MIN

if TYPE_CHECKING:
    import pymc as pm

    from vp_bayes.model.fit import ItemModel
    from vp_bayes.wave.core import Wave

# Top-level priors other than the scales ``sigma_*`` (response style, item locations,
# demographic axes), which are all power-scaled.
TOP_LEVEL = ("beta_mean", "beta_mean_raw", "beta_sd", "kappa_first", "kappa_log_gaps",
             "kappa_first_mean", "kappa_first_sd", "kappa_log_gap_mean", "kappa_log_gap_sd",
             "corr_chol", "beta_slab2", "dif_location_sd", "dif_location_slab2",
             "dif_loading_sd", "dif_loading_slab2")
ALPHAS = (0.99, 1.01)  # priorsense's powers around 1
N_NOISE = 100  # independent noise columns whose sensitivity is the Monte Carlo floor
_NOISE = "_noise_floor"
CONFLICT = "prior-data conflict"
WEAK_LIKELIHOOD = "strong prior, weak likelihood"
NONE = "none"
_ORDER = {NONE: 0, WEAK_LIKELIHOOD: 1, CONFLICT: 2}
# Participant-level quantities are not reported (thousands of elements, each informed by one
# person's answers).
_NOT_REPORTED_DIMS = (dims.PARTICIPANT,)


@dataclass(frozen=True)
class PriorSensitivity:
    """Power-scaling sensitivity of a fit.

    Attributes
    ----------
    table
        One row per reported posterior variable (index ``variable``): ``level``
        (``population``, ``group`` or ``item``), ``n_elements``, ``prior`` and
        ``likelihood`` (the largest sensitivity over its elements), ``n_flagged`` (elements
        with a diagnosis) and ``diagnosis`` (the worst over its elements: ``prior-data
        conflict``, ``strong prior, weak likelihood`` or ``none``).
    elements
        One row per element of the population- and group-level variables: ``variable``,
        ``element`` (coordinates as text), ``prior``, ``likelihood``, ``diagnosis``.
    power_scaled
        Names of the priors that were power-scaled.
    pareto_k
        Pareto k-hat of the importance weights, the larger of the two powers, by component
        (``prior``, ``likelihood``): above :attr:`pareto_k_max` the reweighting, and so the
        sensitivity of that component, is unreliable.
    pareto_k_max
        priorsense's bound ``min(1 - 1 / log10(S), 0.7)`` for S draws.
    noise_floor
        By component, the median sensitivity of :data:`N_NOISE` columns of independent
        standard normal draws under the same weights: what Monte Carlo noise alone gives with
        these draws (a posterior quantity near it shows no measurable sensitivity).
    threshold
        The sensitivity threshold (:data:`SENSITIVITY_MIN`).
    """

    table: pd.DataFrame
    elements: pd.DataFrame
    power_scaled: tuple[str, ...]
    pareto_k: dict[str, float]
    pareto_k_max: float
    noise_floor: dict[str, float]
    threshold: float = SENSITIVITY_MIN

    def flagged(self) -> pd.DataFrame:
        """The rows of :attr:`table` with a diagnosis."""
        return self.table[self.table["diagnosis"] != NONE]


def power_scaled_priors(model: pm.Model) -> tuple[str, ...]:
    """The model's top-level priors, in model order: every free variable named ``sigma_*``
    (scales of response style, item locations, demographic effects) or in :data:`TOP_LEVEL`
    (mean loadings, loading scales, shared cutpoints or the cutpoints' population means and
    scales, the values' LKJ correlation, the horseshoe slabs, the DIF effects' global scales
    and slabs). The horseshoes' local scales are item-level and not scaled."""
    return tuple(rv.name for rv in model.free_RVs
                 if rv.name in TOP_LEVEL or rv.name.startswith("sigma_"))


def diagnose(prior: float, likelihood: float, threshold: float = SENSITIVITY_MIN) -> str:
    """priorsense's diagnosis of one quantity from its two sensitivities."""
    if prior >= threshold and likelihood >= threshold:
        return CONFLICT
    if prior >= threshold:
        return WEAK_LIKELIHOOD
    return NONE


def _saved_value(name: str, post: xr.Dataset) -> np.ndarray:
    """Draws ``(S, ...)`` of a prior's variable, recovered when the fit did not save it."""
    def flat(da: xr.DataArray) -> np.ndarray:
        da = da.stack({dims.SAMPLE: ("chain", "draw")})
        return np.asarray(da.transpose(dims.SAMPLE, ...).values, dtype=float)

    if name in post:
        return flat(post[name])
    if name == "corr_chol" and "corr" in post:
        return np.linalg.cholesky(flat(post["corr"]))
    if name == "kappa_first" and "kappa" in post:
        return flat(post["kappa"])[..., 0]
    if name == "kappa_log_gaps" and "kappa" in post:
        return np.log(np.diff(flat(post["kappa"]), axis=-1))
    if name == "beta_mean_raw" and "beta_mean" in post:
        # Only the identified part is saved; the null-direction part is a priori and a
        # posteriori independent of everything else, so setting it to 0 scales the prior of
        # the identified part (its density differs by a factor of that part alone).
        return flat(post["beta_mean"])
    raise InputError("the posterior lacks what this prior's variable is computed from",
                     field=name)


def prior_terms(item_model: ItemModel, wave: Wave, priors: tuple[str, ...] | None = None,
                ) -> tuple[tuple[str, ...], list, list]:
    """The power-scaled priors' names, value variables and elementwise log density terms.

    The model is built from ``wave`` with the fit's settings (the value input it resolved to)
    and its value transforms removed, so the terms are the priors' densities on the
    constrained scale, without Jacobian. ``priors`` limits them to some of
    :func:`power_scaled_priors`.
    """
    from pymc.model.transform.conditioning import remove_value_transforms

    from vp_bayes.model.build import build_model

    if wave.data_hash() != item_model.wave_hash:
        raise InputError("the wave differs from the one this model was fitted on (data hash "
                         "mismatch)", field="wave_hash")
    config = item_model.model_config
    resolved = item_model.idata.attrs.get("value_input")
    if resolved and config.value_input == "auto":
        config = replace(config, value_input=str(resolved))
    # Integrated scales are saved as draws of the same model's scales: their priors are
    # terms of the model whose scales are sampled (integrate_scales off).
    model = build_model(wave, replace(config, integrate_scales=False))
    names = power_scaled_priors(model)
    if priors is not None:
        unknown = sorted(set(priors) - set(names))
        if unknown:
            raise InputError(f"not a top-level prior of this model (those: {', '.join(names)})",
                             field=", ".join(unknown))
        names = tuple(n for n in names if n in priors)
    model = remove_value_transforms(model)
    rvs = [model[n] for n in names]
    return (names, [model.rvs_to_values[rv] for rv in rvs],
            model.logp(vars=rvs, jacobian=False, sum=False))


def log_prior(item_model: ItemModel, wave: Wave,
              priors: tuple[str, ...] | None = None) -> xr.Dataset:
    """Log density of each power-scaled prior at every posterior draw.

    The terms of :func:`prior_terms` (``priors`` limits them), compiled once into one
    function of every draw at once.

    Returns
    -------
    xarray.Dataset
        One ``(chain, draw)`` variable per power-scaled prior.
    """
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    names, values, terms = prior_terms(item_model, wave, priors)
    # Every draw at once: each value gets a leading draw axis, each term's sum becomes a
    # sum per draw (PyTensor's vectorize_graph; the same operations as draw by draw).
    batched = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape))
               for v in values]
    sums = vectorize_graph([t.sum() for t in terms],
                           replace=dict(zip(values, batched, strict=True)))
    fn = pytensor.function(batched, sums, mode="FAST_COMPILE")
    post = item_model.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    out = fn(*(_saved_value(n, post) for n in names))
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    return xr.Dataset({n: (("chain", "draw"), np.reshape(out[k], (n_chain, n_draw)))
                       for k, n in enumerate(names)}, coords=coords)


def _reported(post: xr.Dataset) -> list[str]:
    return [str(v) for v, da in post.data_vars.items()
            if not any(d in da.dims for d in _NOT_REPORTED_DIMS)]


def _level(da: xr.DataArray) -> str:
    if dims.ITEM in da.dims:
        return "item"
    return "group" if any(str(d).startswith("group") for d in da.dims) else "population"


def _element_names(da: xr.DataArray) -> list[str]:
    if not da.dims:
        return [""]
    index = da.stack(_e=da.dims)["_e"].values
    return [",".join(map(str, e)) if isinstance(e, tuple) else str(e) for e in index]


def _pareto_k(total: xr.DataArray) -> float:
    """Largest Pareto k-hat of the weights ``exp((a - 1) total)`` over the powers ``a``."""
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)

    out = []
    for a in ALPHAS:
        lw = (a - 1.0) * total
        w = np.exp(lw - lw.max())
        out.append(float(w.azstats.pareto_khat(sample_dims=["chain", "draw"], tail="right")))
    return max(out)


def power_scale_weights(total: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """psense's importance weights for power-scaling a component by each of :data:`ALPHAS`:
    Pareto-smoothed ``exp((a - 1) total)`` (arviz-stats' ``power_scale_lw``), normalised,
    flat in (chain, draw) order. ``total`` is the component's log density per draw."""
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)

    out = []
    for a in ALPHAS:
        lw = total.azstats.power_scale_lw(alpha=a, dim=["chain", "draw"])
        w = np.exp(lw.transpose("chain", "draw").values.ravel())
        out.append(w / w.sum())
    return out[0], out[1]


def _cjs(width: np.ndarray, sorted_weights: np.ndarray, cdf_p: np.ndarray) -> np.ndarray:
    """Cumulative Jensen-Shannon distance between each row's draws and their reweighting
    (arviz-stats' ``_cjs_dist`` for a batch): ``width`` (B, S - 1) the gaps between the sorted
    draws, ``sorted_weights`` (B, S) the weights in that order, ``cdf_p`` the unweighted
    ECDF (S - 1)."""
    cdf_q = np.cumsum(sorted_weights, axis=1)[:, :-1] / sorted_weights.sum(axis=1)[:, None]
    p_int = width @ cdf_p
    q_int = np.einsum("bs,bs->b", cdf_q, width)
    log_p = np.log2(cdf_p)
    log_q = np.log2(cdf_q, out=np.zeros_like(cdf_q), where=cdf_q != 0)
    mid = 0.5 * (cdf_p + cdf_q)
    log_mid = np.log2(mid, out=np.zeros_like(mid), where=mid != 0)
    half = 0.5 / np.log(2)
    pq = np.einsum("bs,bs->b", width * cdf_p, log_p - log_mid) + half * (q_int - p_int)
    qp = np.einsum("bs,bs->b", width * cdf_q, log_q - log_mid) + half * (p_int - q_int)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant row: 0 / 0, NaN
        return np.sqrt((np.maximum(pq, 0.0) + np.maximum(qp, 0.0)) / (p_int + q_int))


def _sensitivity_rows(draws: np.ndarray, weights: dict[str, tuple[np.ndarray, np.ndarray]],
                      ) -> dict[str, np.ndarray]:
    """Power-scaling sensitivity of each row of ``draws`` (B, S) for each component's
    (lower, upper) weights: arviz-stats' ``power_scale_sense`` with one sort per row shared
    by the components, the distance of ``-x`` read from the same order reversed."""
    order = np.argsort(draws, axis=1)
    width = np.diff(np.take_along_axis(draws, order, axis=1), axis=1)
    n = draws.shape[1]
    cdf_p = np.linspace(1 / n, 1 - 1 / n, n - 1)
    out = {}
    for name, pair in weights.items():
        grads = []
        for w, a in zip(pair, ALPHAS, strict=True):
            ws = w[order]
            cjs = np.maximum(_cjs(width, ws, cdf_p), _cjs(width[:, ::-1], ws[:, ::-1], cdf_p))
            grads.append(cjs / np.log2(a))
        out[name] = (grads[1] - grads[0]) / 2
    return out


def power_scale_sensitivity(ds: xr.Dataset, totals: dict[str, xr.DataArray],
                            batch: int = 64) -> dict[str, xr.Dataset]:
    """psense (arviz-stats) of every variable of ``ds`` for each component in ``totals``
    (its log density summed per draw): the same estimator, computed for batches of elements
    at once on :func:`~vp_bayes.model.diagnostics._threads` threads.

    Returns
    -------
    dict
        Per component, a Dataset of the sensitivities (the variables' dims without chain
        and draw).
    """
    from concurrent.futures import ThreadPoolExecutor

    from vp_bayes.model.diagnostics import _threads

    for name, total in totals.items():  # draws and weights are matched by position
        for dim in ("chain", "draw"):
            if total.sizes[dim] != ds.sizes[dim] or not np.array_equal(total[dim].values,
                                                                       ds[dim].values):
                raise ValueError(f"the {name} log density and the draws differ in {dim}")
    if not ds.data_vars:
        return {component: xr.Dataset() for component in totals}
    weights = {name: power_scale_weights(total) for name, total in totals.items()}
    blocks, shapes = [], {}
    for name, da in ds.data_vars.items():
        da = da.transpose(..., "chain", "draw")
        shapes[name] = da.isel(chain=0, draw=0, drop=True)
        blocks.append(np.asarray(da.values, dtype=float).reshape(-1, da.sizes["chain"]
                                                                  * da.sizes["draw"]))
    rows = np.concatenate(blocks)
    starts = range(0, rows.shape[0], batch)
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        parts = list(pool.map(lambda k: _sensitivity_rows(rows[k:k + batch], weights), starts))
    out = {}
    for component in totals:
        flat = np.concatenate([part[component] for part in parts])
        result, first = {}, 0
        for name, template in shapes.items():
            size = template.size
            result[name] = template.copy(data=flat[first:first + size].reshape(template.shape))
            first += size
        out[component] = xr.Dataset(result)
    return out


def prior_sensitivity(item_model: ItemModel, wave: Wave, *,
                      priors: tuple[str, ...] | None = None,
                      threshold: float = SENSITIVITY_MIN) -> PriorSensitivity:
    """Power-scaling sensitivity of the fit's population-, group- and item-level parameters.

    Parameters
    ----------
    item_model
        A fitted model (draws of ``beta``, ``kappa``, ...).
    wave
        The wave it was fitted on (same data hash): the prior is evaluated on its model.
    priors
        Power-scale only these top-level priors (default: all of
        :func:`power_scaled_priors`, jointly).
    threshold
        Sensitivity above which a quantity is flagged (priorsense: 0.05).

    Returns
    -------
    PriorSensitivity

    Raises
    ------
    InputError
        When the wave is not the fitted one, or ``priors`` names no top-level prior.
    """
    from vp_bayes.model.diagnostics import rating_log_likelihood_total

    post = item_model.posterior
    names = _reported(post)
    lp = log_prior(item_model, wave, priors)
    ll = rating_log_likelihood_total(item_model)  # psense power-scales the sum anyway
    noise = np.random.default_rng(0).standard_normal(
        (post.sizes["chain"], post.sizes["draw"], N_NOISE))
    draws = post[names]
    draws[_NOISE] = (("chain", "draw", "_noise"), noise)
    totals = {"prior": lp.to_array().sum("variable"), "likelihood": ll}
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    sens = power_scale_sensitivity(draws, totals)
    rows, elements = [], []
    for name in names:
        prior = np.ravel(sens["prior"][name].values)
        like = np.ravel(sens["likelihood"][name].values)
        verdicts = [diagnose(p, q, threshold) for p, q in zip(prior, like, strict=True)]
        level = _level(post[name])
        rows.append(dict(variable=name, level=level, n_elements=prior.size,
                         prior=float(np.nanmax(prior)), likelihood=float(np.nanmax(like)),
                         n_flagged=sum(v != NONE for v in verdicts),
                         diagnosis=max(verdicts, key=_ORDER.__getitem__)))
        if level != "item":
            for el, p, q, v in zip(_element_names(sens["prior"][name]), prior, like, verdicts,
                                   strict=True):
                elements.append(dict(variable=name, element=el, prior=float(p),
                                     likelihood=float(q), diagnosis=v))
    return PriorSensitivity(table=pd.DataFrame(rows).set_index("variable"),
                            elements=pd.DataFrame(elements), power_scaled=tuple(lp.data_vars),
                            pareto_k={k: _pareto_k(v) for k, v in totals.items()},
                            pareto_k_max=min(1.0 - 1.0 / np.log10(n_draws), 0.7),
                            noise_floor={k: float(np.median(v[_NOISE].values))
                                         for k, v in sens.items()},
                            threshold=threshold)


def sensitivity_lines(result: PriorSensitivity) -> list[str]:
    """The model card's "Prior sensitivity" section (Markdown lines, without the heading)."""
    lines = [
        f"Power-scaling (priorsense; powers {ALPHAS[0]} and {ALPHAS[1]}) of the top-level "
        f"priors ({', '.join(f'`{n}`' for n in result.power_scaled)}) and of the item "
        f"ratings' likelihood; flagged at sensitivity >= {result.threshold}. Prior and "
        "likelihood columns are the largest over each variable's elements. Pareto k-hat of the "
        f"importance weights: prior {result.pareto_k['prior']:.2f}, likelihood "
        f"{result.pareto_k['likelihood']:.2f} (reliable below {result.pareto_k_max:.2f}"
        + ("" if max(result.pareto_k.values()) <= result.pareto_k_max else
           "; above it, that component's sensitivities are unreliable: more draws help")
        + "). Monte Carlo noise floor (the median sensitivity of independent noise under the "
        f"same weights): prior {result.noise_floor['prior']:.3f}, likelihood "
        f"{result.noise_floor['likelihood']:.3f}; a value near its floor shows no measurable "
        "sensitivity, and a likelihood floor above the threshold means these draws cannot tell "
        "a prior-data conflict from a strong prior with a weak likelihood.",
        "",
        "| variable | level | elements | prior | likelihood | flagged | diagnosis |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in result.table.iterrows():
        lines.append(f"| {name} | {row['level']} | {row['n_elements']} | {row['prior']:.3f} | "
                     f"{row['likelihood']:.3f} | {row['n_flagged']} | {row['diagnosis']} |")
    flagged = (result.elements[result.elements["diagnosis"] != NONE]
               if len(result.elements) else result.elements)
    if len(flagged):
        lines += ["", "Flagged population- and group-level elements:", ""]
        lines += [f"- {r.variable}[{r.element}]: prior {r.prior:.3f}, likelihood "
                  f"{r.likelihood:.3f} ({r.diagnosis})" if r.element else
                  f"- {r.variable}: prior {r.prior:.3f}, likelihood {r.likelihood:.3f} "
                  f"({r.diagnosis})" for r in flagged.itertuples()]
    return lines

"""Posterior draws of group means and contrasts, as xarray, and their tidy summaries.

Every contrast array has dims ``(contrast, sample, value)`` and per-contrast coordinates
``axis, group_a, group_b, model`` (``model`` is ``""`` on the human side). A pair contrast is
``group_a - group_b`` with the groups of an axis in sorted order and ``group_a`` the later one
(``male - female``, ``60-79 - 20-39``), so the human and LLM sides always line up.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes import dims
from vp_bayes.dims import (
    CENTERED,
    CHAIN,
    DRAW,
    GROUP,
    INTERVAL_MASS,
    LATENT,
    RESPONDENT,
    SAMPLE,
    SCALES,
    VALUE,
    Scale,
    parse_respondent,
)
from vp_bayes.errors import InputError

CONTRAST = "contrast"  # dimension of stacked contrasts (local to this layer)
POPULATION = "population"  # group_b of a group-mean row (group minus population mean)
UNPROMPTED = "unprompted"  # group_b of a persona shift (persona minus the plain model)
LABELS = ("axis", "group_a", "group_b", "model")
COLUMNS = ["axis", "group_a", "group_b", "value", "source", "model", "mean", "lower", "upper",
           "prob_positive", "mass"]


# --- access to the layers' objects -------------------------------------------------------
def posterior_dataset(item_model: object) -> xr.Dataset:
    """The posterior Dataset of an ``ItemModel``, an ``xr.DataTree`` or a posterior Dataset."""
    if isinstance(item_model, xr.Dataset):
        return item_model
    if isinstance(item_model, xr.DataTree):
        if "posterior" not in item_model.children:
            raise InputError("the inference data has no 'posterior' group", field="posterior")
        return item_model["posterior"].to_dataset()
    post = getattr(item_model, "posterior", None)
    if isinstance(post, xr.DataTree):
        return post.to_dataset()
    if isinstance(post, xr.Dataset):
        return post
    raise TypeError(f"expected an ItemModel, DataTree or Dataset, got {type(item_model)!r}")


def portraits_dataset(portraits: object) -> xr.Dataset:
    """The draws Dataset of a ``Portraits`` object (or the Dataset itself)."""
    ds = portraits if isinstance(portraits, xr.Dataset) else getattr(portraits, "draws", None)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"expected Portraits or an xr.Dataset, got {type(portraits)!r}")
    if "theta" not in ds:
        raise InputError("portraits have no 'theta' draws", field="theta")
    return ds


def stack_samples(da: xr.DataArray) -> xr.DataArray:
    """Stack ``(chain, draw)`` into ``sample`` (integer coordinate), ``sample`` before value."""
    if SAMPLE not in da.dims:
        da = da.stack({SAMPLE: (CHAIN, DRAW)})
        da = da.drop_vars([SAMPLE, CHAIN, DRAW], errors="ignore")
    da = da.assign_coords({SAMPLE: np.arange(da.sizes[SAMPLE])})
    rest = [d for d in da.dims if d not in (SAMPLE, VALUE)]
    return da.transpose(*rest, SAMPLE, VALUE)


def model_axes(post: xr.Dataset) -> tuple[str, ...]:
    """Demographic axes with an ``effect_{axis}`` variable over ``group_{axis}``."""
    out = []
    for name in post.data_vars:
        axis = str(name).removeprefix("effect_")
        if str(name).startswith("effect_") and f"{GROUP}_{axis}" in post[name].dims:
            out.append(axis)
    return tuple(out)


def model_group_draws(item_model: object, axes=None) -> dict[str, xr.DataArray]:
    """Posterior draws of each group's mean latent values (= ``effect_{axis}``; pop. mean 0).

    Returns
    -------
    dict
        axis -> DataArray ``(group, sample, value)``, groups sorted.

    Raises
    ------
    InputError
        If the model has no demographic effects or lacks a requested axis.
    """
    post = posterior_dataset(item_model)
    have = model_axes(post)
    if not have:
        raise InputError("the item model has no demographic group effects (its wave had no "
                         "demographic columns); give an external --reference", field="axis")
    out = {}
    for axis in have if axes is None else axes:
        if axis not in have:
            raise InputError(f"the item model has no axis {axis!r} (axes: {', '.join(have)})",
                             field="axis")
        da = stack_samples(post[f"effect_{axis}"]).rename({f"{GROUP}_{axis}": GROUP})
        da = da.assign_coords({GROUP: [str(g) for g in da[GROUP].values]})
        out[axis] = da.sortby(GROUP)
    return out


def group_draws(source: object, axes=None, n_draws: int | None = None,
                seed: int | None = None) -> dict[str, xr.DataArray]:
    """Group-mean draws from an item model or an external :class:`Reference`."""
    from vp_bayes.contrasts.reference import (
        REFERENCE_DRAWS,
        REFERENCE_SEED,
        Reference,
        reference_group_draws,
    )

    if isinstance(source, Reference):
        return reference_group_draws(source, axes, n_draws or REFERENCE_DRAWS,
                                     REFERENCE_SEED if seed is None else seed)
    return model_group_draws(source, axes)


# --- building contrast arrays ------------------------------------------------------------
def _stack(parts: list[tuple[dict[str, str], np.ndarray]], values, n_samples: int) -> xr.DataArray:
    data = (np.stack([p[1] for p in parts]) if parts
            else np.zeros((0, n_samples, len(values))))
    coords = {lab: (CONTRAST, [p[0].get(lab, "") for p in parts]) for lab in LABELS}
    coords |= {CONTRAST: np.arange(len(parts)), SAMPLE: np.arange(data.shape[1]),
               VALUE: list(values)}
    return xr.DataArray(data, dims=(CONTRAST, SAMPLE, VALUE), coords=coords)


def pair_draws(groups: dict[str, xr.DataArray]) -> xr.DataArray:
    """Every within-axis pair ``group_a - group_b`` (later minus earlier in sorted order)."""
    parts, values, n = [], None, 0
    for axis, da in groups.items():
        values, n = da[VALUE].values, da.sizes[SAMPLE]
        names = sorted(str(g) for g in da[GROUP].values)
        for b, a in combinations(names, 2):
            diff = (da.sel({GROUP: a}) - da.sel({GROUP: b})).values
            parts.append(({"axis": axis, "group_a": a, "group_b": b}, diff))
    return _stack(parts, [] if values is None else values, n)


def mean_draws(groups: dict[str, xr.DataArray]) -> xr.DataArray:
    """Each group's mean minus the population mean (``group_b = "population"``)."""
    parts, values, n = [], None, 0
    for axis, da in groups.items():
        values, n = da[VALUE].values, da.sizes[SAMPLE]
        for g in da[GROUP].values:
            parts.append(({"axis": axis, "group_a": str(g), "group_b": POPULATION},
                          da.sel({GROUP: g}).values))
    return _stack(parts, [] if values is None else values, n)


def center(da: xr.DataArray) -> xr.DataArray:
    """Subtract the mean over values, draw by draw (the ``centered`` scale)."""
    return da - da.mean(VALUE)


def check_scale(scale: str) -> Scale:
    """``scale`` if it is one of :data:`vp_bayes.dims.SCALES`, else an ``InputError``."""
    if scale not in SCALES:
        raise InputError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}",
                         field="scale")
    return scale  # type: ignore[return-value]


def portrait_draws(portraits: object, scale: Scale = LATENT) -> xr.DataArray:
    """Respondents' value draws ``(respondent, sample, value)`` on the latent or centered scale."""
    ds = portraits_dataset(portraits)
    if check_scale(scale) == CENTERED:
        ds = dims.current_variables(ds)
        da = ds[dims.THETA_CENTERED] if dims.THETA_CENTERED in ds else center(ds[dims.THETA])
    else:
        da = ds[dims.THETA]
    da = stack_samples(da)
    return da.assign_coords({RESPONDENT: [str(r) for r in da[RESPONDENT].values]})


def persona_groups(draws: xr.DataArray, axes) -> dict[tuple[str, str], dict[str, str]]:
    """``(model, axis) -> {group: respondent}`` for the single-attribute personas."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for name in draws[RESPONDENT].values:
        model, attrs = parse_respondent(str(name))
        if len(attrs) == 1:
            (axis, group), = attrs.items()
            if axes is None or axis in axes:
                out.setdefault((model, axis), {})[group] = str(name)
    return out


def persona_pair_draws(portraits: object, scale: Scale = LATENT, axes=None) -> xr.DataArray:
    """Persona contrasts ``model|axis=a - model|axis=b`` within each model and axis."""
    draws = portrait_draws(portraits, scale)
    parts = []
    for (model, axis), members in persona_groups(draws, axes).items():
        for b, a in combinations(sorted(members), 2):
            diff = (draws.sel({RESPONDENT: members[a]})
                    - draws.sel({RESPONDENT: members[b]})).values
            parts.append(({"axis": axis, "group_a": a, "group_b": b, "model": model}, diff))
    return _stack(parts, draws[VALUE].values, draws.sizes[SAMPLE])


def persona_shift_draws(portraits: object, scale: Scale = LATENT, axes=None) -> xr.DataArray:
    """Persona shifts ``model|axis=g - model`` (the same model without a persona)."""
    draws = portrait_draws(portraits, scale)
    names = set(draws[RESPONDENT].values.tolist())
    parts = []
    for (model, axis), members in persona_groups(draws, axes).items():
        if model not in names:
            continue
        for g in sorted(members):
            diff = (draws.sel({RESPONDENT: members[g]}) - draws.sel({RESPONDENT: model})).values
            parts.append(({"axis": axis, "group_a": g, "group_b": UNPROMPTED, "model": model},
                          diff))
    return _stack(parts, draws[VALUE].values, draws.sizes[SAMPLE])


def resample(da: xr.DataArray, n: int, rng: np.random.Generator) -> xr.DataArray:
    """``n`` draws of the ``sample`` dim in random order (with replacement only if n > S)."""
    size = da.sizes[SAMPLE]
    idx = rng.choice(size, size=n, replace=n > size)
    return da.isel({SAMPLE: idx}).assign_coords({SAMPLE: np.arange(n)})


# --- summaries ---------------------------------------------------------------------------
def interval_bounds(mass: float) -> tuple[float, float]:
    """Quantile levels of the equal-tailed interval of ``mass``."""
    if not 0.0 < mass < 1.0:
        raise InputError(f"must lie strictly between 0 and 1, got {mass}", field="mass")
    return (1.0 - mass) / 2.0, (1.0 + mass) / 2.0


def summarise(draws: xr.DataArray, source: str, mass: float = INTERVAL_MASS) -> pd.DataFrame:
    """Tidy table (:data:`COLUMNS`) of a contrast array: mean, equal-tailed interval, P(> 0)."""
    lo, hi = interval_bounds(mass)
    arr = draws.transpose(CONTRAST, SAMPLE, VALUE).values
    n_c, _, n_v = arr.shape
    q = np.quantile(arr, [lo, hi], axis=1) if n_c else np.zeros((2, 0, n_v))
    table = pd.DataFrame({
        lab: np.repeat(draws[lab].values.astype(str), n_v) for lab in LABELS
    })
    table["value"] = np.tile(draws[VALUE].values.astype(str), n_c)
    table["source"] = source
    table["mean"] = arr.mean(axis=1).reshape(-1)
    table["lower"] = q[0].reshape(-1)
    table["upper"] = q[1].reshape(-1)
    table["prob_positive"] = (arr > 0).mean(axis=1).reshape(-1)
    table["mass"] = mass
    return table[COLUMNS]

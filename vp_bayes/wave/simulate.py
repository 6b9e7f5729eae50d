r"""Simulate a survey wave with known truth: the generative model the Bayesian model fits.

Notation: V = 10 basic values in :data:`vp_bayes.dims.VALUES_10` order, sigmoid = logistic,
``OrderedLogistic(eta, c)`` on categories 1..6 with ``P(y <= k) = sigmoid(c_k - eta)``.

Humans, i = 1..N
    Demographics: one group per axis, uniformly at random (default axes
    ``gender`` {female, male}, ``age`` {20-39, 40-59, 60-79}).
    Group effects ``effect_a[g] ~ N(0, effect_sd^2 I)`` per axis a, centred so they sum to
    zero over the groups of each axis; ``mu_i = sum_a effect_a[g_a(i)]`` (overall mean 0).
    Circumplex correlation ``R = w C + (1 - w) I`` with ``C_uv = cos(2 pi (u - v) / V)``,
    w = ``circumplex`` (0.6), reduced until R is positive definite.
    Latent values ``theta_i ~ MVN(mu_i, R)``; response style ``alpha_i ~ N(0, sigma_alpha^2)``.

PVQ-RR answers, questions k = 1..57 (``instrument.csv``)
    ``x_ik ~ OrderedLogistic(lam_k theta_{i, v(k)} + alpha_i, c_k)``, ``lam_k ~ U(0.8, 1.6)``,
    v(k) the question's basic value (:func:`vp_bayes.instruments.question_values`, level
    "values"); ``c_k = (-2.5, -1.3, -0.3, 0.7, 1.9) + s_k``, ``s_k ~ N(0, 0.3^2)``.
    Face questions have no basic value: ``eta = alpha_i + 0.5 theta_{i, power}``, recorded as
    ``lam_k = 0.5`` with ``question_value = "power"`` in the truth. With ``prescored=True``
    the wave holds ``values.csv`` = MRAT-centred 10-value scores of these answers instead.

Items, j = 1..J
    Sparse loadings ``beta_j``: 1 (prob 0.7) or 2 (prob 0.3) non-zero entries on distinct
    random values, magnitude ``U(0.5, 1.3)``, positive with prob 0.85; all others exactly 0.
    With ``loadings="heavy_tailed"`` instead: ``beta_jv = m_v + s_v t_jv``, ``t ~ Student-t
    (3 df)``, ``m_v ~ N(0.1, 0.05^2)``, ``s_v ~ U(0.2, 0.4)``: most loadings near zero, a
    few large, none exactly zero (the model's own prior family).
    Location ``b_j ~ N(0, 0.6^2)``; shared thresholds ``kappa = (-2.2, -1.1, -0.2, 0.7, 1.8)``.
    ``y_ij ~ OrderedLogistic(beta_j . theta_i + alpha_i + b_j, kappa)`` for a random subset
    of ``items_per_participant`` items per participant (planned missingness).

LLM respondents ``sim-llm-1..L`` (``llm_ratings.csv``)
    ``theta ~ MVN(0, R)``, ``alpha ~ N(0, sigma_alpha^2)``, variant offsets
    ``o_{r, variant} ~ N(0, 0.2^2)`` for the six prompt variants; every item is rated under
    every variant: ``y ~ OrderedLogistic(beta_j . theta + alpha + b_j + o, kappa)``.
    Personas (``personas=True``): for each axis a and group g, respondent
    ``sim-llm-1|a=g`` has ``theta = theta_{sim-llm-1} + effect_a[g] + d_a[g]`` with the
    distortion ``d_a[g] ~ N(0, 0.3^2 I)`` centred over the groups of the axis; it shares
    the base model's alpha and variant offsets.

The truth (``truth.nc``) holds every quantity above; the Dataset attributes hold the seed
and all settings. Everything comes from one ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from vp_bayes.dims import (
    CUTPOINT,
    GROUP,
    ITEM,
    PARTICIPANT,
    QUESTION,
    RESPONDENT,
    VALUE,
    VALUES_10,
    VARIANT,
    persona_id,
    respondent_name,
)
from vp_bayes.errors import InputError
from vp_bayes.instruments import get_instrument, mrat_centered, question_values
from vp_bayes.output import write_csv
from vp_bayes.wave.core import Manifest, Wave
from vp_bayes.wave.io import write_wave

VARIANTS: tuple[str, ...] = ("v1", "v1_reversed", "v2", "v2_reversed", "v3", "v3_reversed")
DEFAULT_AXES: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male"),
    "age": ("20-39", "40-59", "60-79"),
}
QUESTION_CUTPOINTS: tuple[float, ...] = (-2.5, -1.3, -0.3, 0.7, 1.9)
ITEM_THRESHOLDS: tuple[float, ...] = (-2.2, -1.1, -0.2, 0.7, 1.8)
LLM_RATINGS_FILE = "llm_ratings.csv"
LOADING_TRUTHS = ("sparse", "heavy_tailed")
TRUTH_FILE = "truth.nc"
NETCDF_ENGINE = "scipy"  # netCDF3 via scipy (a core dependency; h5netcdf needs h5py)
VALUE_B = f"{VALUE}_b"
_TEXT = "str"


@dataclass(frozen=True)
class SimulatedWave:
    """A simulated wave, its truth and the simulated LLM ratings.

    Attributes
    ----------
    wave
        The human wave (instrument answers, or MRAT-centred values when prescored).
    truth
        Every generating quantity (see the module docstring), settings in ``attrs``.
    llm_ratings
        Long table ``respondent, item_id, variant, rating`` (int).
    """

    wave: Wave
    truth: xr.Dataset
    llm_ratings: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """:meth:`Wave.summary` of the human wave plus a row for ``llm_ratings``.

        Returns
        -------
        pandas.DataFrame
            Columns ``table, rows, columns``.
        """
        llm = pd.DataFrame([{"table": "llm_ratings", "rows": len(self.llm_ratings),
                             "columns": self.llm_ratings.shape[1]}])
        return pd.concat([self.wave.summary(), llm], ignore_index=True)


def circumplex_correlation(n_values: int = 10, weight: float = 0.6) -> np.ndarray:
    """Circumplex correlation ``w cos(2 pi (u - v) / V) + (1 - w) I``, shrunk until PD."""
    u = np.arange(n_values)
    cos = np.cos(2 * np.pi * (u[:, None] - u[None, :]) / n_values)
    while True:
        corr = weight * cos + (1 - weight) * np.eye(n_values)
        if np.linalg.eigvalsh(corr).min() > 1e-6:
            return corr
        weight *= 0.9


def ordered_logistic(
    rng: np.random.Generator, eta: np.ndarray, cutpoints: np.ndarray
) -> np.ndarray:
    """Draw categories 1..K+1 with ``P(y <= k) = sigmoid(c_k - eta)``.

    Parameters
    ----------
    rng
        The generator.
    eta
        Linear predictors, any shape S.
    cutpoints
        Increasing cutpoints, shape ``(K,)`` or ``S + (K,)``.
    """
    cdf = 1.0 / (1.0 + np.exp(-(cutpoints - eta[..., None])))
    u = rng.random(eta.shape)
    return 1 + (cdf < u[..., None]).sum(axis=-1)


def _centered_normal(rng: np.random.Generator, n_groups: int, sd: float) -> np.ndarray:
    draw = rng.normal(0.0, sd, size=(n_groups, len(VALUES_10)))
    return draw - draw.mean(axis=0, keepdims=True)


def _item_loadings(rng: np.random.Generator, n_items: int) -> np.ndarray:
    beta = np.zeros((n_items, len(VALUES_10)))
    n_inf = np.where(rng.random(n_items) < 0.7, 1, 2)
    for j in range(n_items):
        which = rng.choice(len(VALUES_10), size=n_inf[j], replace=False)
        size = rng.uniform(0.5, 1.3, size=n_inf[j])
        sign = np.where(rng.random(n_inf[j]) < 0.85, 1.0, -1.0)
        beta[j, which] = sign * size
    return beta


def _heavy_tailed_loadings(rng: np.random.Generator, n_items: int) -> np.ndarray:
    n_val = len(VALUES_10)
    mean = rng.normal(0.1, 0.05, size=n_val)
    scale = rng.uniform(0.2, 0.4, size=n_val)
    return mean + scale * rng.standard_t(3.0, size=(n_items, n_val))


def _rated_pairs(rng: np.random.Generator, n: int, n_items: int, k: int) -> np.ndarray:
    """Boolean (n, n_items) mask: each row has exactly k random True entries."""
    order = np.argsort(rng.random((n, n_items)), axis=1)[:, :k]
    mask = np.zeros((n, n_items), dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def _ids(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def simulate_wave(
    n_participants: int = 300,
    n_items: int = 80,
    items_per_participant: int | None = None,
    seed: int = 2026,
    n_llm: int = 3,
    personas: bool = True,
    prescored: bool = False,
    *,
    axes: Mapping[str, tuple[str, ...]] | None = None,
    effect_sd: float = 0.3,
    sigma_alpha: float = 0.6,
    circumplex: float = 0.6,
    variant_sd: float = 0.2,
    distortion_sd: float = 0.3,
    loadings: str = "sparse",
    dif_items: int = 0,
    dif_size: float = 1.0,
) -> SimulatedWave:
    """Simulate a wave from the generative model in the module docstring.

    Parameters
    ----------
    n_participants, n_items
        Numbers of humans and items.
    items_per_participant
        Items each human rates; default ``min(n_items, 60)``.
    seed
        Seed of the one random generator.
    n_llm
        Number of simulated LLM respondents (0 for none).
    personas
        Add persona respondents of ``sim-llm-1`` (needs ``n_llm >= 1``).
    prescored
        Give MRAT-centred 10-value scores (``values``) instead of raw PVQ-RR answers.
    axes
        Demographic axes and their groups (default gender, age).
    effect_sd, sigma_alpha, circumplex, variant_sd, distortion_sd
        Scales of group effects, response style, circumplex weight, LLM prompt-variant
        offsets and persona distortions.
    loadings
        ``"sparse"`` (exact zeros and a few large loadings) or ``"heavy_tailed"`` (the model's
        prior family: near zero, none exactly zero); see the module docstring.
    dif_items, dif_size
        Differential item functioning planted in the first ``dif_items`` items along the
        first axis: group g's ratings of such an item are shifted by
        ``dif_size * (g - (G - 1) / 2)`` logits (two groups: a difference of ``dif_size``);
        the truth holds it as ``dif_location``. Draws no random numbers, so the rest of the
        wave is the one simulated without DIF.

    Returns
    -------
    SimulatedWave
    """
    axes = dict(DEFAULT_AXES if axes is None else axes)
    k = min(n_items, 60) if items_per_participant is None else items_per_participant
    if n_participants < 1 or n_items < 1:
        raise InputError("need at least one participant and one item", field="n_participants")
    if not 1 <= k <= n_items:
        raise InputError(f"must be in 1..{n_items}", field="items_per_participant")
    if n_llm < 0:
        raise InputError("must be >= 0", field="n_llm")
    if loadings not in LOADING_TRUTHS:
        raise InputError(f"unknown loadings {loadings!r} (known: {', '.join(LOADING_TRUTHS)})",
                         field="loadings")
    personas = personas and n_llm > 0
    rng = np.random.default_rng(seed)
    n_val = len(VALUES_10)

    corr = circumplex_correlation(n_val, circumplex)
    chol = np.linalg.cholesky(corr)
    groups = {a: rng.integers(0, len(g), size=n_participants) for a, g in axes.items()}
    effects = {a: _centered_normal(rng, len(g), effect_sd) for a, g in axes.items()}
    mu = sum((effects[a][groups[a]] for a in axes), start=np.zeros((n_participants, n_val)))
    theta = mu + rng.standard_normal((n_participants, n_val)) @ chol.T
    alpha = rng.normal(0.0, sigma_alpha, size=n_participants)

    rr = get_instrument("pvq_rr")
    key = question_values(rr, "values")
    face = np.array([key[q] is None for q in rr.questions])
    q_value = np.array([VALUES_10.index(key[q] or "power") for q in rr.questions])
    lam = np.where(face, 0.5, rng.uniform(0.8, 1.6, size=rr.n_questions))
    c = np.asarray(QUESTION_CUTPOINTS)[None, :] + rng.normal(0.0, 0.3, size=(rr.n_questions, 1))
    answers = ordered_logistic(rng, lam * theta[:, q_value] + alpha[:, None], c[None, :, :])

    beta = _item_loadings(rng, n_items) if loadings == "sparse" \
        else _heavy_tailed_loadings(rng, n_items)
    b = rng.normal(0.0, 0.6, size=n_items)
    kappa = np.asarray(ITEM_THRESHOLDS)
    rated = _rated_pairs(rng, n_participants, n_items, k)
    pi, ij = np.nonzero(rated)
    dif = _planted_dif(n_items, dif_items, dif_size, axes)
    shift = dif[ij, groups[next(iter(axes))][pi]] if dif_items else 0.0
    y = ordered_logistic(rng, np.einsum("nv,nv->n", theta[pi], beta[ij]) + alpha[pi] + b[ij]
                         + shift, kappa)

    llm = _simulate_llms(
        rng, n_llm, personas, axes, effects, corr, sigma_alpha, variant_sd, distortion_sd
    )
    pids, iids = _ids("P", n_participants), _ids("item", n_items)
    llm_ratings = _rate_llms(rng, llm, beta, b, kappa, iids)

    settings = {
        "seed": seed,
        "n_participants": n_participants,
        "n_items": n_items,
        "items_per_participant": k,
        "n_llm": n_llm,
        "personas": personas,
        "prescored": prescored,
        "axes": axes,
        "effect_sd": effect_sd,
        "sigma_alpha": sigma_alpha,
        "circumplex": circumplex,
        "variant_sd": variant_sd,
        "distortion_sd": distortion_sd,
        "loadings": loadings,
    }
    wave = _make_wave(settings, pids, iids, groups, answers, rated, y, rr.questions)
    truth = _make_truth(
        settings, pids, iids, theta, alpha, beta, b, kappa, lam, c, q_value, rr.questions,
        effects, corr, llm,
    )  # fmt: skip
    if dif_items:
        settings.update(dif_items=dif_items, dif_size=dif_size)
        first = next(iter(axes))
        truth["dif_location"] = ((ITEM, f"{GROUP}_{first}"), dif)
    return SimulatedWave(wave, truth, llm_ratings)


def _planted_dif(n_items: int, dif_items: int, dif_size: float,
                 axes: Mapping[str, tuple[str, ...]]) -> np.ndarray:
    """Location DIF (items, groups of the first axis): see ``simulate_wave``."""
    if not 0 <= dif_items <= n_items:
        raise InputError(f"must be in 0..{n_items}", field="dif_items")
    if dif_items and not axes:
        raise InputError("planting DIF needs a demographic axis", field="dif_items")
    n_groups = len(next(iter(axes.values()))) if axes else 1
    out = np.zeros((n_items, n_groups))
    out[:dif_items] = dif_size * (np.arange(n_groups) - (n_groups - 1) / 2)
    return out


@dataclass
class _Llms:
    names: list[str]
    model: list[str]
    persona: list[str]
    theta: np.ndarray  # (R, V)
    alpha: np.ndarray  # (R,)
    offset: np.ndarray  # (R, variants)
    distortions: dict[str, np.ndarray]


def _simulate_llms(
    rng, n_llm, personas, axes, effects, corr, sigma_alpha, variant_sd, distortion_sd
) -> _Llms:
    n_val = corr.shape[0]
    base = [f"sim-llm-{r}" for r in range(1, n_llm + 1)]
    theta = rng.multivariate_normal(np.zeros(n_val), corr, size=n_llm, method="cholesky")
    alpha = rng.normal(0.0, sigma_alpha, size=n_llm)
    offset = rng.normal(0.0, variant_sd, size=(n_llm, len(VARIANTS)))
    out = _Llms(list(base), list(base), [""] * n_llm, theta, alpha, offset, {})
    if not personas:
        return out
    rows_t, rows_a, rows_o = [], [], []
    for a, groups in axes.items():
        out.distortions[a] = _centered_normal(rng, len(groups), distortion_sd)
        for g_idx, group in enumerate(groups):
            persona = persona_id({a: group})
            out.names.append(respondent_name(base[0], persona))
            out.model.append(base[0])
            out.persona.append(persona)
            rows_t.append(theta[0] + effects[a][g_idx] + out.distortions[a][g_idx])
            rows_a.append(alpha[0])
            rows_o.append(offset[0])
    out.theta = np.vstack([theta, *rows_t])
    out.alpha = np.concatenate([alpha, rows_a])
    out.offset = np.vstack([offset, *rows_o])
    return out


def _rate_llms(rng, llm: _Llms, beta, b, kappa, iids: list[str]) -> pd.DataFrame:
    frames = []
    for r, name in enumerate(tqdm(llm.names, desc="simulated LLM ratings", leave=False)):
        eta = beta @ llm.theta[r] + llm.alpha[r] + b  # (J,)
        y = ordered_logistic(rng, eta[:, None] + llm.offset[r][None, :], kappa)  # (J, variants)
        frames.append(
            pd.DataFrame(
                {
                    "respondent": name,
                    "item_id": np.repeat(iids, len(VARIANTS)),
                    "variant": np.tile(VARIANTS, len(iids)),
                    "rating": y.reshape(-1).astype("int64"),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {"respondent": [], "item_id": [], "variant": [], "rating": []}
        ).astype({"respondent": _TEXT, "item_id": _TEXT, "variant": _TEXT, "rating": "int64"})
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"respondent": _TEXT, "item_id": _TEXT, "variant": _TEXT})


def _make_wave(settings, pids, iids, groups, answers, rated, y, questions) -> Wave:
    axes = settings["axes"]
    p_index = pd.Index(pids, name="participant_id", dtype=_TEXT)
    participants = pd.DataFrame(
        {a: pd.array(np.asarray(axes[a])[groups[a]], dtype=_TEXT) for a in axes}, index=p_index
    )
    j = np.arange(1, len(iids) + 1)
    items = pd.DataFrame(
        {
            "title": [f"Simulated item {i}" for i in j],
            "query": [f"Simulated query {i}" for i in j],
            "response": [f"Simulated response {i}" for i in j],
            "source": "simulated",
        },
        index=pd.Index(iids, name="item_id", dtype=_TEXT),
    ).astype(_TEXT)
    pi, ij = np.nonzero(rated)
    ratings = pd.DataFrame(
        {
            "participant_id": pd.array(np.asarray(pids)[pi], dtype=_TEXT),
            "item_id": pd.array(np.asarray(iids)[ij], dtype=_TEXT),
            "rating": y.astype("int64"),
        }
    )
    raw = pd.DataFrame(answers.astype(float), index=p_index, columns=list(questions))
    desc = "Simulated by vp_bayes.wave.simulate; settings: " + json.dumps(settings)
    if settings["prescored"]:
        values = mrat_centered(raw, get_instrument("pvq_rr"), "values")
        values.columns = list(values.columns)  # plain column index, as load_wave gives
        manifest = Manifest(f"simulated-{settings['seed']}", None, description=desc)
        return Wave(manifest, participants, items, ratings, None, values)
    manifest = Manifest(f"simulated-{settings['seed']}", "pvq_rr", description=desc)
    return Wave(manifest, participants, items, ratings, raw, None)


def _make_truth(
    settings, pids, iids, theta, alpha, beta, b, kappa, lam, c, q_value, questions, effects,
    corr, llm: _Llms,
) -> xr.Dataset:  # fmt: skip
    values = list(VALUES_10)
    cut = np.arange(len(kappa), dtype=np.int32)  # netCDF3 has no int64
    data = {
        "theta": ((PARTICIPANT, VALUE), theta),
        "alpha": ((PARTICIPANT,), alpha),
        "beta": ((ITEM, VALUE), beta),
        "b": ((ITEM,), b),
        "kappa": ((CUTPOINT,), kappa),
        "lam": ((QUESTION,), lam),
        "c": ((QUESTION, CUTPOINT), c),
        "R": ((VALUE, VALUE_B), corr),
        "sigma_alpha": ((), settings["sigma_alpha"]),
        "llm_theta": ((RESPONDENT, VALUE), llm.theta),
        "llm_alpha": ((RESPONDENT,), llm.alpha),
        "llm_variant_offset": ((RESPONDENT, VARIANT), llm.offset),
    }
    coords = {
        PARTICIPANT: pids,
        ITEM: iids,
        VALUE: values,
        VALUE_B: values,
        CUTPOINT: cut,
        QUESTION: list(questions),
        "question_value": (QUESTION, np.asarray(values)[q_value]),
        RESPONDENT: llm.names,
        "model": (RESPONDENT, llm.model),
        "persona": (RESPONDENT, llm.persona),
        VARIANT: list(VARIANTS),
    }
    for a, groups in settings["axes"].items():
        dim = f"{GROUP}_{a}"
        coords[dim] = list(groups)
        data[f"effect_{a}"] = ((dim, VALUE), effects[a])
        if a in llm.distortions:
            data[f"persona_distortion_{a}"] = ((dim, VALUE), llm.distortions[a])
    attrs = {
        k: (json.dumps(v) if isinstance(v, dict) else int(v) if isinstance(v, bool) else v)
        for k, v in settings.items()
    }
    attrs["model_description"] = (__doc__ or "").strip()
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_simulated(sim: SimulatedWave, path: str | Path, fmt: str = "csv") -> Path:
    """Write the wave folder plus ``llm_ratings.csv`` and ``truth.nc``.

    Parameters
    ----------
    sim
        The simulation.
    path
        The wave folder (created).
    fmt
        Table format of the wave tables (``llm_ratings`` is always CSV).
    """
    folder = write_wave(sim.wave, path, fmt=fmt)
    write_csv(sim.llm_ratings, folder / LLM_RATINGS_FILE, lineterminator="\n")
    sim.truth.to_netcdf(folder / TRUTH_FILE, engine=NETCDF_ENGINE)
    return folder


def load_truth(path: str | Path) -> xr.Dataset:
    """Read ``truth.nc`` from a simulated wave folder (or the file itself), fully loaded."""
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_FILE
    if not path.is_file():
        raise InputError("truth file not found", file=path)
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()


__all__ = [
    "LLM_RATINGS_FILE",
    "TRUTH_FILE",
    "VARIANTS",
    "SimulatedWave",
    "circumplex_correlation",
    "load_truth",
    "ordered_logistic",
    "simulate_wave",
    "write_simulated",
]

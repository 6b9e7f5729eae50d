"""Configuration of the item model and of the sampler, as plain JSON-serialisable dataclasses."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from vp_bayes.errors import InputError
from vp_bayes.readers import read_json

Thresholds = Literal["shared", "item"]
LoadingPrior = Literal["normal", "student_t", "horseshoe"]
LOADING_PRIORS: tuple[str, ...] = get_args(LoadingPrior)
LoadingScaleFamily = Literal["auto", "gamma", "half_normal"]
LOADING_SCALE_FAMILIES: tuple[str, ...] = get_args(LoadingScaleFamily)
# Model settings added after fits were first saved, and what a saved config without them was
# fitted with (today's defaults differ): read by :func:`saved_model_config`.
_SAVED_BEFORE: dict[str, Any] = {"value_prior": "lkj", "loading_scale_family": "half_normal",
                                 "integrate_scales": False}
# Each loading-scale family and the setting that sets its number (the other family's setting
# must stay at its default: it would do nothing).
_LOADING_SCALE_SETTING = {"gamma": "loading_scale_rate", "half_normal": "loading_scale_prior"}
# What ``loading_scale_family = "auto"`` means by resolved value input: the gamma where it was
# measured (calibrated values and raw answers: docs/model.md, "The loadings' spreads"), the
# half-normal for pre-scored values taken as exact or latent.
_AUTO_LOADING_SCALE = {"calibrated": "gamma", "instrument": "gamma"}
StyleParameterization = Literal["noncentered", "anchored"]
STYLE_PARAMETERIZATIONS: tuple[str, ...] = get_args(StyleParameterization)
ValueInput = Literal["auto", "instrument", "latent", "exact", "calibrated"]
ValuePrior = Literal["auto", "lkj", "inverse_wishart"]
Sampler = Literal["nutpie", "pymc", "numpyro", "advi", "pathfinder"]
NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro")
JAX_SAMPLERS = ("numpyro",)  # compile the model through JAX
Init = Literal["auto", "jitter", "advi"]

# Default reliability of pre-scored value indices. The PVQ-21 (ESS) value indices have
# 2-3 items each and low internal consistency: Cronbach's alpha roughly .4-.7 across values
# and countries (Schwartz 2003, "A proposal for measuring value orientations across nations",
# ESS questionnaire development report, ch. 7; Davidov, Schmidt & Schwartz 2008, POQ 72).
# 0.6 is a round value inside that range; set it per value in the config when known.
DEFAULT_RELIABILITY = 0.6
VALUE_LEVELS = ("values", "values19")
# loading_parameterization as earlier versions spelled it -> today's
_OLD_PARAMETERIZATIONS = {"noncentred": "noncentered", "centred": "centered"}
LOADING_PARAMETERIZATIONS = ("auto", "noncentered", "centered", "mixture", "partial",
                             "partial_mixture")

# What ``"auto"`` (and ``None``) geometry settings mean for each resolved value input: the
# settings under which the calibrated real wave converged at the shipped budget (scale-mixture
# loadings, acceptance target 0.9, then with nutpie's low-rank mass matrix: every R-hat <= 1.009
# and 0 or 1 divergent transitions in two runs, docs/model.md "Regression calibration"), with
# a diagonal mass matrix since session 39 (to the bar on four seeds, one run with 2 divergences):
# nutpie's low-rank one mixes no better per gradient there and costs 1.7x the time per draw
# (docs/benchmarks.md, "Anchored response styles and a diagonal mass matrix"); raw
# questionnaire answers sample at acceptance target 0.65, where the slowest variable's ESS per
# gradient is about 1.25x that at 0.8, at the same tree depth (docs/model.md, "The acceptance
# target for raw answers"), with the loading deviations partially centred by the data
# (``partial``, session 41: on the simulated 2,000 x 300 wave the spreads stop limiting the
# fit; docs/model.md, "Loading deviations centred as far as the data inform them") and the
# zero-sum blocks' scales integrated out (session 46: the 2,000 x 300 wave reaches the bar;
# on the calibrated real wave the directly sampled styles slow the mean loadings); every
# other input keeps the settings its tests and benchmarks were measured with.
_GEOMETRY: dict[str, dict[str, Any]] = {
    "calibrated": {"loading_parameterization": "mixture", "target_accept": 0.9,
                   "low_rank_modified_mass_matrix": False, "integrate_scales": False},
    "instrument": {"loading_parameterization": "partial", "target_accept": 0.65,
                   "low_rank_modified_mass_matrix": False, "integrate_scales": True},
}
_DEFAULT_GEOMETRY: dict[str, Any] = {"loading_parameterization": "noncentered",
                                     "target_accept": 0.8,
                                     "low_rank_modified_mass_matrix": False,
                                     "integrate_scales": False}


def _loading_geometry_conflict(parameterization: str, prior: str) -> str | None:
    """Why ``parameterization`` cannot draw loadings under ``prior`` (the message
    :meth:`ModelConfig.validate` gives), or None; ``resolve_model_config`` falls back to the
    non-centred form there."""
    if parameterization in ("mixture", "partial_mixture") and prior != "student_t":
        return "the scale mixture is the Student-t prior's: set loading_prior to student_t"
    if prior == "horseshoe" and parameterization not in ("auto", "noncentered"):
        return "the horseshoe loading prior is noncentered only"
    return None


def _geometry(value_input: str | None, name: str) -> Any:
    return _GEOMETRY.get(value_input or "", _DEFAULT_GEOMETRY)[name]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


# what each setting must be: (test, words for the message)
_KINDS: dict[str, tuple[Any, str]] = {
    "int": (_is_int, "a whole number"),
    "number": (_is_number, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "reliability": (lambda v: _is_number(v) or (isinstance(v, dict) and all(
        isinstance(k, str) and _is_number(x) for k, x in v.items())),
        "a number or an object of numbers by value name"),
    "optional_str": (lambda v: v is None or isinstance(v, str), "null or a string"),
    "optional_number": (lambda v: v is None or _is_number(v), "null or a finite number"),
    "optional_bool": (lambda v: v is None or isinstance(v, bool), "null, true or false"),
    "optional_int": (lambda v: v is None or _is_int(v), "null or a whole number"),
    "axes": (lambda v: v is None or (isinstance(v, list | tuple) and all(
        isinstance(a, str) for a in v)), "null or a list of column names"),
}


def _check_kinds(config: Any, kinds: dict[str, str], source: str) -> None:
    """Raise :class:`InputError` naming the first setting of the wrong JSON type."""
    for name, kind in kinds.items():
        value = getattr(config, name)
        test, words = _KINDS[kind]
        if not test(value):
            raise InputError(f"must be {words}, got {value!r}", file=source, field=name)


def _unknown_keys(cls: type, d: Any, source: str, what: str, prefix: str) -> None:
    if not isinstance(d, dict):
        raise InputError(f"the {what} settings must be a JSON object, got {d!r}", file=source,
                         field=prefix.rstrip(".") or what)
    known = {f.name for f in fields(cls)}
    for key in d:
        if key not in known:
            raise InputError(f"unknown {what} option (known: {sorted(known)})", file=source,
                             field=f"{prefix}{key}")


@dataclass(frozen=True)
class ModelConfig:
    """What the hierarchical item model looks like.

    Attributes
    ----------
    value_level
        Trait set of the latent values: ``"values"`` (10) or ``"values19"`` (PVQ-RR only).
    thresholds
        ``"shared"``: rating-scale form, one set of cutpoints plus an item location b_j;
        ``"item"``: graded-response form, ordered cutpoints per item (hierarchical).
    value_input
        How participants' values enter. ``"instrument"``: raw questionnaire answers through an
        ordinal measurement model; ``"latent"``: pre-scored values as noisy measures of the
        latent values (error from ``reliability``); ``"calibrated"``: their conditional means
        given the scores (regression calibration with ``reliability``,
        :mod:`vp_bayes.model.measurement`) used as covariates; ``"exact"``: pre-scored values
        used as exact covariates (standardised); ``"auto"``: instrument when raw answers
        exist, else calibrated for MRAT-centred (ipsative) values (a latent model of their
        scores is misspecified along the null direction; docs/model.md) and latent for others.
    reliability
        Reliability of each pre-scored value (one number for all, or per value name).
    response_style
        Include the person response style alpha_i.
    demographic_axes
        Participant columns to use as demographic axes; ``None`` = every column present.
    lkj_eta
        LKJ shape of the prior on the latent value correlations.
    value_prior
        Prior of the latent values' covariance. ``"lkj"``: unit variances and an
        LKJ(``lkj_eta``) correlation matrix, sampled. ``"inverse_wishart"`` (raw questionnaire
        answers only): ``Sigma ~ InvWishart(nu, (nu - V - 1) I)`` (prior mean I, each
        correlation's marginal the LKJ(``lkj_eta``) one), integrated out of the model, with the
        questionnaire's loadings anchored per value (geometric mean 1) to fix the values'
        scale; the values, loadings and group effects are saved on the unit scale and the
        correlation is drawn from ``Sigma | theta`` after sampling
        (``vp_bayes.model.build._collapsed_values``, docs/model.md); the sampler mixes through
        it faster (docs/benchmarks.md). ``"auto"`` (default): inverse-Wishart for raw answers,
        LKJ for pre-scored values (:func:`resolve_model_config`; a fit saves the choice).
    loading_scale_family
        Prior family of the per-value loading scales ``beta_sd`` (the shrinkage scales).
        ``"gamma"``: a gamma prior with shape 2 and rate ``loading_scale_rate``, which avoids
        the boundary: its density falls to zero at a spread of zero, so the sampler does not
        chase a funnel where a value's items all load alike; on the real wave (calibrated
        values) it reached the convergence bar at least 1.6x sooner than the half-normal, its
        PSIS-LOO 0.3-1.3 SE behind on three seeds (docs/benchmarks.md, "A boundary-avoiding
        prior on the loadings' spreads"). ``"half_normal"``: ``HalfNormal(
        loading_scale_prior)``, every fit's prior before it (fits saved without this setting
        are read as half-normal). ``"auto"`` (default): the family whose number the config
        sets, else the gamma for calibrated values and raw answers and the half-normal for
        pre-scored values taken as exact or latent (:func:`resolve_model_config`; a fit saves
        the choice): on small waves of exact values with a value whose items truly all load
        alike the gamma is mildly prior-sensitive, so it is not the default there
        (docs/model.md). Setting the other family's number is refused.
    loading_scale_prior
        Scale of the half-normal prior on the loading scales (``loading_scale_family =
        "half_normal"``).
    loading_scale_rate
        Rate of the gamma prior on the loading scales (``loading_scale_family = "gamma"``);
        the default 5 gives the prior mean 0.4 of the default half-normal (0.5).
    loading_prior
        Shape of the loading deviations around the value's mean loading: ``"student_t"``
        (default; heavy tails with ``loading_nu`` degrees of freedom: most loadings shrink to
        the mean, large ones escape the shrinkage) or ``"normal"`` (hierarchical ridge). On a
        simulated wave with sparse loadings (300 x 60, seed 21) the Student-t prior covered
        74% of the non-zero loadings with 90% intervals against 62% for the normal prior, and
        its posterior means were shrunk less (slope 0.76 vs 0.63 against the truth).
        ``"horseshoe"``: the regularised horseshoe (Piironen & Vehtari 2017) with the value's
        loading scale as its global scale, half-Cauchy local scales and a slab (scale 1
        logit per SD, 4 degrees of freedom) that bounds the largest loadings; noncentered
        only. docs/benchmarks.md compares the three by PSIS-LOO and coverage.
    loading_nu
        Degrees of freedom of the Student-t loading prior.
    loading_parameterization
        ``"auto"`` (default): ``"mixture"`` for calibrated values with the Student-t prior,
        ``"partial"`` for raw answers (not with the horseshoe), ``"noncentered"``
        otherwise (:func:`resolve_model_config`). ``"noncentered"``:
        ``beta = m + s w`` with standardised deviations w, best when each item has few
        ratings; or ``"centered"`` (``beta ~ prior(m, s)`` directly,
        best when items are well informed) or ``"mixture"`` (Student-t only: ``w = z
        sqrt(tau)`` with each loading's local scale ``tau ~ InvGamma(nu / 2, nu / 2)``
        explicit) or ``"partial"`` (each loading's deviation partially centred, as far as
        the ratings inform it: :mod:`vp_bayes.model.partial`; Student-t or normal) or
        ``"partial_mixture"`` (the same on the scale mixture). The same model; only the
        sampler's geometry differs. (Configs of earlier versions spell them
        ``noncentred``/``centred``; both are read.)
    integrate_scales
        Integrate the half-normal scales of the zero-sum blocks (``sigma_b`` of the item
        locations, ``sigma_alpha`` of the response styles, ``sigma_{axis}`` of each axis's
        group effects) out of the sampler: it samples the blocks themselves, and each scale is
        drawn from its conditional posterior after sampling (:mod:`vp_bayes.model.scales`).
        The same model; only the sampler's geometry differs. ``None`` (default, "auto"): on
        for raw questionnaire answers, where the data-rich blocks mixed slowest through their
        scales (the simulated 2,000 x 300 wave reached the convergence bar at 2,500 draws per
        chain with it and not by 3,000 without; the demo wave stopped at 3,750 draws in all
        over four seeds against 5,500), off otherwise: on the calibrated real wave the styles
        sampled directly trade off with the loadings' mean and the fit stopped at 3,000 draws
        per chain against 1,500 (docs/benchmarks.md, "Scales integrated out for raw answers").
        Anchored styles keep it off.
    style_parameterization
        The sampler's coordinates for the response styles (the same model either way).
        ``"noncentered"``: ``alpha = sigma_alpha z``. ``"anchored"`` (values as data: exact
        or calibrated): each participant's overall level on the items, ``alpha`` plus the
        mean loadings' part of the predictor, is sampled, and ``alpha`` is computed from it
        (:func:`vp_bayes.model.build._anchored_styles`); this removes the ridge along which
        ``beta_mean`` and the styles trade off (posterior correlation -0.94 on the real
        wave): on the real wave ``beta_mean``'s bulk ESS per draw is 5.7-7x, the loadings'
        1.6-2.3x, but fits stopped at the convergence bar later (``beta_sd`` binds;
        docs/model.md, "Response styles anchored on the values"). Default ``"noncentered"``,
        which fits saved without this setting used.
    dif_axis
        A participant column (a demographic axis) whose groups may rate items differently
        (differential item functioning): each item gets a location shift and a loading
        multiplier per group, shrunk toward none (:mod:`vp_bayes.model.dif`). ``None``
        (default): no DIF terms.
    """

    value_level: str = "values"
    thresholds: Thresholds = "shared"
    value_input: ValueInput = "auto"
    reliability: float | dict[str, float] = DEFAULT_RELIABILITY
    response_style: bool = True
    demographic_axes: tuple[str, ...] | None = None
    lkj_eta: float = 2.0
    value_prior: ValuePrior = "auto"
    loading_scale_family: LoadingScaleFamily = "auto"
    loading_scale_prior: float = 0.5
    loading_scale_rate: float = 5.0
    loading_prior: LoadingPrior = "student_t"
    loading_nu: float = 3.0
    loading_parameterization: str = "auto"
    integrate_scales: bool | None = None
    style_parameterization: StyleParameterization = "noncentered"
    dif_axis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        if d["demographic_axes"] is not None:
            d["demographic_axes"] = list(d["demographic_axes"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config",
                  prefix: str = "") -> ModelConfig:
        """Build from a dict (e.g. parsed JSON), naming an unknown key or a bad setting.

        Parameters
        ----------
        d
            Settings by field name.
        source
            Where they come from (the file in messages).
        prefix
            Put before a key in messages of unknown keys (``"model."``).
        """
        _unknown_keys(cls, d, source, "model", prefix)
        d = dict(d)
        if d.get("loading_parameterization") in _OLD_PARAMETERIZATIONS:
            d["loading_parameterization"] = _OLD_PARAMETERIZATIONS[d["loading_parameterization"]]
        if isinstance(d.get("demographic_axes"), list):
            d["demographic_axes"] = tuple(d["demographic_axes"])
        cfg = cls(**d)
        cfg.validate(source=source)
        return cfg

    def validate(self, *, source: str = "config") -> None:
        """Raise :class:`InputError` for a setting of the wrong type or an impossible one."""
        _check_kinds(self, {
            "value_level": "str", "thresholds": "str", "value_input": "str",
            "reliability": "reliability", "response_style": "bool", "demographic_axes": "axes",
            "lkj_eta": "number", "value_prior": "str", "loading_scale_family": "str",
            "loading_scale_prior": "number", "loading_scale_rate": "number",
            "loading_prior": "str",
            "loading_nu": "number", "loading_parameterization": "str",
            "integrate_scales": "optional_bool", "style_parameterization": "str",
            "dif_axis": "optional_str"}, source)
        if self.value_level not in VALUE_LEVELS:
            raise InputError(f"must be {' or '.join(VALUE_LEVELS)}", file=source,
                             field="value_level")
        if self.thresholds not in ("shared", "item"):
            raise InputError("must be 'shared' or 'item'", file=source, field="thresholds")
        if self.value_input not in get_args(ValueInput):
            raise InputError(f"must be {'|'.join(get_args(ValueInput))}", file=source,
                             field="value_input")
        rel = self.reliability.values() if isinstance(self.reliability, dict) else [
            self.reliability]
        if any(not 0.0 < float(r) < 1.0 for r in rel):
            raise InputError("reliabilities must lie strictly between 0 and 1", file=source,
                             field="reliability")
        if self.value_prior not in get_args(ValuePrior):
            raise InputError(f"must be {' or '.join(map(repr, get_args(ValuePrior)))}",
                             file=source, field="value_prior")
        if self.value_prior == "inverse_wishart" and self.value_input not in ("auto",
                                                                              "instrument"):
            raise InputError(f"the inverse-Wishart value prior needs raw questionnaire answers "
                             f"(value_input 'instrument' or 'auto', not {self.value_input!r})",
                             file=source, field="value_prior")
        if self.loading_prior not in LOADING_PRIORS:
            raise InputError(f"must be one of {', '.join(LOADING_PRIORS)}", file=source,
                             field="loading_prior")
        if self.loading_parameterization not in LOADING_PARAMETERIZATIONS:
            raise InputError(f"must be {' or '.join(map(repr, LOADING_PARAMETERIZATIONS))}",
                             file=source, field="loading_parameterization")
        conflict = _loading_geometry_conflict(self.loading_parameterization, self.loading_prior)
        if conflict:
            raise InputError(conflict, file=source, field="loading_parameterization")
        if self.loading_nu <= 0:
            raise InputError("must be positive", file=source, field="loading_nu")
        if self.lkj_eta <= 0:
            raise InputError("must be positive", file=source, field="lkj_eta")
        self._validate_loading_scale(source)
        self._validate_styles(source)

    def _validate_styles(self, source: str) -> None:
        if self.style_parameterization not in STYLE_PARAMETERIZATIONS:
            raise InputError(f"must be {' or '.join(map(repr, STYLE_PARAMETERIZATIONS))}",
                             file=source, field="style_parameterization")
        if self.style_parameterization != "anchored":
            return
        if not self.response_style:
            raise InputError("anchors the response styles, but response_style is false",
                             file=source, field="style_parameterization")
        if self.integrate_scales:
            raise InputError("anchored response styles sample their scale: unset "
                             "integrate_scales", file=source, field="style_parameterization")
        if self.value_input in ("instrument", "latent"):
            raise InputError(f"anchored response styles need the values as data (value_input "
                             f"exact or calibrated, not {self.value_input!r})", file=source,
                             field="style_parameterization")

    def _validate_loading_scale(self, source: str) -> None:
        if self.loading_scale_family not in LOADING_SCALE_FAMILIES:
            raise InputError(f"must be {' or '.join(map(repr, LOADING_SCALE_FAMILIES))}",
                             file=source, field="loading_scale_family")
        for name in _LOADING_SCALE_SETTING.values():
            if getattr(self, name) <= 0:
                raise InputError("must be positive", file=source, field=name)
        chosen = self._loading_scale_set()
        if len(chosen) > 1:
            raise InputError("sets the numbers of both priors of the loadings' spreads: set "
                             "loading_scale_family", file=source, field="loading_scale_rate")
        for family in chosen:
            if self.loading_scale_family not in ("auto", family):
                raise InputError(f"sets the {family} prior of the loadings' spreads, but "
                                 f"loading_scale_family is {self.loading_scale_family!r}",
                                 file=source, field=_LOADING_SCALE_SETTING[family])

    def _loading_scale_set(self) -> list[str]:
        """The loading-scale families whose number this config moves off its default."""
        defaults = {f.name: f.default for f in fields(self)}
        return [family for family, name in _LOADING_SCALE_SETTING.items()
                if getattr(self, name) != defaults[name]]


@dataclass(frozen=True)
class SamplerConfig:
    """How to fit: the inference engine and its budget.

    The default budget is 4 chains x (400 warm-up + 1000 draws): the 4,000 draws of the
    2 x (400 + 2000) measured on the real Value Portrait wave (item parameters R-hat <= 1.008,
    bulk ESS >= 490, 495 s with the chains one at a time; the shipped model is now
    4 x (400 + 4000), ``models/valueportrait.md``), split over four chains
    so that R-hat compares four independent starts instead of two (its power to see chains
    that have not mixed grows with the number of chains); the cost on 2 cores is in
    ``docs/benchmarks.md`` ("Four chains"). nutpie adapts in a few hundred steps; more
    warm-up bought nothing there (1000 + 1000: beta ESS 239, R-hat 1.017).

    ``init`` says where NUTS chains start: ``"jitter"`` is the sampler's own start (the
    prior's centre plus U(-1, 1) on every unconstrained coordinate); ``"advi"`` fits the
    mean-field ADVI of :mod:`vp_bayes.model.variational` first (``advi_iterations`` steps) and
    starts each chain at its own draw from it; ``"auto"`` (default) uses ``"advi"`` when the
    participants' values are latent (raw questionnaire answers or noisy value
    scores) and ``"jitter"`` otherwise. Only nutpie honours ``"advi"``.
    ``init_spread`` multiplies the ADVI SDs of those starting draws: mean-field ADVI
    under-disperses (about 0.6 of the posterior SD), so a value of 2 starts the chains
    over-dispersed, as R-hat assumes; 1 (default) draws from the approximation as fitted.

    ``target_accept`` (NUTS acceptance target) and ``low_rank_modified_mass_matrix`` (nutpie's
    low-rank mass-matrix adaptation) left at ``None`` take the value input's settings
    (:func:`resolve_sampler_config`): 0.9 for calibrated values, 0.65 for raw questionnaire
    answers, 0.8 otherwise, each with a diagonal mass matrix (calibrated fits used the
    low-rank one until session 39).

    ``fused_likelihood`` chooses how the two ordinal likelihood terms (and the values'
    matrix-t prior) are compiled: as fused ops (:mod:`vp_bayes.model.fused`: the same density,
    one compiled function for value and gradient, its softplus terms on vector instructions:
    about a third of the graph's cost per gradient, ``docs/benchmarks.md``) or as a graph of
    gathers and elementwise ops. ``None`` (default) fuses them wherever the fused ops apply:
    every sampler but numpyro (JAX) and every model without DIF terms
    (:func:`resolve_sampler_config`; a fit saves the choice).

    ``check_every`` (nutpie only, below ``draws``; ``None``: off) lets a fit end before
    ``draws``: it stops at the first multiple of ``check_every`` draws per chain where every
    variable the fit saves meets the fit warnings' bar
    (:func:`vp_bayes.model.diagnostics.meets_bar`; the small variables are screened first,
    the whole table is computed only where they pass). ``draws`` is then the most each chain
    draws. The chains all run at once so that they reach each checkpoint together, and the
    sampled draws kept are the first ``n`` of the run without a stop, whatever the timing.
    Stopping at a diagnostic's first pass is a sequential rule: ``docs/model.md`` says what
    it costs.
    """

    sampler: Sampler = "nutpie"
    draws: int = 1000
    tune: int = 400
    chains: int = 4
    seed: int = 2026
    target_accept: float | None = None
    low_rank_modified_mass_matrix: bool | None = None
    advi_iterations: int = 2000
    advi_learning_rate: float = 0.02
    advi_map_iterations: int = 100
    init: Init = "auto"
    fused_likelihood: bool | None = None
    init_spread: float = 1.0
    check_every: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config",
                  prefix: str = "") -> SamplerConfig:
        """Build from a dict (e.g. parsed JSON), naming an unknown key or a bad setting.

        Parameters
        ----------
        d
            Settings by field name.
        source
            Where they come from (the file in messages).
        prefix
            Put before a key in messages of unknown keys (``"sampler."``).
        """
        _unknown_keys(cls, d, source, "sampler", prefix)
        cfg = cls(**d)
        cfg.validate(source=source)
        return cfg

    def validate(self, *, source: str = "config") -> None:
        """Raise :class:`InputError` naming the field for a setting of the wrong type, an
        unknown sampler or a budget that is not positive."""
        _check_kinds(self, {
            "sampler": "str", "draws": "int", "tune": "int", "chains": "int", "seed": "int",
            "target_accept": "optional_number",
            "low_rank_modified_mass_matrix": "optional_bool",
            "advi_iterations": "int", "advi_learning_rate": "number",
            "advi_map_iterations": "int", "init": "str", "fused_likelihood": "optional_bool",
            "init_spread": "number", "check_every": "optional_int"}, source)
        for name, allowed in (("init", get_args(Init)), ("sampler", get_args(Sampler))):
            if getattr(self, name) not in allowed:
                raise InputError(f"unknown {name} {getattr(self, name)!r} "
                                 f"({', '.join(allowed)})", file=source, field=name)
        if self.fused_likelihood and self.sampler in JAX_SAMPLERS:
            raise InputError(f"the fused likelihood has no JAX implementation: not for "
                             f"{self.sampler}", file=source, field="fused_likelihood")
        if self.init == "advi" and self.sampler != "nutpie":
            raise InputError("init 'advi' works with the nutpie sampler only", file=source,
                             field="init")
        for name in ("draws", "chains", "advi_iterations"):
            if int(getattr(self, name)) < 1:
                raise InputError("must be a positive whole number", file=source, field=name)
        for name in ("tune", "advi_map_iterations"):
            if int(getattr(self, name)) < 0:
                raise InputError("must not be negative", file=source, field=name)
        if not 0.0 < float(self.advi_learning_rate) < 1.0:
            raise InputError("must lie strictly between 0 and 1", file=source,
                             field="advi_learning_rate")
        if self.target_accept is not None and not 0.0 < float(self.target_accept) < 1.0:
            raise InputError("must lie strictly between 0 and 1", file=source,
                             field="target_accept")
        if float(self.init_spread) <= 0.0:
            raise InputError("must be positive", file=source, field="init_spread")
        if self.check_every is not None:
            if int(self.check_every) < 1:
                raise InputError("must be a positive whole number", file=source,
                                 field="check_every")
            if self.sampler != "nutpie":
                raise InputError("only the nutpie sampler can stop at the convergence bar",
                                 file=source, field="check_every")
            if int(self.check_every) >= int(self.draws):
                raise InputError(f"must be below draws ({self.draws}): there would be no "
                                 "checkpoint", file=source, field="check_every")


def saved_model_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A model config as a file saved it, with the settings it predates filled in as what
    the fit used then (``value_prior`` LKJ, half-normal loading spreads), not as today's
    defaults; read it with :meth:`ModelConfig.from_dict`."""
    return {**_SAVED_BEFORE, **saved}


def resolve_model_config(config: ModelConfig, value_input: str | None) -> ModelConfig:
    """``config`` with its ``"auto"`` settings replaced by what they mean for ``value_input``
    (the resolved mode, e.g. ``ModelData.value_input``).

    ``loading_parameterization``: ``"mixture"`` for calibrated values under the Student-t
    prior, ``"partial"`` for raw answers (``"noncentered"`` under the horseshoe),
    ``"noncentered"`` otherwise. ``value_prior``: ``"inverse_wishart"`` for raw
    questionnaire answers (``"instrument"``), ``"lkj"`` otherwise. ``loading_scale_family``:
    the family whose number the config sets, else ``"gamma"`` for calibrated values and raw
    answers and ``"half_normal"`` otherwise. ``integrate_scales`` (``None``): true for raw
    answers (unless the styles are anchored), false otherwise.
    """
    resolved: dict[str, Any] = {}
    if config.loading_parameterization == "auto":
        chosen = _geometry(value_input, "loading_parameterization")
        if _loading_geometry_conflict(chosen, config.loading_prior):
            chosen = _DEFAULT_GEOMETRY["loading_parameterization"]
        resolved["loading_parameterization"] = chosen
    if config.value_prior == "auto":
        resolved["value_prior"] = "inverse_wishart" if value_input == "instrument" else "lkj"
    if config.loading_scale_family == "auto":
        chosen = config._loading_scale_set()
        resolved["loading_scale_family"] = chosen[0] if chosen else _AUTO_LOADING_SCALE.get(
            value_input or "", "half_normal")
    if config.integrate_scales is None:  # anchored styles sample their scale
        resolved["integrate_scales"] = (config.style_parameterization != "anchored"
                                        and _geometry(value_input, "integrate_scales"))
    return replace(config, **resolved) if resolved else config


def resolve_sampler_config(config: SamplerConfig, value_input: str | None,
                           model_config: ModelConfig | None = None) -> SamplerConfig:
    """``config`` with the settings left at ``None`` resolved.

    ``target_accept`` and ``low_rank_modified_mass_matrix`` take the geometry of
    ``value_input`` (``None``: the defaults of value inputs other than calibrated and raw
    answers);
    ``fused_likelihood`` is true unless the sampler compiles through JAX or ``model_config``
    has DIF terms (``None``: a model without).
    """
    unset = {name: _geometry(value_input, name)
             for name in ("target_accept", "low_rank_modified_mass_matrix")
             if getattr(config, name) is None}
    if config.fused_likelihood is None:
        dif = model_config is not None and model_config.dif_axis is not None
        unset["fused_likelihood"] = config.sampler not in JAX_SAMPLERS and not dif
    return replace(config, **unset) if unset else config


@dataclass(frozen=True)
class FitConfig:
    """A model config and a sampler config read together from one JSON file."""

    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


def read_config(path: str | Path) -> FitConfig:
    """Read ``{"model": {...}, "sampler": {...}}`` from a JSON file.

    Raises
    ------
    InputError
        Naming the file and the offending key.
    """
    path = Path(path)
    raw = read_json(path, what="config file")
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object with 'model' and/or 'sampler'", file=path)
    for key in raw:
        if key not in ("model", "sampler"):
            raise InputError("unknown section (expected 'model' or 'sampler')", file=path,
                             field=key)
    model = ModelConfig.from_dict(raw.get("model", {}), source=str(path))
    sampler = SamplerConfig.from_dict(raw.get("sampler", {}), source=str(path),
                                      prefix="sampler.")
    return FitConfig(model=model, sampler=sampler)

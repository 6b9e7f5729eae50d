"""Turn a :class:`~vp_bayes.wave.core.Wave` into the arrays the model needs (pure, no PyMC)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.config import ModelConfig
from vp_bayes.model.measurement import Calibration, calibrate
from vp_bayes.wave.core import Wave


@dataclass(frozen=True)
class AxisData:
    """One demographic axis: its group labels and each participant's group code (-1 = missing)."""

    name: str
    groups: tuple[str, ...]
    codes: np.ndarray

    @property
    def dim(self) -> str:
        """Dimension name of this axis' groups, e.g. ``group_gender``."""
        return f"{dims.GROUP}_{self.name}"


@dataclass(frozen=True)
class InstrumentData:
    """Raw questionnaire answers in long form (0-based categories)."""

    questions: tuple[str, ...]
    question_value: np.ndarray  # (Q,) value index of each modelled question
    participant: np.ndarray  # (M,)
    question: np.ndarray  # (M,)
    y: np.ndarray  # (M,)
    n_categories: int


@dataclass(frozen=True)
class ModelData:
    """Everything :func:`~vp_bayes.model.build.build_model` reads, as numpy arrays + labels."""

    participants: tuple[str, ...]
    items: tuple[str, ...]
    values: tuple[str, ...]
    n_categories: int
    scale_min: int
    rating_participant: np.ndarray
    rating_item: np.ndarray
    rating_y: np.ndarray
    value_input: str  # "instrument" | "latent" | "exact" | "calibrated"
    values_z: np.ndarray | None = None  # (P, V) standardised pre-scored values (NaN = missing)
    value_mean: np.ndarray | None = None
    value_sd: np.ndarray | None = None
    reliability: np.ndarray | None = None
    value_null_space: np.ndarray | None = None  # (V, r) directions the values never vary in
    instrument: InstrumentData | None = None
    axes: tuple[AxisData, ...] = field(default_factory=tuple)
    dif: AxisData | None = None  # the axis of differential item functioning, if any
    calibration: Calibration | None = None  # value_input='calibrated': the covariates

    @property
    def ipsative_latent(self) -> bool:
        """True when ipsative pre-scored values enter as noisy measures (subspace model)."""
        return (self.value_input == "latent" and self.value_null_space is not None
                and self.value_null_space.shape[1] > 0)

    @property
    def covariates(self) -> np.ndarray | None:
        """(P, V) values the ratings regress on when they are data (exact or calibrated)."""
        if self.value_input == "calibrated":
            return self.calibration.predicted
        if self.value_input == "exact":
            return np.nan_to_num(self.values_z)
        return None

    @property
    def value_basis(self) -> np.ndarray:
        """Orthonormal basis (V, V - r) of the subspace the pre-scored values span."""
        return complement_basis(self.value_null_space)

    def coords(self) -> dict[str, list[str]]:
        """Coordinates for every dimension of the model."""
        k = self.n_categories
        out = {
            dims.PARTICIPANT: list(self.participants),
            dims.ITEM: list(self.items),
            dims.VALUE: list(self.values),
            f"{dims.VALUE}_b": list(self.values),
            dims.CUTPOINT: [f"{i + self.scale_min}|{i + self.scale_min + 1}"
                            for i in range(k - 1)],
            dims.CATEGORY: [str(i + self.scale_min) for i in range(k)],
        }
        if self.instrument is not None:
            out[dims.QUESTION] = list(self.instrument.questions)
        for axis in (*self.axes, *([self.dif] if self.dif is not None else [])):
            out[axis.dim] = list(axis.groups)
        return out


def null_space(values_z: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Orthonormal directions (V, r) in which the standardised values have no variance.

    MRAT-centred (ipsative) scores obey one linear identity per person (the item-weighted
    centred scores sum to zero), so their covariance has a zero eigenvalue. Loadings along
    that direction are not identified by the data; the model projects them out.
    """
    complete = values_z[~np.isnan(values_z).any(axis=1)]
    cov = np.cov(complete, rowvar=False)
    eigval, eigvec = np.linalg.eigh(cov)
    return eigvec[:, eigval < tol * eigval.max()]


def complement_basis(null: np.ndarray) -> np.ndarray:
    """Orthonormal basis (V, V - r) of the orthogonal complement of the columns of ``null``."""
    eigval, eigvec = np.linalg.eigh(np.eye(null.shape[0]) - null @ null.T)
    return eigvec[:, eigval > 0.5]


def _resolve_value_input(wave: Wave, config: ModelConfig, ipsative: bool) -> str:
    mode = _value_input_mode(wave, config, ipsative)
    if config.value_prior == "inverse_wishart" and mode != "instrument":
        raise InputError(f"the inverse-Wishart value prior needs raw questionnaire answers "
                         f"(instrument.csv; value input {mode!r})",
                         file=str(wave.source or "wave"), field="value_prior")
    return mode


def _value_input_mode(wave: Wave, config: ModelConfig, ipsative: bool) -> str:
    mode = config.value_input
    if mode == "auto":
        if wave.answers is not None:
            return "instrument"
        return "calibrated" if ipsative else "latent"
    if mode == "instrument" and wave.answers is None:
        raise InputError("value_input='instrument' needs raw answers (instrument.csv)",
                         file=str(wave.source or "wave"), field="value_input")
    if mode in ("latent", "exact", "calibrated") and wave.values is None:
        raise InputError(f"value_input='{mode}' needs pre-scored values (values.csv)",
                         file=str(wave.source or "wave"), field="value_input")
    return mode


def _reliability(config: ModelConfig, values: tuple[str, ...]) -> np.ndarray:
    rel = config.reliability
    if isinstance(rel, dict):
        missing = [v for v in values if v not in rel]
        if missing:
            raise InputError(f"no reliability given for {missing}", file="config",
                             field="reliability")
        return np.array([float(rel[v]) for v in values])
    return np.full(len(values), float(rel))


def _axis(wave: Wave, col: str, participants: pd.Index) -> AxisData:
    if col not in wave.participants.columns:
        raise InputError("demographic axis not found in participants",
                         file="participants.csv", field=col)
    series = wave.participants[col].reindex(participants)
    groups = tuple(sorted(series.dropna().astype(str).unique()))
    lookup = {g: i for i, g in enumerate(groups)}
    codes = np.array([lookup.get(str(g), -1) if pd.notna(g) else -1 for g in series])
    return AxisData(name=col, groups=groups, codes=codes)


def _axes(wave: Wave, config: ModelConfig, participants: pd.Index) -> tuple[AxisData, ...]:
    cols = (list(wave.participants.columns) if config.demographic_axes is None
            else list(config.demographic_axes))
    axes = (_axis(wave, col, participants) for col in cols)
    return tuple(a for a in axes if len(a.groups) >= 2)  # one group carries no contrast


def _dif_axis(wave: Wave, config: ModelConfig, participants: pd.Index) -> AxisData | None:
    if config.dif_axis is None:
        return None
    axis = _axis(wave, config.dif_axis, participants)
    if len(axis.groups) < 2:
        raise InputError("the DIF axis needs at least two groups", file="participants.csv",
                         field=config.dif_axis)
    return axis


def _instrument(wave: Wave, values: tuple[str, ...], config: ModelConfig,
                pidx: dict[str, int]) -> InstrumentData:
    from vp_bayes.instruments import get_instrument, question_values

    instrument = get_instrument(wave.manifest.instrument)
    mapping = question_values(instrument, config.value_level)
    vindex = {v: i for i, v in enumerate(values)}
    questions = tuple(q for q in wave.answers.columns if mapping.get(q) in vindex)
    long = wave.answers[list(questions)].stack().rename("answer").reset_index()
    long.columns = ["participant_id", "question", "answer"]
    qindex = {q: i for i, q in enumerate(questions)}
    return InstrumentData(
        questions=questions,
        question_value=np.array([vindex[mapping[q]] for q in questions]),
        participant=long["participant_id"].map(pidx).to_numpy(),
        question=long["question"].map(qindex).to_numpy(),
        y=(long["answer"].to_numpy() - instrument.scale_min).astype(np.int64),
        n_categories=instrument.scale_max - instrument.scale_min + 1,
    )


def prepare_data(wave: Wave, config: ModelConfig) -> ModelData:
    """Index a wave for the model.

    Parameters
    ----------
    wave
        A validated wave.
    config
        The model configuration (value level, value input, reliability, axes).

    Returns
    -------
    ModelData
    """
    values = dims.TRAIT_SETS[config.value_level]
    participants = wave.participants.index.astype(str)
    items = wave.items.index.astype(str)
    pidx = {p: i for i, p in enumerate(participants)}
    iidx = {j: i for i, j in enumerate(items)}
    ratings = wave.ratings
    prescored = None
    if wave.values is not None and wave.answers is None:
        missing_cols = [v for v in values if v not in wave.values.columns]
        if missing_cols:
            raise InputError(f"pre-scored values lack {missing_cols}", file="values.csv",
                             field=missing_cols[0])
        prescored = wave.values.reindex(participants)[list(values)].to_numpy(dtype=float)
    ipsative = prescored is not None and null_space(prescored).shape[1] > 0
    mode = _resolve_value_input(wave, config, ipsative)
    k = wave.manifest.n_categories

    common = dict(
        participants=tuple(participants),
        items=tuple(items),
        values=tuple(values),
        n_categories=k,
        scale_min=wave.manifest.scale_min,
        rating_participant=ratings["participant_id"].astype(str).map(pidx).to_numpy(),
        rating_item=ratings["item_id"].astype(str).map(iidx).to_numpy(),
        rating_y=(ratings["rating"].to_numpy() - wave.manifest.scale_min).astype(np.int64),
        value_input=mode,
        axes=_axes(wave, config, participants),
        dif=_dif_axis(wave, config, participants),
    )
    if mode == "instrument":
        return ModelData(**common, instrument=_instrument(wave, values, config, pidx))

    raw = prescored
    if (mode in ("exact", "calibrated") or ipsative) and np.isnan(raw).any():
        row = int(np.argwhere(np.isnan(raw))[0, 0])
        what = (f"value_input='{mode}'" if mode in ("exact", "calibrated")
                else "the latent model of centred (ipsative) values")
        raise InputError(f"{what} needs every value of every participant",
                         file="values.csv", row=row + 1,
                         field=values[int(np.argwhere(np.isnan(raw))[0, 1])])
    mean = np.nanmean(raw, axis=0)
    sd = np.nanstd(raw, axis=0, ddof=1)
    values_z = (raw - mean) / sd
    null = null_space(values_z)
    reliability = _reliability(config, values)
    calibration = (calibrate(values_z, reliability, complement_basis(null))
                   if mode == "calibrated" else None)
    return ModelData(**common, values_z=values_z, value_mean=mean, value_sd=sd,
                     reliability=reliability, value_null_space=null, calibration=calibration)

"""Exports of scored portraits: one respondent as JSON, and the run manifest of a scoring.

:func:`export_portrait` gives a JSON-ready dict of one respondent's portrait (values with
their intervals, percentiles and reliability; person fit; the scoring settings and the item
model's identity stored in the draws' attributes). :func:`run_manifest` records what a scoring
run read and with what: the model and rating files' SHA-256, the versions of the packages that
computed it and the settings; ``vp-bayes score`` writes it beside its table as
``<out>.manifest.json`` (:func:`manifest_path`). :func:`write_json` writes either (strict
JSON: NaN and infinities become ``null``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vp_bayes import __version__, dims
from vp_bayes.errors import InputError
from vp_bayes.scoring import checks
from vp_bayes.scoring.portraits import portrait_table

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = ".manifest.json"
# Packages whose versions a manifest records (the first five: those that compute a portrait).
PACKAGES: tuple[str, ...] = ("vp_bayes", "pymc", "arviz", "numpy", "xarray", "scipy", "pandas",
                             "numba", "nutpie")
# Attributes of the portrait draws that are scoring settings (written by ``score``).
SETTINGS: tuple[str, ...] = ("method", "personas", "persona_sd", "prior_scale", "n_item_draws",
                             "n_per_draw", "n_proposals", "seed", "variant_offsets", "soft",
                             "importance", "item_deviation", "person_fit", "mass")
# Attributes that name the item model (and the files) the portraits were scored through.
IDENTITY: tuple[str, ...] = ("model_version", "wave_hash", "model_config", "model_file",
                             "model_file_sha256", "ratings_file", "ratings_file_sha256",
                             "vp_bayes_version")
# Per value in an exported portrait: portrait-table column -> JSON key.
VALUE_FIELDS: dict[str, str] = {
    "mean": "mean", "sd": "sd", "lower": "lower", "upper": "upper",
    "centered_mean": "centered_mean", "centered_lower": "centered_lower",
    "centered_upper": "centered_upper", "percentile": "percentile",
    "percentile_lower": "percentile_lower", "percentile_upper": "percentile_upper",
    "reliability": "reliability", "prior_sensitivity": "prior_sensitivity",
}
COUNT_FIELDS = ("n_ratings", "n_unparsed", "n_unknown_items")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values, tuples as lists, and NaN or
    infinite floats as ``None`` (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented strict JSON (:func:`jsonable`); the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(data), indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (``None`` when it is not installed)."""
    out: dict[str, str | None] = {}
    for name in packages:
        if name == "vp_bayes":
            out[name] = __version__
            continue
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _draws(portraits: object) -> xr.Dataset:
    ds = portraits if isinstance(portraits, xr.Dataset) else getattr(portraits, "draws", None)
    if not isinstance(ds, xr.Dataset) or "theta" not in ds:
        raise TypeError(f"expected Portraits or their draws Dataset, got {type(portraits)!r}")
    return ds


def _attr(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return value


def scoring_settings(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The scoring settings (:data:`SETTINGS`) among the portrait draws' attributes."""
    return {k: _attr(attrs[k]) for k in SETTINGS if k in attrs}


def model_identity(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What names the item model (and the files) of the portraits (:data:`IDENTITY`).

    ``model_config`` (stored as the text of a dict) is returned as a dict when it reads as one.
    """
    out = {k: _attr(attrs[k]) for k in IDENTITY if k in attrs}
    config = out.get("model_config")
    if isinstance(config, str) and config:
        try:
            parsed = ast.literal_eval(config)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, dict):
            out["model_config"] = parsed
    return out


def export_portrait(portraits: object, respondent: str,
                    mass: float | None = None) -> dict[str, Any]:
    """One respondent's portrait as a JSON-ready dict.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondent
        Its name (``model`` or ``model|persona``).
    mass
        Interval mass (default: the one the portraits were scored with, else 0.9).

    Returns
    -------
    dict
        ``respondent, model, persona, mass, scale`` (what the latent scale means);
        ``values``: per value ``mean, sd, lower, upper`` (latent scale), ``centered_*``,
        ``percentile`` with its interval, ``reliability``, ``prior_sensitivity``;
        ``person_fit``: the posterior predictive p-values, ``misfit`` and the threshold;
        ``noise`` (posterior medians of tau and sigma), ``counts`` of ratings,
        ``importance_sampling`` (ESS fraction, Pareto k-hat); ``scoring`` the settings and
        ``item_model`` the identity stored in the draws' attributes. NaN is ``None``.

    Raises
    ------
    InputError
        If the respondent was not scored (field ``respondent``).
    """
    ds = _draws(portraits)
    names = [str(r) for r in ds[dims.RESPONDENT].values]
    if respondent not in names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise InputError(f"unknown respondent {respondent!r} (scored: {shown})",
                         field=dims.RESPONDENT)
    mass = float(ds.attrs.get("mass", dims.INTERVAL_MASS)) if mass is None else float(mass)
    one = ds.isel({dims.RESPONDENT: [names.index(respondent)]})
    table = portrait_table(one, mass)
    first = table.iloc[0]
    values = {str(r["value"]): {key: r[col] for col, key in VALUE_FIELDS.items()}
              for _, r in table.iterrows()}
    ppp = {k.removeprefix("ppp_"): first[k] for k in checks.PPP_NAMES}
    out = {
        "respondent": respondent,
        "model": first["model"],
        "persona": first["persona"],
        "mass": mass,
        "scale": str(ds.attrs.get("scale", "theta: 0 = population mean, 1 = one population SD")),
        "values": values,
        "person_fit": {"p_values": ppp, "misfit": bool(first["misfit"]),
                       "misfit_below": checks.MISFIT_P},
        "noise": {"tau": first["tau"], "sigma": first["sigma"]},
        "counts": {k: int(first[k]) for k in COUNT_FIELDS},
        "importance_sampling": {"ess_fraction": first["ess_fraction"],
                                "pareto_k": first["pareto_k"]},
        "scoring": scoring_settings(ds.attrs),
        "item_model": model_identity(ds.attrs),
    }
    return jsonable(out)


def _file_entry(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    return {"path": str(path), "sha256": file_sha256(path), "bytes": path.stat().st_size}


def run_manifest(portraits: object, *, model_file: str | Path | None = None,
                 ratings_file: str | Path | None = None,
                 outputs: Mapping[str, str | Path] | None = None,
                 settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a scoring run: what it read, with which software and settings.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` (or their draws) the run produced.
    model_file, ratings_file
        The fitted item model and the LLM rating table read (hashed here).
    outputs
        Files the run wrote, by role (``{"table": ..., "draws": ...}``); recorded by path.
    settings
        Further settings to record (merged over the draws' :data:`SETTINGS`).

    Returns
    -------
    dict
        JSON-ready: ``format``, ``created`` (UTC, ISO 8601), ``model_file`` and
        ``ratings_file`` (path, sha256, bytes), ``item_model`` (:func:`model_identity`),
        ``settings``, ``packages`` (:func:`package_versions`), ``python``, ``platform``,
        ``respondents``, ``outputs``.
    """
    ds = _draws(portraits)
    merged = scoring_settings(ds.attrs) | dict(settings or {})
    out = {
        "format": MANIFEST_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": _file_entry(model_file),
        "ratings_file": _file_entry(ratings_file),
        "item_model": {k: v for k, v in model_identity(ds.attrs).items()
                       if k not in ("model_file", "model_file_sha256", "ratings_file",
                                    "ratings_file_sha256")},
        "settings": merged,
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": f"{sys.platform} {platform.machine()}".strip(),
        "respondents": [str(r) for r in ds[dims.RESPONDENT].values],
        "outputs": {k: str(v) for k, v in (outputs or {}).items()},
    }
    return jsonable(out)


def manifest_path(out: str | Path) -> Path:
    """Where ``vp-bayes score --out OUT`` writes its manifest: ``OUT`` with the suffix
    ``.manifest.json`` (``portraits.csv`` -> ``portraits.manifest.json``)."""
    return Path(out).with_suffix(MANIFEST_SUFFIX)

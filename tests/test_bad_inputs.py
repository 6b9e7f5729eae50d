"""Bad input to every command: one ``error:`` line naming file, row and field, exit 2.

Table-driven (issue 15, section 2): each case builds one bad input from small good files (a
tiny simulated wave, a hand-built item model saved to netCDF, portrait draws, tags, a rating
table, a miniature Value Portrait release) and runs :func:`vp_bayes.cli.main` in-process.
Every case must exit 2 with exactly one line on stderr that names the file and, where it
applies, the row and the field; ``validate`` lists every problem instead (its cases say how
many lines). Nothing here fits or scores: the commands must refuse before that work, so a
missing check shows up as a slow or passing run, not as a quiet one.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vp_bayes import dims
from vp_bayes.cli import main
from vp_bayes.cli.app import PIPELINE
from vp_bayes.output import write_csv

# --- the good files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """Paths of the good inputs every case starts from (read-only: cases copy them)."""

    root: Path
    wave: Path
    ratings: Path  # the simulated LLM rating table
    model: Path
    portraits: Path  # draws (.nc) scored "through" model
    tags: Path  # vp-bayes select's table of the wave
    items: Path
    release: Path  # a miniature Value Portrait release
    a_file: Path  # a plain file, to put outputs "inside"

    def unwritable(self, name: str) -> str:
        """An output path whose folder is a file: cannot be written (even by root)."""
        return str(self.a_file / name)


def _fake_model(sim, wave_hash: str):
    """An ItemModel whose 'posterior' is jittered copies of the simulated truth."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import ItemModel

    truth, rng, n_draws = sim.truth, np.random.default_rng(0), 20
    cd = (dims.CHAIN, dims.DRAW)

    def jit(a, sd: float = 0.05) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        return a[None, None] + sd * rng.standard_normal((2, n_draws, *a.shape))

    post = xr.Dataset(
        {
            "beta": ((*cd, dims.ITEM, dims.VALUE), jit(truth["beta"].values)),
            "b": ((*cd, dims.ITEM), jit(truth["b"].values)),
            "kappa": ((*cd, dims.CUTPOINT), jit(truth["kappa"].values, 0.0)),
            "sigma_alpha": (cd, np.abs(jit(truth["sigma_alpha"].values))),
            "corr": ((*cd, dims.VALUE, f"{dims.VALUE}_b"),
                     np.broadcast_to(truth["R"].values, (2, n_draws, 10, 10)).copy()),
            "theta": ((*cd, dims.PARTICIPANT, dims.VALUE), jit(truth["theta"].values)),
            "effect_gender": ((*cd, f"{dims.GROUP}_gender", dims.VALUE),
                              jit(truth["effect_gender"].values)),
        },
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(n_draws),
                dims.ITEM: truth[dims.ITEM].values, dims.VALUE: truth[dims.VALUE].values,
                f"{dims.VALUE}_b": truth[dims.VALUE].values,
                dims.PARTICIPANT: truth[dims.PARTICIPANT].values,
                dims.CUTPOINT: np.arange(truth.sizes[dims.CUTPOINT]),
                f"{dims.GROUP}_gender": truth[f"{dims.GROUP}_gender"].values},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(n_categories=truth.sizes[dims.CUTPOINT] + 1, scale_min=1)
    diag = pd.DataFrame({"r_hat_max": [1.0], "ess_bulk_min": [400.0], "ess_tail_min": [400.0]},
                        index=pd.Index(["beta"], name="variable"))
    return ItemModel(tree, ModelConfig(), SamplerConfig(), wave_hash=wave_hash,
                     diagnostics=diag, wave_name="tiny")


def _portrait_draws(model, respondents: list[str], wave_hash: str | None = None) -> xr.Dataset:
    """Portrait draws as ``vp-bayes score`` saves them (identity attributes included)."""
    rng = np.random.default_rng(1)
    n, v = 100, len(model.values)
    theta = rng.normal(0.0, 0.5, (len(respondents), n, v))
    per = (dims.RESPONDENT,)
    ds = xr.Dataset(
        {"theta": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE), theta),
         "theta_centered": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE),
                           theta - theta.mean(-1, keepdims=True)),
         "percentile": ((dims.RESPONDENT, dims.VALUE), np.full((len(respondents), v), 50.0)),
         "n_ratings": (per, np.full(len(respondents), 48, dtype=np.int32)),
         "n_unparsed": (per, np.zeros(len(respondents), dtype=np.int32)),
         "n_unknown_items": (per, np.zeros(len(respondents), dtype=np.int32)),
         "ess_fraction": (per, np.ones(len(respondents))),
         "pareto_k": (per, np.zeros(len(respondents)))},
        coords={dims.RESPONDENT: respondents, dims.SAMPLE: np.arange(n),
                dims.VALUE: list(model.values)},
    )
    ds.attrs.update(wave_hash=wave_hash or model.wave_hash,
                    model_config=str(model.model_config.to_dict()), mass=0.9)
    return ds


def _write_release(root: Path) -> Path:
    """A miniature Value Portrait release: two queries, two raters, the files it needs."""
    from vp_bayes.dims import BIG_FIVE, HIGHER_ORDER, VALUES_10
    from vp_bayes.wave.importers import valueportrait as vp

    def dump(rel: Path, data: object) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(data), encoding="utf-8")

    survey = [{"1001": [{"option_id": k, "data": [[1 + k, "p1"], [6 - k, "p2"]]}
                        for k in (1, 2)],
               "3001": [{"option_id": 1, "data": [[4, "p1"], [2, "p2"]]}]}]
    dump(vp.SURVEY, survey)
    scores = {"pvq": {v: 0.1 * i for i, v in enumerate(VALUES_10)},
              "bfi": dict.fromkeys(BIG_FIVE, 3.0), "higher_pvq": dict.fromkeys(HIGHER_ORDER, 0.0)}
    dump(vp.VALUES, {"p1": scores, "p2": scores, "p3": scores})
    reddit = [{"extra": {"portrait_id": 1001}, "content": {"title": "T", "text": "Q?"},
               "outputs": [{"id": k, "content": f"answer {k}"} for k in (1, 2)]}]
    dump(vp.QUERY_DIR / "Reddit.json", reddit)
    sharegpt = [{"extra": {"portrait_id": 3001}, "content": {"text": "Q3?"},
                 "outputs": [{"id": 1, "content": "answer"}]}]
    dump(vp.QUERY_DIR / "ShareGPT.json", sharegpt)
    for source in ("DearAbby", "LMSYS"):
        dump(vp.QUERY_DIR / f"{source}.json", [])
    dump(vp.PHASE1, [])
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    from vp_bayes.model.io import save_model
    from vp_bayes.selection.correlation import item_trait_correlations, wave_traits
    from vp_bayes.wave.simulate import simulate_wave, write_simulated

    root = tmp_path_factory.mktemp("good")
    sim = simulate_wave(n_participants=40, n_items=8, items_per_participant=8, seed=3,
                        n_llm=1)
    wave = write_simulated(sim, root / "wave")
    model = _fake_model(sim, sim.wave.data_hash())
    save_model(model, root / "model.nc", card=False)
    names = [str(r) for r in pd.unique(sim.llm_ratings["respondent"])]
    _portrait_draws(model, names).to_netcdf(root / "portraits.nc", engine="scipy")
    tags = item_trait_correlations(sim.wave.ratings, wave_traits(sim.wave, "values"))
    tags.loc[tags.index[:3], "tagged"] = True  # a few tags whatever the tiny sample says
    write_csv(tags, root / "tags.csv")
    a_file = root / "a_file"
    a_file.write_text("not a folder\n")
    return Base(root=root, wave=wave, ratings=wave / "llm_ratings.csv", model=root / "model.nc",
                portraits=root / "portraits.nc", tags=root / "tags.csv",
                items=wave / "items.csv", release=_write_release(root / "release"),
                a_file=a_file)


# --- building bad inputs -------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def _text(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp / name
    path.write_bytes(text.encode(encoding))
    return path


def _edit_csv(src: Path, dst: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    edit(frame).to_csv(dst, index=False)
    return dst


def _edit_lines(src: Path, dst: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    dst.write_text("\n".join(edit(src.read_text().splitlines())) + "\n")
    return dst


def _set(frame: pd.DataFrame, row: int, col: str, value: str) -> pd.DataFrame:
    frame.loc[row - 1, col] = value  # row: 1-based data row
    return frame


def _latin1(src: Path, dst: Path) -> Path:
    """``src`` with a Latin-1 'é' in its second line (not UTF-8)."""
    lines = src.read_text().splitlines()
    lines[1] = lines[1] + "\xe9" if not lines[1].endswith(",") else lines[1] + "caf\xe9"
    dst.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return dst


def _wave(base: Base, tmp: Path) -> Path:
    return _copy(base.wave, tmp / "wave")


def _prescored_wave(tmp: Path, ipsative: bool = True) -> Path:
    """A small wave with pre-scored values (values.csv) instead of raw answers: exactly
    ipsative (each participant's mean value removed) or as simulated (nearly ipsative)."""
    import contextlib
    import io

    from vp_bayes.dims import VALUES_10
    from vp_bayes.wave.simulate import simulate_wave, write_simulated

    with contextlib.redirect_stderr(io.StringIO()):  # the simulator's progress bar
        sim = simulate_wave(n_participants=40, n_items=8, items_per_participant=8, seed=3,
                            n_llm=1, prescored=True)
    if ipsative:
        vals = sim.wave.values.copy()
        cols = list(VALUES_10)
        vals[cols] = vals[cols].sub(vals[cols].mean(axis=1), axis=0)
        sim = replace(sim, wave=replace(sim.wave, values=vals))
    return write_simulated(sim, tmp / "prescored")


def _model_edit(base: Base, tmp: Path, attrs: dict | None = None,
                posterior: Callable[[xr.Dataset], xr.Dataset] | None = None) -> Path:
    """A copy of the good model file with edited root attributes or posterior."""
    with xr.open_datatree(base.model, engine="netcdf4") as opened:
        tree = opened.load()
    if attrs:
        tree.attrs.update(attrs)
    if posterior is not None:
        tree["posterior"] = xr.DataTree(posterior(tree["posterior"].to_dataset()))
    out = tmp / "edited.nc"
    tree.to_netcdf(out, engine="netcdf4")
    return out


def _nan_beta(post: xr.Dataset) -> xr.Dataset:
    beta = post["beta"].values.copy()
    beta[1, 3, 2, 4] = np.nan
    return post.assign(beta=(post["beta"].dims, beta))


def _inf_kappa(post: xr.Dataset) -> xr.Dataset:
    kappa = post["kappa"].values.copy()
    kappa[0, 0, -1] = np.inf
    return post.assign(kappa=(post["kappa"].dims, kappa))


def _reversed_kappa(post: xr.Dataset) -> xr.Dataset:
    return post.assign(kappa=(post["kappa"].dims, post["kappa"].values[..., ::-1].copy()))


def _other_portraits(base: Base, tmp: Path, **attrs: str) -> Path:
    """The good portrait draws with other identity attributes (another model's)."""
    with xr.open_dataset(base.portraits, engine="scipy") as ds:
        ds = ds.load()
    ds.attrs.update(attrs)
    out = tmp / "other_portraits.nc"
    ds.to_netcdf(out, engine="scipy")
    return out


def _manifest_folder(base: Base, tmp: Path) -> list[str]:
    """The good model and ratings; a folder where ``score`` would write its manifest."""
    (tmp / "manifest_folder" / "p.manifest.json").mkdir(parents=True)
    return [str(base.model), str(base.ratings)]


def _portraits_without_theta(base: Base, tmp: Path) -> Path:
    """The good portrait draws without their ``theta`` variable."""
    with xr.open_dataset(base.portraits, engine="scipy") as ds:
        ds = ds.load()
    out = tmp / "p.nc"
    ds.drop_vars("theta").to_netcdf(out, engine="scipy")
    return out


def _portrait_csv_beside_other_nc(base: Base, tmp: Path) -> Path:
    """A portrait table whose draws beside it (same stem, .nc) come from another wave."""
    from vp_bayes.scoring import load_portraits

    other = _other_portraits(base, tmp, wave_hash="f" * 64)
    table = tmp / "other_portraits.csv"
    write_csv(load_portraits(other).table, table)
    return table


def _release(base: Base, tmp: Path) -> Path:
    return _copy(base.release, tmp / "release")


def _json_edit(path: Path, edit: Callable[[object], object]) -> Path:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return path


def _tags_of_other_wave(base: Base, tmp: Path) -> Path:
    return _edit_csv(base.tags, tmp / "tags.csv",
                     lambda f: f.assign(item_id=f["item_id"].str.replace("item", "other")))


# --- the cases -----------------------------------------------------------------------------

Build = Callable[[Base, Path], list[str]]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line built from the good files, and what the line names.

    ``file`` is the name of the file the message must name (None: an option); ``row`` and
    ``field`` are required in the message when given; ``says`` is a fragment of the
    message; ``lines`` is the number of stderr lines (``validate``: one per problem).
    """

    id: str
    build: Build
    says: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    lines: int = 1


def _options(command: str, *head: str) -> Callable[..., Build]:
    """A builder factory for ``command`` whose positional arguments come from the base."""

    def make(*extra: str, args: Callable[[Base, Path], list[str]] | None = None) -> Build:
        def build(b: Base, tmp: Path) -> list[str]:
            first = args(b, tmp) if args is not None else [str(getattr(b, h)) for h in head]
            return [command, *first, *(e.format(b=b, tmp=tmp) for e in extra)]

        return build

    return make


U = "{b.a_file}/out"  # inside a plain file: not writable, even by root

CASES: list[Case] = [
    # --- validate WAVE -------------------------------------------------------------------
    Case("validate: no such folder",
         lambda b, t: ["validate", str(t / "nowhere")], "wave folder not found", "nowhere"),
    Case("validate: ratings not UTF-8",
         lambda b, t: ["validate", str(_latin1(b.wave / "ratings.csv",
                                              _wave(b, t) / "ratings.csv").parent)],
         "not UTF-8", "ratings.csv"),
    Case("validate: empty wave.json",
         lambda b, t: ["validate", str(_text(_wave(b, t), "wave.json", "").parent)],
         "file is empty", "wave.json"),
    Case("validate: ragged participants row",
         lambda b, t: ["validate", str(_edit_lines(
             b.wave / "participants.csv", _wave(b, t) / "participants.csv",
             lambda ls: [*ls[:3], ls[3] + ",x,y", *ls[4:]]).parent)],
         "malformed CSV", "participants.csv", row=3),
    Case("validate: corrupt parquet",
         lambda b, t: ["validate", str(_parquet_junk(_wave(b, t)))],
         "cannot read parquet", "items.parquet"),
    Case("validate: every problem listed",
         lambda b, t: ["validate", str(_edit_csv(
             b.wave / "ratings.csv", _wave(b, t) / "ratings.csv",
             lambda f: _set(_set(_set(f, 2, "rating", "9"), 5, "rating", "x"), 7, "item_id",
                            "item999")).parent)],
         "ratings.csv", "ratings.csv", row=7, field="item_id", lines=3),
    Case("validate: problems past --limit counted",
         lambda b, t: ["validate", str(_edit_csv(
             b.wave / "ratings.csv", _wave(b, t) / "ratings.csv",
             lambda f: f.assign(rating="0")).parent), "--limit", "2"],
         "more problems", "ratings.csv", row=1, field="rating", lines=3),
    # --- simulate OUT ---------------------------------------------------------------------
    Case("simulate: OUT inside a file",
         lambda b, t: ["simulate", b.unwritable("w"), "--participants", "5", "--items", "3"],
         "is a file, not a folder", "a_file"),
    Case("simulate: more items per participant than items",
         lambda b, t: ["simulate", str(t / "w"), "--items", "3", "--per-participant", "5"],
         "must be in 1..3", field="items_per_participant"),
    # --- import valueportrait RELEASE OUT -------------------------------------------------
    Case("import: not a release",
         lambda b, t: ["import", "valueportrait", str(t), str(t / "w")],
         "not a Value Portrait release"),
    Case("import: value.json missing",
         lambda b, t: ["import", "valueportrait", str(_removed(_release(b, t), "value.json")),
                       str(t / "w")], "not found", "value.json"),
    Case("import: survey.json not JSON",
         lambda b, t: ["import", "valueportrait",
                       str(_rewritten(_release(b, t), "survey.json", "[{")), str(t / "w")],
         "invalid JSON", "survey.json"),
    Case("import: survey.json UTF-16",
         lambda b, t: ["import", "valueportrait", str(_utf16(_release(b, t), "survey.json")),
                       str(t / "w")], "not UTF-8", "survey.json"),
    Case("import: an option without data",
         lambda b, t: ["import", "valueportrait", str(_json_changed(
             _release(b, t), "survey.json", lambda d: [{"1001": [{"option_id": 1}]}])),
             str(t / "w")], "missing key 'data'", "survey.json", field="[0]['1001'] option 1"),
    Case("import: a response without text",
         lambda b, t: ["import", "valueportrait", str(_json_changed(
             _release(b, t), "Reddit.json",
             lambda d: [{**d[0], "outputs": [{"id": 1}, {"id": 2, "content": "x"}]}])),
             str(t / "w")], "missing key 'content'", "Reddit.json",
         field="[0].outputs[0]"),
    Case("import: a rater without pvq scores",
         lambda b, t: ["import", "valueportrait", str(_json_changed(
             _release(b, t), "value.json", lambda d: {**d, "p2": {"bfi": {}}})), str(t / "w")],
         "no 'pvq' scores", "value.json", field="p2.pvq"),
    Case("import: OUT is a file",
         lambda b, t: ["import", "valueportrait", str(b.release), str(b.a_file)],
         "is a file, not a folder", "a_file"),
    # --- select WAVE --out ---------------------------------------------------------------
    Case("select: rating off the scale",
         lambda b, t: ["select", str(_edit_csv(b.wave / "ratings.csv",
                                               _wave(b, t) / "ratings.csv",
                                               lambda f: _set(f, 4, "rating", "7")).parent),
                       "--out", str(t / "tags.csv")],
         "not an integer in 1..6", "ratings.csv", row=4, field="rating"),
    Case("select: --published missing",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(t / "pub.json")], "not found", "pub.json"),
    Case("select: --published not JSON",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(_text(t, "pub.json", "[{\"portrait_id\": 1,"))],
         "invalid JSON", "pub.json"),
    Case("select: --published an object",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(_text(t, "pub.json", "{}"))], "non-empty JSON list", "pub.json"),
    Case("select: --published record without a correlation",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(_published(t, drop="spearman_corr", at=2))],
         "missing key", "pub.json", row=2, field="spearman_corr"),
    Case("select: --published correlation above 1",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(_published(t, spearman_corr=1.7, at=1))],
         "[-1, 1]", "pub.json", row=1, field="spearman_corr"),
    Case("select: --published p-value below 0",
         lambda b, t: ["select", str(b.wave), "--out", str(t / "o.csv"), "--published",
                       str(_published(t, spearman_p_value=-0.2, at=3))],
         "[0, 1]", "pub.json", row=3, field="spearman_p_value"),
    Case("select: --threshold above 1", _options("select", "wave")(
        "--out", "{tmp}/o.csv", "--threshold", "1.5"), "Invalid value for '--threshold'"),
    Case("select: --alpha 0", _options("select", "wave")(
        "--out", "{tmp}/o.csv", "--alpha", "0"), "Invalid value for '--alpha'"),
    Case("select: --n-permutations -1", _options("select", "wave")(
        "--out", "{tmp}/o.csv", "--n-permutations", "-1"),
        "Invalid value for '--n-permutations'"),
    Case("select: --out not writable", _options("select", "wave")("--out", U + "/tags.csv"),
         "is a file, not a folder", "tags.csv"),
    # --- fit WAVE --out (nothing is fitted: every case fails first) ----------------------
    Case("fit: --config missing", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--config", "{tmp}/cfg.json"), "config file not found",
        "cfg.json"),
    Case("fit: --config draws 'abc'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"draws": "abc"}}'))],
         "must be a whole number", "cfg.json", field="draws"),
    Case("fit: --config draws null",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"draws": null}}'))],
         "must be a whole number", "cfg.json", field="draws"),
    Case("fit: --config draws 2.5",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"draws": 2.5}}'))],
         "must be a whole number", "cfg.json", field="draws"),
    Case("fit: --config sampler section 5",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": 5}'))],
         "must be a JSON object", "cfg.json", field="sampler"),
    Case("fit: --config sampler name 5",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"sampler": 5}}'))],
         "must be a string", "cfg.json", field="sampler"),
    Case("fit: --config response_style 'yes'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"model": {"response_style": "yes"}}'))],
         "must be true or false", "cfg.json", field="response_style"),
    Case("fit: --config reliability 'high'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"model": {"reliability": "high"}}'))],
         "must be a number", "cfg.json", field="reliability"),
    Case("fit: --config target_accept 'high'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"target_accept": "high"}}'))],
         "must be null or a finite number", "cfg.json", field="target_accept"),
    Case("fit: --config target_accept 1.5",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"target_accept": 1.5}}'))],
         "strictly between 0 and 1", "cfg.json", field="target_accept"),
    Case("fit: --config low-rank mass matrix 'yes'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"sampler": {"low_rank_modified_mass_matrix": "yes"}}'))],
         "must be null, true or false", "cfg.json", field="low_rank_modified_mass_matrix"),
    Case("fit: --config loading_parameterization 'wild'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"loading_parameterization": "wild"}}'))],
         "must be 'auto' or", "cfg.json", field="loading_parameterization"),
    Case("fit: --config loading_scale_family 'cauchy'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"loading_scale_family": "cauchy"}}'))],
         "must be 'auto' or 'gamma' or 'half_normal'", "cfg.json",
         field="loading_scale_family"),
    Case("fit: --config loading_scale_rate 0",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"loading_scale_rate": 0}}'))],
         "must be positive", "cfg.json", field="loading_scale_rate"),
    Case("fit: --config loading_scale_prior with the gamma family",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json",
             '{"model": {"loading_scale_family": "gamma", "loading_scale_prior": 0.3}}'))],
         "sets the half_normal prior", "cfg.json", field="loading_scale_prior"),
    Case("fit: --config both spreads priors' numbers",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json",
             '{"model": {"loading_scale_prior": 0.3, "loading_scale_rate": 3}}'))],
         "numbers of both priors", "cfg.json", field="loading_scale_rate"),
    Case("fit: --config loading_scale_rate with the half-normal family",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json",
             '{"model": {"loading_scale_family": "half_normal", "loading_scale_rate": 2}}'))],
         "sets the gamma prior", "cfg.json", field="loading_scale_rate"),
    Case("fit: --config style_parameterization 'centered'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"style_parameterization": "centered"}}'))],
         "must be 'noncentered' or 'anchored'", "cfg.json",
         field="style_parameterization"),
    Case("fit: --config anchored styles with raw answers",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"style_parameterization": "anchored", '
             '"value_input": "instrument"}}'))],
         "need the values as data", "cfg.json", field="style_parameterization"),
    Case("fit: --config anchored styles on a wave of raw answers",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"style_parameterization": "anchored"}}'))],
         "need the values as data", "cfg.json", field="style_parameterization"),
    Case("fit: --config anchored styles with integrated scales",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"style_parameterization": "anchored", '
             '"integrate_scales": true}}'))],
         "unset integrate_scales", "cfg.json", field="style_parameterization"),
    Case("fit: --config integrate_scales 'yes'",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config", str(_text(
             t, "cfg.json", '{"model": {"integrate_scales": "yes"}}'))],
         "must be null, true or false", "cfg.json", field="integrate_scales"),
    Case("fit: --config unknown sampler key",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"speed": "fast"}}'))],
         "unknown sampler option", "cfg.json", field="sampler.speed"),
    Case("fit: --config unknown section",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"samplr": {}}'))],
         "unknown section", "cfg.json", field="samplr"),
    Case("fit: --config a folder", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--config", "{tmp}"), "is a folder", None),
    Case("fit: --config UTF-16",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"draws": 10}}', "utf-16"))],
         "not UTF-8", "cfg.json"),
    Case("fit: --out not writable", _options("fit", "wave")("--out", U + "/m.nc"),
         "is a file, not a folder", "m.nc"),
    Case("fit: --out a folder", _options("fit", "wave")("--out", "{tmp}"),
         "is a folder, not a file", None),
    Case("fit: --check-every 0", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--check-every", "0"), "must be a positive whole number", None,
        field="check_every"),
    Case("fit: --check-every with advi", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--sampler", "advi", "--check-every", "100"),
        "only the nutpie sampler can stop at the convergence bar", None, field="check_every"),
    Case("fit: --config check_every 2.5",
         lambda b, t: ["fit", str(b.wave), "--out", str(t / "m.nc"), "--config",
                       str(_text(t, "cfg.json", '{"sampler": {"check_every": 2.5}}'))],
         "must be null or a whole number", "cfg.json", field="check_every"),
    Case("fit: --keep-draws -3", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--keep-draws", "-3"), "Invalid value for '--keep-draws'"),
    Case("fit: wave without items.csv",
         lambda b, t: ["fit", str(_removed(_wave(b, t), "items.csv")), "--out",
                       str(t / "m.nc")], "required file missing", "items.csv"),
    # --- the model file (read by select-bayes, score, contrast, report) -------------------
    Case("model: missing", lambda b, t: ["select-bayes", str(t / "m.nc"), "--out",
                                         str(t / "s.csv")], "model file not found", "m.nc"),
    Case("model: not netCDF",
         lambda b, t: ["select-bayes", str(_text(t, "m.nc", "not a model")), "--out",
                       str(t / "s.csv")], "not a readable netCDF", "m.nc"),
    Case("model: model_config not JSON",
         lambda b, t: ["score", str(_model_edit(b, t, {"model_config": "{thresholds: shared"})),
                       str(b.ratings), "--out", str(t / "p.csv")],
         "not a JSON object", "edited.nc", field="model_config"),
    Case("model: unknown sampler_config key",
         lambda b, t: ["score", str(_model_edit(b, t, {"sampler_config": json.dumps(
             {"sampler": "nutpie", "speed": 3})})), str(b.ratings), "--out", str(t / "p.csv")],
         "unknown sampler option", "edited.nc", field="sampler_config.speed"),
    Case("model: sampler_config draws 'many'",
         lambda b, t: ["score", str(_model_edit(b, t, {"sampler_config": json.dumps(
             {"draws": "many"})})), str(b.ratings), "--out", str(t / "p.csv")],
         "must be a whole number", "edited.nc", field="draws"),
    Case("model: NaN in the posterior",
         lambda b, t: ["score", str(_model_edit(b, t, posterior=_nan_beta)), str(b.ratings),
                       "--out", str(t / "p.csv")], "NaN or infinite", "edited.nc",
         field="beta"),
    Case("model: infinite cutpoint",
         lambda b, t: ["contrast", str(_model_edit(b, t, posterior=_inf_kappa)),
                       "--out", str(t / "c.csv")], "NaN or infinite", "edited.nc",
         field="kappa"),
    Case("model: reversed cutpoints",
         lambda b, t: ["score", str(_model_edit(b, t, posterior=_reversed_kappa)),
                       str(b.ratings), "--out", str(t / "p.csv")],
         "cutpoints do not increase", "edited.nc", field="kappa"),
    Case("model: n_categories edited",
         lambda b, t: ["select-bayes", str(_model_edit(b, t, {"n_categories": 7})), "--out",
                       str(t / "s.csv")], "7 rating categories but 5 cutpoints", "edited.nc",
         field="n_categories"),
    Case("model: n_categories not a number",
         lambda b, t: ["report", str(_model_edit(b, t, {"n_categories": "six"})), "--out",
                       str(t / "r")], "not a whole number", "edited.nc", field="n_categories"),
    Case("model: thresholds 'item' but shared cutpoints",
         lambda b, t: ["score", str(_model_edit(b, t, {"model_config": json.dumps(
             {"thresholds": "item"})})), str(b.ratings), "--out", str(t / "p.csv")],
         "cutpoints are shared", "edited.nc", field="model_config"),
    Case("model: shared thresholds without item locations",
         lambda b, t: ["score", str(_model_edit(b, t, posterior=lambda p: p.drop_vars("b"))),
                       str(b.ratings), "--out", str(t / "p.csv")],
         "posterior variable missing", "edited.nc", field="b"),
    Case("model: a folder",
         lambda b, t: ["score", str(t), str(b.ratings), "--out", str(t / "p.csv")],
         "is a folder, not a model file", None),
    # --- card MODEL [--wave] [--compare] ----------------------------------------------------
    Case("card: --compare a fit of another wave",
         lambda b, t: ["card", str(_copy(b.model, t / "m.nc")), "--wave", str(b.wave),
                       "--compare", str(_model_edit(b, t, {"wave_hash": "e" * 64}))],
         "fitted to another wave", "edited.nc", field="wave_hash"),
    Case("card: --compare a missing file", lambda b, t: [
        "card", str(_copy(b.model, t / "m.nc")), "--wave", str(b.wave), "--compare",
        str(t / "nope.nc")], "model file not found", "nope.nc"),
    Case("card: --compare MODEL itself", lambda b, t: [
        "card", str(_copy(b.model, t / "m.nc")), "--wave", str(b.wave), "--compare",
        str(t / "m.nc")], "given twice", "m.nc", field="--compare"),
    Case("card: --wave not the fitted wave",
         lambda b, t: ["card", str(_model_edit(b, t, {"wave_hash": "e" * 64})), "--wave",
                       str(b.wave)], "the wave differs", "edited.nc", field="wave_hash"),
    Case("card: --wave not a wave folder", lambda b, t: [
        "card", str(b.model), "--wave", str(t / "nowave")], "not found", "nowave"),
    # --- dif MODEL --out ------------------------------------------------------------------
    Case("dif: model without DIF terms", _options("dif", "model")("--out", "{tmp}/d.csv"),
         "no DIF terms", None, field="dif_axis"),
    Case("dif: --llm-ratings without --portraits", _options("dif", "model")(
        "--out", "{tmp}/d.csv", "--llm-ratings", "{b.ratings}"),
        "go together", None, field="--portraits"),
    Case("dif: --portraits of another model's scoring",
         lambda b, t: ["dif", str(b.model), "--out", str(t / "d.csv"), "--llm-ratings",
                       str(b.ratings), "--portraits",
                       str(_other_portraits(b, t, wave_hash="f" * 64))],
         "another wave", "other_portraits.nc", field="wave_hash"),
    Case("dif: --llm-ratings with a respondent the portraits do not hold",
         lambda b, t: ["dif", str(b.model), "--out", str(t / "d.csv"), "--llm-ratings",
                       str(_edit_csv(b.ratings, t / "r.csv",
                                     lambda f: _set(f, 3, "respondent", "gpt-9"))),
                       "--portraits", str(b.portraits)],
         "'gpt-9' is not in the portraits", "r.csv", row=3, field="respondent"),
    Case("dif: --llm-ratings with a bad rating", lambda b, t: [
        "dif", str(b.model), "--out", str(t / "d.csv"), "--llm-ratings",
        str(_edit_csv(b.ratings, t / "r.csv", lambda f: _set(f, 2, "rating", "seven"))),
        "--portraits", str(b.portraits)],
         "not a number", "r.csv", row=2, field="rating"),
    Case("fit: --value-input calibrated without pre-scored values", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--value-input", "calibrated"),
        "value_input='calibrated' needs pre-scored values", "wave", field="value_input"),
    Case("fit: --value-input calibrated with too low a reliability",
         lambda b, t: ["fit", str(_prescored_wave(t)), "--out", str(t / "m.nc"),
                       "--value-input", "calibrated", "--config",
                       str(_text(t, "cfg.json", '{"model": {"reliability": 0.05}}'))],
         "implies more measurement error than the values vary", "cfg.json",
         field="reliability"),
    Case("fit: --value-input calibrated on nearly ipsative scores",
         lambda b, t: ["fit", str(_prescored_wave(t, ipsative=False)), "--out",
                       str(t / "m.nc"), "--value-input", "calibrated"],
         "nearly ipsative scores are not supported", "values.csv"),
    Case("fit: --value-prior inverse_wishart without raw answers",
         lambda b, t: ["fit", str(_prescored_wave(t)), "--out", str(t / "m.nc"),
                       "--value-prior", "inverse_wishart"],
         "the inverse-Wishart value prior needs raw questionnaire answers", "prescored",
         field="value_prior"),
    Case("fit: --dif-axis not a participant column", _options("fit", "wave")(
        "--out", "{tmp}/m.nc", "--dif-axis", "nation"),
        "demographic axis not found", "participants.csv", field="nation"),
    # --- select-bayes MODEL --out [--tags] -----------------------------------------------
    Case("select-bayes: --tags missing", _options("select-bayes", "model")(
        "--out", "{tmp}/s.csv", "--tags", "{tmp}/tags.csv"), "tag file not found",
        "tags.csv"),
    Case("select-bayes: --tags empty",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_text(t, "tags.csv", ""))], "file is empty", "tags.csv", row=0),
    Case("select-bayes: --tags Latin-1",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_latin1(b.tags, t / "tags.csv"))], "not UTF-8", "tags.csv"),
    Case("select-bayes: --tags of another wave",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_tags_of_other_wave(b, t))], "tags from another wave", "tags.csv",
         row=1, field="item_id"),
    Case("select-bayes: --tags unknown trait",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_edit_csv(b.tags, t / "tags.csv",
                                     lambda f: _set(f, 3, _trait_col(f), "greed")))],
         "unknown trait", "tags.csv", row=3),
    Case("select-bayes: --tags r not a number",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_edit_csv(b.tags, t / "tags.csv", lambda f: _set(f, 5, "r", "big")))],
         "not a correlation", "tags.csv", row=5, field="r"),
    Case("select-bayes: --tags without 'tagged'",
         lambda b, t: ["select-bayes", str(b.model), "--out", str(t / "s.csv"), "--tags",
                       str(_edit_csv(b.tags, t / "tags.csv", lambda f: f.drop(columns="tagged")))],
         "lacks a column", "tags.csv", row=0, field="tagged"),
    Case("select-bayes: --probability 1.5", _options("select-bayes", "model")(
        "--out", "{tmp}/s.csv", "--probability", "1.5"), "Invalid value for '--probability'"),
    Case("select-bayes: --practical -0.1", _options("select-bayes", "model")(
        "--out", "{tmp}/s.csv", "--practical", "-0.1"), "Invalid value for '--practical'"),
    Case("select-bayes: --out not writable", _options("select-bayes", "model")(
        "--out", U + "/s.csv"), "is a file, not a folder", "s.csv"),
    # --- rate ITEMS --backend --model --out (nothing is sent) ----------------------------
    Case("rate: items file missing", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(t / "items.csv")]), "items file not found", "items.csv"),
    Case("rate: items Latin-1", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_latin1(b.items, t / "items.csv"))]), "not UTF-8", "items.csv"),
    Case("rate: items empty", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_text(t, "items.csv", ""))]), "file is empty", "items.csv"),
    Case("rate: items header only", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_text(t, "items.csv", "item_id,query,response\n"))]),
        "no items", "items.csv", row=1),
    Case("rate: items without a response column", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_edit_csv(b.items, t / "items.csv",
                                         lambda f: f.drop(columns="response")))]),
        "missing column", "items.csv", row=0, field="response"),
    Case("rate: items duplicate id", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_edit_csv(b.items, t / "items.csv",
                                         lambda f: _set(f, 4, "item_id", "item001")))]),
        "duplicate item id", "items.csv", row=4, field="item_id"),
    Case("rate: ragged items row", _options("rate")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv",
        args=lambda b, t: [str(_edit_lines(b.items, t / "items.csv",
                                           lambda ls: [*ls[:2], ls[2] + ",x,y,z", *ls[3:]]))]),
        "malformed CSV", "items.csv", row=2),
    Case("rate: --personas missing", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv", "--personas",
        "{tmp}/p.csv"), "personas file not found", "p.csv"),
    Case("rate: --personas Latin-1",
         lambda b, t: ["rate", str(b.wave), "--backend", "openai", "--model", "m", "--out",
                       str(t / "r.csv"), "--personas",
                       str(_text(t, "p.csv", "persona_id,text\nx,caf\xe9\n", "latin-1"))],
         "not UTF-8", "p.csv"),
    Case("rate: --personas without text",
         lambda b, t: ["rate", str(b.wave), "--backend", "openai", "--model", "m", "--out",
                       str(t / "r.csv"), "--personas",
                       str(_text(t, "p.csv", "persona_id,prompt\nx,hello\n"))],
         "missing column", "p.csv", row=0, field="text"),
    Case("rate: --personas duplicate id",
         lambda b, t: ["rate", str(b.wave), "--backend", "openai", "--model", "m", "--out",
                       str(t / "r.csv"), "--personas",
                       str(_text(t, "p.csv", "persona_id,text\nx,hello\ny,hi\nx,hey\n"))],
         "duplicate persona id", "p.csv", row=3, field="persona_id"),
    Case("rate: --templates not UTF-8",
         lambda b, t: ["rate", str(b.wave), "--backend", "openai", "--model", "m", "--out",
                       str(t / "r.csv"), "--templates", str(_templates(t))],
         "not UTF-8", "reddit_prompt.txt"),
    Case("rate: --items-limit -1", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv", "--items-limit", "-1"),
        "Invalid value for '--items-limit'"),
    Case("rate: --items-limit 0", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv", "--items-limit", "0"),
        "Invalid value for '--items-limit'"),
    Case("rate: --top-p 1.5", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv", "--top-p", "1.5"),
        "Invalid value for '--top-p'"),
    Case("rate: unknown --variants", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", "{tmp}/r.csv", "--variants", "v1,v9"),
        "unknown prompt variant 'v9'", field="--variants"),
    Case("rate: --out not writable", _options("rate", "wave")(
        "--backend", "openai", "--model", "m", "--out", U + "/r.csv"),
        "is a file, not a folder", "r.csv"),
    # --- score MODEL RATINGS --out (nothing is scored) -----------------------------------
    Case("score: ratings missing", _options("score")(
        "--out", "{tmp}/p.csv", args=lambda b, t: [str(b.model), str(t / "r.csv")]),
        "rating table not found", "r.csv"),
    Case("score: ratings Latin-1", _options("score")(
        "--out", "{tmp}/p.csv",
        args=lambda b, t: [str(b.model), str(_latin1(b.ratings, t / "r.csv"))]),
        "not UTF-8", "r.csv"),
    Case("score: rating off the model's scale", _options("score")(
        "--out", "{tmp}/p.csv", args=lambda b, t: [str(b.model), str(_edit_csv(
            b.ratings, t / "r.csv", lambda f: _set(f, 6, "rating", "9")))]),
        "outside 1..6", "r.csv", row=6, field="rating"),
    Case("score: --out not writable", _options("score", "model", "ratings")(
        "--out", U + "/p.csv"), "is a file, not a folder", "p.csv"),
    Case("score: --draws-out not writable", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.csv", "--draws-out", U + "/p.nc"), "is a file, not a folder", "p.nc"),
    Case("score: --out is the draws file", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.nc"), "same file", "p.nc", field="--out"),
    Case("score: --mass 1.5", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.csv", "--mass", "1.5"), "Invalid value for '--mass'"),
    Case("score: --item-draws 0", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.csv", "--item-draws", "0"), "Invalid value for '--item-draws'"),
    Case("score: --prior-scale 0", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.csv", "--prior-scale", "0"), "Invalid value for '--prior-scale'"),
    Case("score: unknown --respondent", _options("score", "model", "ratings")(
        "--out", "{tmp}/p.csv", "--respondent", "gpt-9"), "not in the table",
        "llm_ratings.csv", field="respondent"),
    Case("score: the manifest path is a folder", _options("score", "model", "ratings")(
        "--out", "{tmp}/manifest_folder/p.csv", args=_manifest_folder), "is a folder",
        "p.manifest.json"),
    # --- compare PORTRAITS.nc --------------------------------------------------------------
    Case("compare: portraits missing",
         lambda b, t: ["compare", str(t / "p.nc")], "portrait draws file not found", "p.nc"),
    Case("compare: portraits not netCDF",
         lambda b, t: ["compare", str(_text(t, "p.nc", "theta\n1\n"))],
         "not a readable netCDF file", "p.nc"),
    Case("compare: portraits without theta",
         lambda b, t: ["compare", str(_portraits_without_theta(b, t))],
         "not a portrait draws file", "p.nc", field="theta"),
    Case("compare: unknown --model", _options("compare", "portraits")("--model", "gpt-9"),
         "unknown respondent(s) gpt-9", "portraits.nc", field="respondent"),
    Case("compare: unknown --value", _options("compare", "portraits")("--value", "honesty"),
         "unknown value 'honesty'", "portraits.nc", field="value"),
    Case("compare: --out not writable", _options("compare", "portraits")(
        "--out", U + "/pairs.csv"), "is a file, not a folder", "pairs.csv"),
    Case("compare: --ranks-out not writable", _options("compare", "portraits")(
        "--ranks-out", U + "/ranks.csv"), "is a file, not a folder", "ranks.csv"),
    Case("compare: --mass 0", _options("compare", "portraits")("--mass", "0"),
         "Invalid value for '--mass'"),
    # --- classic-score TAGS RATINGS --out ------------------------------------------------
    Case("classic-score: tags missing", _options("classic-score")(
        "--out", "{tmp}/c.csv", args=lambda b, t: [str(t / "tags.csv"), str(b.ratings)]),
        "tag file not found", "tags.csv"),
    Case("classic-score: tags empty", _options("classic-score")(
        "--out", "{tmp}/c.csv",
        args=lambda b, t: [str(_text(t, "tags.csv", "")), str(b.ratings)]),
        "file is empty", "tags.csv", row=0),
    Case("classic-score: tags Latin-1", _options("classic-score")(
        "--out", "{tmp}/c.csv",
        args=lambda b, t: [str(_latin1(b.tags, t / "tags.csv")), str(b.ratings)]),
        "not UTF-8", "tags.csv"),
    Case("classic-score: tags corrupt", _options("classic-score")(
        "--out", "{tmp}/c.csv",
        args=lambda b, t: [str(_text(t, "tags.csv", 'item_id,trait\n"item001,power\n')),
                           str(b.ratings)]), "malformed CSV", "tags.csv"),
    Case("classic-score: nothing tagged", _options("classic-score")(
        "--out", "{tmp}/c.csv",
        args=lambda b, t: [str(_edit_csv(b.tags, t / "tags.csv",
                                         lambda f: f.assign(tagged="False"))), str(b.ratings)]),
        "no item is tagged", "tags.csv", field="tagged"),
    Case("classic-score: tagged not a boolean", _options("classic-score")(
        "--out", "{tmp}/c.csv",
        args=lambda b, t: [str(_edit_csv(b.tags, t / "tags.csv",
                                         lambda f: _set(f, 2, "tagged", "maybe"))),
                           str(b.ratings)]), "not a boolean", "tags.csv", row=2,
        field="tagged"),
    Case("classic-score: a respondent shares no item with the tags", _options("classic-score")(
        "--out", "{tmp}/c.csv", args=lambda b, t: [str(b.tags), str(_stray_respondent(b, t))]),
        "rated none of the", "r.csv", row=289, field="item_id"),
    Case("classic-score: --out not writable", _options("classic-score", "tags", "ratings")(
        "--out", U + "/c.csv"), "is a file, not a folder", "c.csv"),
    # --- contrast MODEL [PORTRAITS] --out ------------------------------------------------
    Case("contrast: --reference missing", _options("contrast", "model")(
        "--out", "{tmp}/c.csv", "--reference", "{tmp}/ref.csv"), "reference file not found",
        "ref.csv"),
    Case("contrast: --reference Latin-1",
         lambda b, t: ["contrast", str(b.model), "--out", str(t / "c.csv"), "--reference",
                       str(_text(t, "ref.csv", "axis,group,value,mean\ngender,m\xe4le,power,1\n",
                                 "latin-1"))], "not UTF-8", "ref.csv"),
    Case("contrast: --reference empty",
         lambda b, t: ["contrast", str(b.model), "--out", str(t / "c.csv"), "--reference",
                       str(_text(t, "ref.csv", ""))], "file is empty", "ref.csv", row=0),
    Case("contrast: --reference without means",
         lambda b, t: ["contrast", str(b.model), "--out", str(t / "c.csv"), "--reference",
                       str(_text(t, "ref.csv", "axis,group,value,se\ngender,male,power,1\n"))],
         "needs a 'mean'", "ref.csv", row=0, field="mean"),
    Case("contrast: --reference mean not a number",
         lambda b, t: ["contrast", str(b.model), "--out", str(t / "c.csv"), "--reference",
                       str(_text(t, "ref.csv", "axis,group,value,mean\ngender,male,power,1\n"
                                 "gender,female,power,high\n"))],
         "not a number", "ref.csv", row=2, field="mean"),
    Case("contrast: portraits of another wave's model",
         lambda b, t: ["contrast", str(b.model), str(_other_portraits(b, t, wave_hash="0" * 64)),
                       "--out", str(t / "c.csv")], "model of another wave",
         "other_portraits.nc", field="wave_hash"),
    Case("contrast: portraits of a model with other settings",
         lambda b, t: ["contrast", str(b.model), str(_other_portraits(
             b, t, model_config="{'thresholds': 'item'}")), "--out", str(t / "c.csv")],
         "other settings", "other_portraits.nc", field="model_config"),
    Case("contrast: portraits missing", _options("contrast")(
        "--out", "{tmp}/c.csv", args=lambda b, t: [str(b.model), str(t / "p.nc")]),
        "portrait draws file not found", "p.nc"),
    Case("contrast: --out not writable", _options("contrast", "model", "portraits")(
        "--out", U + "/c.csv"), "is a file, not a folder", "c.csv"),
    Case("contrast: --plot not writable", _options("contrast", "model", "portraits")(
        "--out", "{tmp}/c.csv", "--plot", U + "/c.png"), "is a file, not a folder", "c.png"),
    Case("contrast: --mass 0", _options("contrast", "model")(
        "--out", "{tmp}/c.csv", "--mass", "0"), "Invalid value for '--mass'"),
    Case("contrast: --reference-scale -1", _options("contrast", "model")(
        "--out", "{tmp}/c.csv", "--reference-scale", "-1"),
        "Invalid value for '--reference-scale'"),
    Case("contrast: --draws 0", _options("contrast", "model", "portraits")(
        "--out", "{tmp}/c.csv", "--draws", "0"), "Invalid value for '--draws'"),
    # --- report [MODEL] --out ------------------------------------------------------------
    Case("report: portrait draws of another model",
         lambda b, t: ["report", str(b.model), "--portraits",
                       str(_other_portraits(b, t, wave_hash="1" * 64)), "--out", str(t / "r")],
         "model of another wave", "other_portraits.nc", field="wave_hash"),
    Case("report: portrait table beside another model's draws",
         lambda b, t: ["report", str(b.model), "--portraits",
                       str(_portrait_csv_beside_other_nc(b, t)), "--out", str(t / "r")],
         "model of another wave", "other_portraits.nc", field="wave_hash"),
    Case("report: --out inside a file", _options("report", "model")("--out", U + "/r"),
         "is a file, not a folder", "index.html"),
    Case("report: --contrasts Latin-1",
         lambda b, t: ["report", "--contrasts",
                       str(_text(t, "c.csv", "axis,group_a\ngend\xe9r,x\n", "latin-1")),
                       "--out", str(t / "r")], "c.csv", "c.csv"),
    Case("report: --max-portraits -1", _options("report", "model")(
        "--out", "{tmp}/r", "--max-portraits", "-1"), "Invalid value for '--max-portraits'"),
]


def _trait_col(frame: pd.DataFrame) -> str:
    return "trait" if "trait" in frame.columns else "value"


def _removed(folder: Path, name: str) -> Path:
    next(folder.rglob(name)).unlink()
    return folder


def _rewritten(folder: Path, name: str, text: str) -> Path:
    next(folder.rglob(name)).write_text(text)
    return folder


def _utf16(folder: Path, name: str) -> Path:
    path = next(folder.rglob(name))
    path.write_bytes(path.read_text().encode("utf-16"))
    return folder


def _json_changed(folder: Path, name: str, edit: Callable[[object], object]) -> Path:
    _json_edit(next(folder.rglob(name)), edit)
    return folder


def _templates(tmp: Path) -> Path:
    """A template folder whose one variant's reddit form is Latin-1 text."""
    folder = tmp / "templates" / "v9"
    folder.mkdir(parents=True)
    (folder / "reddit_prompt.txt").write_bytes("{title} {text} {content} caf\xe9".encode("latin-1"))
    (folder / "sharegpt_prompt.txt").write_text("{text} {content}")
    return folder.parent


def _parquet_junk(wave: Path) -> Path:
    """The wave with items.csv replaced by a file named items.parquet that is not Parquet."""
    (wave / "items.csv").rename(wave / "items.parquet")
    return wave


def _published(tmp: Path, at: int, drop: str | None = None, **values: float) -> Path:
    """A published correlation file of three records, record ``at`` edited."""
    records = [{"portrait_id": "item00", "option_id": k, "pvq_dimension": "Power",
                "spearman_corr": 0.4, "spearman_p_value": 0.01} for k in (1, 2, 3)]
    records[at - 1].update(values)
    if drop:
        del records[at - 1][drop]
    path = tmp / "pub.json"
    path.write_text(json.dumps(records))
    return path


def _stray_respondent(base: Base, tmp: Path) -> Path:
    """The rating table plus a respondent that rated only items no tag mentions."""
    frame = pd.read_csv(base.ratings, dtype=str, keep_default_na=False)
    stray = pd.DataFrame({"respondent": "stray-llm", "item_id": ["x1", "x2"],
                          "variant": "v1", "rating": "3"})
    path = tmp / "r.csv"
    pd.concat([frame, stray], ignore_index=True).to_csv(path, index=False)
    assert len(frame) == 288  # the stray respondent's first row is row 289
    return path


# --- the tests -----------------------------------------------------------------------------


def _run(monkeypatch, capsys, args: list[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["vp-bayes", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_table_covers_every_command_and_sixty_cases():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.id.split(":")[0] for c in CASES}
    assert set(PIPELINE) <= commands | {"import"}, set(PIPELINE) - commands


def test_the_good_files_are_accepted(base, tmp_path, monkeypatch, capsys):
    """Each case breaks one thing; without it the same inputs pass."""
    runs = [
        ["validate", str(base.wave)],
        ["import", "valueportrait", str(base.release), str(tmp_path / "imported")],
        ["select-bayes", str(base.model), "--tags", str(base.tags), "--out",
         str(tmp_path / "s.csv")],
        ["classic-score", str(base.tags), str(base.ratings), "--out", str(tmp_path / "c.csv")],
        ["contrast", str(base.model), str(base.portraits), "--axis", "gender", "--out",
         str(tmp_path / "c.csv")],
        ["compare", str(base.portraits), "--out", str(tmp_path / "pairs.csv")],
    ]
    for args in runs:
        code, out, err = _run(monkeypatch, capsys, args)
        assert code == 0, (args, err)
        assert "warning: " not in err, (args, err)  # the portraits name their model
    from vp_bayes.model.io import load_model
    from vp_bayes.wave.ratings import read_llm_ratings

    assert load_model(base.model).n_categories == 6
    assert len(read_llm_ratings(base.ratings)) == 288


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_file_row_field(base, tmp_path, monkeypatch, capsys,
                                                      case: Case):
    args = case.build(base, tmp_path)
    code, out, err = _run(monkeypatch, capsys, args)
    lines = err.splitlines()
    assert code == 2, f"exit {code}\nstdout: {out[-2000:]}\nstderr: {err[-3000:]}"
    assert len(lines) == case.lines, err
    assert "Traceback" not in err
    first = lines[0]
    assert first.startswith("error: "), first
    assert case.says in err, first
    if case.file is not None:
        assert case.file in first, first
    if case.row is not None:
        assert f"row {case.row}" in first, first
    if case.field is not None:
        assert f"field '{case.field}'" in first, first
    if case.lines > 1 and "--limit" not in args:  # validate: every line is a problem
        assert all(line.startswith("error: ") for line in lines), err

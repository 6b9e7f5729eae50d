"""CLI commands: ``fit`` (the item model), ``card`` (its card rewritten: prior sensitivity, PSIS-LOO
against other fits), ``select-bayes`` (posterior item selection), ``dif``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import pandas as pd
import typer

from vp_bayes.cli.app import NON_NEGATIVE, POSITIVE, UNIT_OPEN, app, choices, example, within
from vp_bayes.dims import INTERVAL_MASS
from vp_bayes.errors import InputError
from vp_bayes.model.config import (
    Init,
    LoadingPrior,
    ModelConfig,
    Sampler,
    SamplerConfig,
    Thresholds,
    ValueInput,
    ValuePrior,
)
from vp_bayes.model.diagnostics import ESS_MIN, R_HAT_MAX
from vp_bayes.model.dif import DIF_ROPE
from vp_bayes.output import check_writable, write_csv
from vp_bayes.scoring.llm_dif import LLM_DIF_ROPE
from vp_bayes.selection.bayes import PRACTICAL_LOADING, TAG_PROBABILITY

if TYPE_CHECKING:
    from vp_bayes.model.fit import ItemModel

SamplerName = choices("SamplerName", get_args(Sampler))
InitName = choices("InitName", get_args(Init))
ThresholdsName = choices("ThresholdsName", get_args(Thresholds))
ValueInputName = choices("ValueInputName", get_args(ValueInput))
LoadingPriorName = choices("LoadingPriorName", get_args(LoadingPrior))
ValuePriorName = choices("ValuePriorName", get_args(ValuePrior))
_SAMPLER = SamplerConfig()  # the library's defaults, shown in --help
_MODEL = ModelConfig()


def _given(ctx: typer.Context, values: dict[str, object]) -> dict[str, object]:
    """The options typed on the command line (not left at their defaults), as plain values."""
    return {name: getattr(value, "value", value) for name, value in values.items()
            if ctx.get_parameter_source(name).name != "DEFAULT"}


@app.command(epilog=example(
    "vp-bayes fit data/demo --out out/demo/model.nc --draws 1500 --tune 400 --chains 4",
    "vp-bayes fit vp_wave --out quick.nc --sampler advi"))
def fit(
    ctx: typer.Context,
    wave_dir: Path = typer.Argument(..., metavar="WAVE", help="Wave folder to fit."),
    out: Path = typer.Option(..., "--out", help="Model file to write, e.g. models/NAME.nc."),
    sampler: SamplerName = typer.Option(
        SamplerName(_SAMPLER.sampler),
        help="Inference engine (advi, pathfinder: fast approximations, intervals too narrow)."),
    draws: int = typer.Option(_SAMPLER.draws, help="Posterior draws per chain (the most, "
                              "with --check-every)."),
    tune: int = typer.Option(_SAMPLER.tune, help="Warm-up draws per chain."),
    chains: int = typer.Option(_SAMPLER.chains, help="Number of chains."),
    seed: int = typer.Option(_SAMPLER.seed, help="Random seed."),
    check_every: int | None = typer.Option(
        _SAMPLER.check_every, help=f"Stop at the first multiple of this many draws per chain "
        f"at which every variable has R-hat <= {R_HAT_MAX} and bulk and tail ESS >= "
        f"{ESS_MIN:.0f} (nutpie; the chains then run at once)."),
    init: InitName = typer.Option(
        InitName(_SAMPLER.init), help="Where NUTS chains start: auto (ADVI draws when values "
        "are latent), jitter (prior centre), advi."),
    config: Path | None = typer.Option(
        None, help="JSON file {'model': {...}, 'sampler': {...}}: its settings replace the "
        "defaults shown here; options given on the command line replace its settings."),
    thresholds: ThresholdsName = typer.Option(
        ThresholdsName(_MODEL.thresholds), help="shared (rating scale) or item (graded)."),
    value_input: ValueInputName = typer.Option(
        ValueInputName(_MODEL.value_input), help="How participants' values enter (auto: "
        "instrument when raw answers exist (sampled at target_accept 0.65 unless the config "
        "says otherwise), else calibrated for MRAT-centred values, latent for others; "
        "calibrated: regression calibration, reliability from --config, with "
        "scale-mixture loadings and target_accept 0.9 unless the "
        "config says otherwise; docs/model.md)."),
    value_prior: ValuePriorName = typer.Option(
        ValuePriorName(_MODEL.value_prior), help="Prior of the latent values' covariance "
        "(auto: inverse_wishart, integrated out, for raw answers; lkj for pre-scored values; "
        "docs/model.md)."),
    loading_prior: LoadingPriorName = typer.Option(
        LoadingPriorName(_MODEL.loading_prior), help="Prior of the loadings around each "
        "value's mean loading (docs/model.md)."),
    dif_axis: str | None = typer.Option(
        None, help="Participant column whose groups may rate items differently: adds DIF "
        "terms (then: vp-bayes dif MODEL)."),
    keep_draws: int | None = typer.Option(None, min=1,
                                          help="Save only this many draws per chain."),
    strict: bool = typer.Option(False, help=f"Exit 1 when R-hat > {R_HAT_MAX} or divergences."),
    progress: bool = typer.Option(True, help="Show the sampler's progress."),
) -> None:
    """Fit the hierarchical item model to a wave and save it with its model card."""
    from vp_bayes.model.config import FitConfig, read_config
    from vp_bayes.model.diagnostics import convergence_problems, ppc_summary, sampler_summary
    from vp_bayes.model.fit import fit_wave, stopped_at, thin
    from vp_bayes.model.io import save_model
    from vp_bayes.wave.io import load_wave

    cfg = read_config(config) if config else FitConfig()
    model_cfg = cfg.model
    model_given = _given(ctx, dict(thresholds=thresholds, value_input=value_input,
                                   value_prior=value_prior, loading_prior=loading_prior,
                                   dif_axis=dif_axis))
    if model_given:
        model_cfg = replace(model_cfg, **model_given)
        model_cfg.validate(source="command line")
    sampler_given = _given(ctx, dict(sampler=sampler, draws=draws, tune=tune, chains=chains,
                                     seed=seed, init=init, check_every=check_every))
    sampler_cfg = replace(cfg.sampler, **sampler_given)
    sampler_cfg.validate(source="command line")
    check_writable(out)  # the model file and its card, before the fit
    check_writable(out.with_suffix(".md"))
    wave = load_wave(wave_dir)
    typer.echo(f"fitting {wave.manifest.name}: {len(wave.participants)} participants, "
               f"{len(wave.items)} items, {len(wave.ratings)} ratings with {sampler_cfg.sampler} "
               f"({sampler_cfg.chains} chains x {sampler_cfg.tune}+{sampler_cfg.draws})")
    try:
        item_model = fit_wave(wave, model_cfg, sampler_cfg, progress=progress)
    except InputError as err:  # a config value the data refuse: name the --config file
        if config is None or err.file != "config":
            raise
        raise InputError(err.message, file=config, row=err.row, field=err.field) from None
    if keep_draws:
        item_model = thin(item_model, keep_draws)
    path = save_model(item_model, out, wave=wave)  # the card's prior sensitivity needs the wave
    pd.set_option("display.width", 160)
    typer.echo(f"\nsampling took {item_model.fit_seconds:.0f} s")
    drawn = stopped_at(item_model)
    if drawn is not None:
        typer.echo(f"met the convergence bar at {drawn} draws per chain (checked every "
                   f"{sampler_cfg.check_every}; at most {sampler_cfg.draws})")
    typer.echo("")
    typer.echo(item_model.diagnostics.round(3).to_string())
    stats = sampler_summary(item_model.idata)
    typer.echo(f"\ndivergences {stats['divergences']:.0f}  min E-BFMI {stats['bfmi_min']:.2f}  "
               f"mean tree depth {stats['mean_tree_depth']:.1f}")
    ppc = ppc_summary(item_model)
    n_out = int((ppc["share_outside"] > 0).sum())
    typer.echo(f"posterior predictive check (90% intervals): {n_out}"
               f" of {len(ppc)} items have a category outside; max |observed - predicted| "
               f"{ppc['max_abs_error'].max():.3f}")
    problems = convergence_problems(item_model)
    for p in problems:
        typer.echo(f"warning: {p}")
    typer.echo(f"\nwrote {path} and {path.with_suffix('.md')}")
    rhat = item_model.diagnostics["r_hat_max"]
    if strict and (rhat.isna().any() or rhat.max() > R_HAT_MAX or stats["divergences"] > 0):
        typer.echo("strict: convergence bar not met", err=True)
        raise typer.Exit(1)


@app.command(epilog=example(
    "vp-bayes card models/vp.nc --wave vp_wave --compare models/vp_horseshoe.nc"))
def card(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Saved item model (.nc)."),
    wave_dir: Path = typer.Option(
        ..., "--wave", help="The fitted wave (the card's prior sensitivity evaluates the "
        "model's prior on it: seconds, e.g. 4 s for the shipped real-wave model)."),
    compare: list[Path] | None = typer.Option(
        None, "--compare", help="Another saved fit of the same wave (repeatable): the card "
        "gets PSIS-LOO of the item ratings, this fit against those."),
) -> None:
    """Rewrite a saved model's card (MODEL.md): convergence, prior sensitivity, comparison."""
    from vp_bayes.model.diagnostics import comparison_lines, loo_comparison
    from vp_bayes.model.io import load_model, write_model_card
    from vp_bayes.model.sensitivity import prior_sensitivity
    from vp_bayes.wave.io import load_wave

    wave = load_wave(wave_dir)
    item_model = load_model(model_path, wave=wave)
    card_path = model_path.with_suffix(".md")
    check_writable(card_path)
    fits = {model_path.stem: item_model} | _other_fits(model_path, item_model, compare or [])
    sensitivity = prior_sensitivity(item_model, wave)
    table = loo_comparison(fits) if len(fits) > 1 else None
    for line in comparison_lines(table) if table is not None else []:
        typer.echo(line)
    write_model_card(item_model, card_path, sensitivity=sensitivity, comparison=table)
    typer.echo(f"wrote {card_path}")


def _other_fits(model_path: Path, item_model: ItemModel,
                paths: list[Path]) -> dict[str, ItemModel]:
    """``card --compare``: the other fits by name (file stem; folder/stem where stems clash),
    each loaded and checked to be of the same wave before any LOO is computed."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.io import load_model

    stems = [model_path.stem] + [p.stem for p in paths]
    seen = {model_path.resolve()}
    fits = {}
    for path in paths:
        if path.resolve() in seen:
            raise InputError("given twice (MODEL is compared with the others)", file=path,
                             field="--compare")
        other = load_model(path)
        if other.wave_hash != item_model.wave_hash:
            raise InputError(f"fitted to another wave than {model_path} (data hashes differ)",
                             file=path, field="wave_hash")
        fits[path] = other
        seen.add(path.resolve())
    return {(f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem): m
            for p, m in fits.items()}


@app.command("select-bayes", epilog=example(
    "vp-bayes select-bayes models/vp.nc --tags tags.csv --out selection.csv"))
def select_bayes(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Fitted model file."),
    out: Path = typer.Option(..., "--out", help="Table to write (csv)."),
    tags: Path | None = typer.Option(None, help="Correlation tags (vp-bayes select) to compare."),
    practical: float = typer.Option(PRACTICAL_LOADING, callback=NON_NEGATIVE,
                                    help="Practical loading size (logits per SD)."),
    probability: float = typer.Option(TAG_PROBABILITY, callback=within(0.0, 1.0, open_low=True),
                                      help="Posterior probability needed to tag."),
) -> None:
    """Posterior item selection: P(loading > practical size), compared with correlation tags."""
    from vp_bayes.model.io import load_model
    from vp_bayes.selection.bayes import (
        agreement_counts,
        compare_selection,
        posterior_selection,
        read_selection_tags,
    )

    check_writable(out)
    item_model = load_model(model_path)
    tag_table = (None if tags is None else
                 read_selection_tags(tags, item_model.items, item_model.values))
    table = posterior_selection(item_model, practical=practical, probability=probability)
    if tag_table is not None:
        table = compare_selection(table, tag_table)
        typer.echo(agreement_counts(table).to_string())
    else:
        typer.echo(table.groupby("value")["posterior_tagged"].sum().to_string())
    write_csv(table, out)
    typer.echo(f"wrote {out}")


@app.command("dif", epilog=example(
    "vp-bayes fit vp_wave --dif-axis gender --out models/vp_dif.nc",
    "vp-bayes dif models/vp_dif.nc --out dif.csv",
    "vp-bayes score models/valueportrait.nc llm.csv --out portraits.csv",
    "vp-bayes dif models/valueportrait.nc --llm-ratings llm.csv --portraits portraits.nc "
    "--out llm_dif.csv"))
def dif(
    model_path: Path = typer.Argument(..., metavar="MODEL",
                                      help="Model fitted with --dif-axis (or any model, with "
                                           "--llm-ratings)."),
    out: Path = typer.Option(..., "--out", help="Table to write (csv)."),
    rope: float = typer.Option(None, callback=POSITIVE, show_default=False,
                               help=f"Negligible difference: group difference in logits "
                                    f"(default {DIF_ROPE:g}); with --llm-ratings, mean "
                                    f"rating points (default {LLM_DIF_ROPE:g})."),
    mass: float = typer.Option(INTERVAL_MASS, callback=UNIT_OPEN,
                               help="Probability of the intervals."),
    llm_ratings: Path = typer.Option(
        None, "--llm-ratings", help="Instead: LLM-vs-human DIF of these LLM ratings: items "
        "the LLMs rate otherwise than their portraits predict (needs --portraits)."),
    portraits_path: Path = typer.Option(
        None, "--portraits", help="Portrait draws (.nc) of `score` on --llm-ratings."),
    seed: int = typer.Option(0, help="Seed of the replications (with --llm-ratings)."),
) -> None:
    """Differential item functioning: items that groups (or LLMs) answer differently."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.dif import dif_lines, dif_table
    from vp_bayes.model.io import load_model

    check_writable(out)
    if (llm_ratings is None) != (portraits_path is None):
        raise InputError("--llm-ratings and --portraits go together",
                         field="--llm-ratings" if llm_ratings is None else "--portraits")
    if llm_ratings is not None:
        lines, table = _llm_dif(model_path, llm_ratings, portraits_path,
                                LLM_DIF_ROPE if rope is None else rope, mass, seed)
    else:
        rope = DIF_ROPE if rope is None else rope
        table = dif_table(load_model(model_path), rope=rope, mass=mass)
        lines = dif_lines(table, rope=rope)
    for line in lines:
        typer.echo(line)
    write_csv(table, out)
    typer.echo(f"wrote {out}")


def _llm_dif(model_path: Path, ratings_path: Path, portraits_path: Path, rope: float,
             mass: float, seed: int) -> tuple[list[str], pd.DataFrame]:
    """``dif --llm-ratings``: every file read and checked before the replications."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import load_portraits
    from vp_bayes.scoring.llm_dif import llm_dif_lines, llm_dif_table
    from vp_bayes.scoring.portraits import check_scored_through
    from vp_bayes.wave.ratings import read_llm_ratings

    portraits = load_portraits(portraits_path)
    item_model = load_model(model_path)
    check_scored_through(portraits.draws.attrs, item_model, file=portraits_path)
    scale = (item_model.scale_min, item_model.scale_min + item_model.n_categories - 1)
    ratings = read_llm_ratings(ratings_path, scale=scale)
    ratings.attrs["source"] = str(ratings_path)
    try:
        table = llm_dif_table(item_model, ratings, portraits, rope=rope, mass=mass, seed=seed)
    except InputError as err:  # name the ratings file
        raise InputError(err.message, file=err.file or ratings_path, row=err.row,
                         field=err.field) from None
    return llm_dif_lines(table), table

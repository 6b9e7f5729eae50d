"""CLI command: ``score`` (value portraits of LLMs and personas through the item posterior)."""

from __future__ import annotations

from pathlib import Path

import typer

from vp_bayes.cli.app import POSITIVE, UNIT_OPEN, app, choices, example
from vp_bayes.dims import INTERVAL_MASS
from vp_bayes.output import check_writable
from vp_bayes.scoring.portraits import METHODS, PERSONA_MODES
from vp_bayes.scoring.summary import N_NOTES, N_SHOWN

Method = choices("Method", METHODS)
PersonaMode = choices("PersonaMode", PERSONA_MODES)


@app.command("score", epilog=example(
    "vp-bayes score models/valueportrait.nc gpt.csv --out portraits.csv",
    "vp-bayes score out/demo/model.nc data/demo/llm_ratings.csv --out p.csv --full"))
def score_command(
    model: Path = typer.Argument(..., metavar="MODEL",
                                 help="Fitted item model (netCDF from `vp-bayes fit`)."),
    ratings: Path = typer.Argument(..., metavar="RATINGS",
                                   help="LLM rating table: respondent,item_id,variant,"
                                   "rating[,p1..p6] (csv or parquet)."),
    out: Path = typer.Option(..., "--out", help="Portrait table to write (CSV)."),
    draws_out: Path | None = typer.Option(
        None, help="Posterior draws (netCDF); default: beside --out with suffix .nc."),
    mass: float = typer.Option(INTERVAL_MASS, callback=UNIT_OPEN,
                               help="Mass of the equal-tailed intervals."),
    item_draws: int = typer.Option(200, min=1, help="Item-parameter draws S (thinned evenly)."),
    per_draw: int = typer.Option(20, min=1, help="Samples M per item-parameter draw."),
    seed: int = typer.Option(0, help="Base seed (each respondent: seed + its name)."),
    variant_offsets: bool = typer.Option(
        False, "--variant-offsets/--no-variant-offsets",
        help="One N(0, 0.5) intercept shift per prompt variant (shared by all items); "
        "for designs where items are not rated under every variant (3x slower)."),
    soft: bool = typer.Option(True, "--soft/--hard",
                              help="Use p1..p6 where the table has them."),
    importance: bool = typer.Option(
        True, "--importance/--no-importance",
        help="Correct the Laplace approximation by importance resampling."),
    method: Method = typer.Option(
        Method("marginal"), help="marginal: each item's parameters and the respondent's item "
        "deviation integrated in the likelihood (calibrated on the real wave); cut: mixture "
        "over item draws, no item deviation (attenuated; see docs/scoring.md)."),
    prior_scale: float = typer.Option(
        2.0, callback=POSITIVE,
        help="Prior SD of a respondent's values in human SDs (MVN(0, scale^2 R))."),
    item_deviation: bool = typer.Option(
        True, "--item-deviation/--no-item-deviation",
        help="(marginal) the respondent's own noise: an item deviation shared by its "
        "variants and a rating-noise scale."),
    person_fit: bool = typer.Option(
        True, "--person-fit/--no-person-fit",
        help="Posterior predictive checks of each respondent (names misfits)."),
    personas: PersonaMode = typer.Option(
        PersonaMode("joint"), help="joint: a model and its personas scored together (persona "
        "= model + shift); independent: each respondent alone."),
    persona_sd: float = typer.Option(
        1.0, callback=POSITIVE,
        help="Prior SD of a persona's shift of each value (population SDs)."),
    respondent: list[str] | None = typer.Option(
        None, help="Score only these respondents (repeatable)."),
    full: bool = typer.Option(
        False, "--full", help="Print every row (one per respondent and value) and every note, "
        f"instead of one line per respondent for the first {N_SHOWN}."),
    quiet: bool = typer.Option(False, help="Print only the notes and the closing line."),
) -> None:
    """Score every respondent of an LLM rating table through the item posterior."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import note_lines, portrait_lines, save_portraits, score
    from vp_bayes.scoring.export import file_sha256, manifest_path, run_manifest, write_json
    from vp_bayes.scoring.posterior import item_draws as read_item_draws
    from vp_bayes.wave.ratings import read_llm_ratings

    nc_path = draws_out if draws_out is not None else out.with_suffix(".nc")
    if nc_path.resolve() == out.resolve():
        raise InputError("the portrait table and the draws would be the same file (give --out "
                         "a .csv name or --draws-out another path)", file=out, field="--out")
    manifest_out = manifest_path(out)
    for path in (out, nc_path, manifest_out):
        check_writable(path)
    item_model = load_model(model)
    scale = (item_model.scale_min, item_model.scale_min + item_model.n_categories - 1)
    table = read_llm_ratings(ratings, scale=scale)
    if respondent:
        missing = sorted(set(respondent) - set(table["respondent"]))
        if missing:
            raise InputError(f"respondent(s) not in the table: {', '.join(missing)}",
                             file=ratings, field="respondent")
        table = table[table["respondent"].isin(respondent)]
    try:  # the item model's draws, read before any respondent is scored
        draws = read_item_draws(item_model, item_draws)
    except InputError as err:
        raise InputError(err.message, file=err.file or model, row=err.row,
                         field=err.field) from None
    portraits = score(item_model, table, mass=mass, n_item_draws=item_draws, draws=draws,
                      n_per_draw=per_draw, seed=seed, variant_offsets=variant_offsets,
                      soft=soft, importance=importance, method=method.value,
                      personas=personas.value,
                      persona_sd=persona_sd, prior_scale=prior_scale,
                      item_deviation=item_deviation, person_fit=person_fit)
    portraits.draws.attrs.update(model_file=str(model), model_file_sha256=file_sha256(model),
                                 ratings_file=str(ratings),
                                 ratings_file_sha256=file_sha256(ratings))
    csv_path, nc_path = save_portraits(portraits, out, draws_out)
    write_json(run_manifest(portraits, model_file=model, ratings_file=ratings,
                            outputs={"table": csv_path, "draws": nc_path},
                            settings={"respondents_selected": respondent or None}),
               manifest_out)
    names = [str(r) for r in portraits.draws["respondent"].values]
    for line in note_lines(portraits.notes, names, max_notes=None if full else N_NOTES):
        typer.echo(line)
    if not quiet:
        for line in portrait_lines(portraits.table, full=full, table_path=csv_path):
            typer.echo(line)
    n_resp = portraits.draws.sizes["respondent"]
    typer.echo(f"\nscored {n_resp} respondent(s) with {portraits.draws.attrs['n_item_draws']} "
               f"item draws x {per_draw} samples; wrote {csv_path}, {nc_path} and "
               f"{manifest_out}")

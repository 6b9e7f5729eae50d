"""CLI commands: ``import valueportrait``, ``select`` and ``classic-score``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from vp_bayes.cli.app import app, choices, example, import_app, within
from vp_bayes.dims import TAG_ALPHA, TAG_THRESHOLD, TRAIT_SETS, VALUE
from vp_bayes.errors import InputError
from vp_bayes.output import N_SHOWN, check_writable, write_csv
from vp_bayes.selection.correlation import CORRECTIONS, METHODS, SIGNS
from vp_bayes.wave.io import FORMATS

Method = choices("Method", METHODS)
Correction = choices("Correction", CORRECTIONS)
Sign = choices("Sign", SIGNS)
TableFormat = choices("TableFormat", FORMATS)


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        write_csv(frame, path)


@import_app.command("valueportrait", epilog=example(
    "vp-bayes import valueportrait ValuePortrait vp_wave --format parquet"))
def import_valueportrait(
    release_dir: Path = typer.Argument(..., metavar="RELEASE",
                                       help="Value Portrait release root (or its parent)."),
    out_wave: Path = typer.Argument(..., metavar="OUT", help="Wave folder to write."),
    fmt: TableFormat = typer.Option(TableFormat("csv"), "--format", help="Table format."),
) -> None:
    """Convert the Value Portrait release into a wave folder."""
    from vp_bayes.wave.importers.valueportrait import import_report, read_valueportrait
    from vp_bayes.wave.io import MANIFEST_FILE, write_wave

    if out_wave.exists() and not out_wave.is_dir():
        raise InputError("is a file, not a folder", file=out_wave)
    check_writable(out_wave / MANIFEST_FILE)
    wave = read_valueportrait(release_dir)
    path = write_wave(wave, out_wave, fmt=fmt.value)
    rep = import_report(release_dir)
    typer.echo(f"wrote {path}")
    typer.echo(f"participants {rep.n_participants}  items {rep.n_items}  "
               f"ratings {rep.n_ratings}  duplicates {rep.n_duplicate_ratings}")
    typer.echo(f"value entries {rep.n_value_entries}, without ratings (not imported) "
               f"{rep.n_value_entries_without_ratings}")
    typer.echo(f"items with source inferred from the query id "
               f"(texts from Phase1_total.json): {len(rep.inferred_source_items)}")


@app.command("select", epilog=example(
    "vp-bayes select vp_wave --out tags.csv",
    "vp-bayes select vp_wave --out tags_fdr.csv --correction fdr_bh --n-permutations 0"))
def select(
    wave_dir: Path = typer.Argument(..., metavar="WAVE",
                                    help="Wave folder (human ratings and trait scores)."),
    out: Path = typer.Option(..., "--out", help="Tag table to write (csv or parquet)."),
    method: Method = typer.Option(Method("spearman"), help="Correlation coefficient."),
    threshold: float = typer.Option(TAG_THRESHOLD, callback=within(0.0, 1.0, open_high=True),
                                    help="Correlation threshold."),
    alpha: float = typer.Option(TAG_ALPHA, callback=within(0.0, 1.0, open_low=True),
                                help="Significance level."),
    correction: Correction = typer.Option(Correction("none"), help="Multiple-testing correction."),
    sign: Sign = typer.Option(Sign("positive"), help="Direction of a tagging correlation."),
    traits: str = typer.Option(
        "values", help=f"A trait set ({', '.join(TRAIT_SETS)}) or a comma list of traits."),
    published: Path | None = typer.Option(
        None, help="Tag from this published correlation file instead of recomputing."),
    compare_published: Path | None = typer.Option(
        None, help="Compare the recomputed correlations with this published file."),
    n_permutations: int = typer.Option(200, min=0, help="Permutations per item for the "
                                       "chance expectation (0 = t approximation)."),
    seed: int = typer.Option(0, help="Seed of the permutations."),
) -> None:
    """Tag items for traits by the correlation rule; summarise tags, chance and FDR."""
    from vp_bayes.selection import (
        comparison_lines,
        item_trait_correlations,
        published_correlations,
        select_items,
        selection_lines,
        tag_summary,
        wave_traits,
    )
    from vp_bayes.wave.io import load_wave

    method, correction, sign = method.value, correction.value, sign.value
    check_writable(out)
    wave = load_wave(wave_dir)
    scores = wave_traits(wave, traits)
    names = [str(c) for c in scores.columns]
    rule = dict(threshold=threshold, alpha=alpha, sign=sign)
    if published is not None:
        table = published_correlations(published)
        table = table[table[VALUE].isin(names)].reset_index(drop=True)
        if table.empty:
            raise InputError("published file has none of the requested traits",
                             file=published, field="pvq_dimension")
        table = select_items(table, correction=correction, **rule)
    else:
        table = item_trait_correlations(wave.ratings, scores, method=method,
                                        correction=correction, **rule)
    _write_table(table, out)

    summary = tag_summary(table, wave.ratings, scores, method=method,
                          n_permutations=n_permutations, seed=seed, **rule)
    for line in selection_lines(table, summary, out, source="published" if published else method,
                                correction=correction, **rule):
        typer.echo(line)

    if compare_published is not None:
        recomputed = (table if published is None else
                      item_trait_correlations(wave.ratings, scores, method="spearman", **rule))
        pub = published_correlations(compare_published)
        for line in comparison_lines(recomputed, pub, compare_published, items=wave.items):
            typer.echo(line)


@app.command("classic-score", epilog=example(
    "vp-bayes classic-score tags.csv gpt.csv --out classic.csv"))
def classic_score(
    tags: Path = typer.Argument(..., metavar="TAGS", help="Tag table from `vp-bayes select`."),
    ratings: Path = typer.Argument(..., metavar="RATINGS",
                                   help="LLM rating table (respondent,item_id,variant,rating)."),
    out: Path = typer.Option(..., "--out", help="Score table to write (csv or parquet)."),
    full: bool = typer.Option(False, "--full", help="Print every respondent, not the first "
                              f"{N_SHOWN}."),
) -> None:
    """The paper's centered-mean value scores of every respondent."""
    from vp_bayes.classic import classic_lines, classic_scores, classic_summary, read_tags
    from vp_bayes.wave.ratings import read_llm_ratings

    check_writable(out)
    tag_table = read_tags(tags)
    llm = read_llm_ratings(ratings)
    scores = classic_scores(tag_table, llm)
    _write_table(scores, out)
    typer.echo(f"wrote {out}: {scores['respondent'].nunique()} respondents x "
               f"{scores['value'].nunique()} values from {len(tag_table)} tags on "
               f"{tag_table['item_id'].nunique()} items; {llm.attrs['n_unparsed']} unparsed "
               "ratings in the table")
    for line in classic_lines(scores, classic_summary(tag_table, llm), full=full,
                              table_path=out):
        typer.echo(line)

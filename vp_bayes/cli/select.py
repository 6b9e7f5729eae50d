"""CLI commands: ``import valueportrait``, ``select`` and ``classic-score``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from vp_bayes.cli.app import app, import_app
from vp_bayes.errors import InputError
from vp_bayes.output import write_csv


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        write_csv(frame, path)


@import_app.command("valueportrait")
def import_valueportrait(
    release_dir: Path = typer.Argument(..., help="Value Portrait release root (or its parent)."),
    out_wave: Path = typer.Argument(..., help="Wave folder to write."),
    fmt: str = typer.Option("csv", "--format", help="Table format: csv or parquet."),
) -> None:
    """Convert the Value Portrait release into a wave folder."""
    from vp_bayes.wave.importers.valueportrait import import_report, read_valueportrait
    from vp_bayes.wave.io import write_wave

    wave = read_valueportrait(release_dir)
    path = write_wave(wave, out_wave, fmt=fmt)
    rep = import_report(release_dir)
    typer.echo(f"wrote {path}")
    typer.echo(f"participants {rep.n_participants}  items {rep.n_items}  "
               f"ratings {rep.n_ratings}  duplicates {rep.n_duplicate_ratings}")
    typer.echo(f"value entries {rep.n_value_entries}, without ratings (not imported) "
               f"{rep.n_value_entries_without_ratings}")
    typer.echo(f"items with source inferred from the query id "
               f"(texts from Phase1_total.json): {len(rep.inferred_source_items)}")


@app.command("select")
def select(
    wave_dir: Path = typer.Argument(..., help="Wave folder (human ratings and trait scores)."),
    out: Path = typer.Option(..., "--out", help="Tag table to write (csv or parquet)."),
    method: str = typer.Option("spearman", help="spearman, pearson or kendall."),
    threshold: float = typer.Option(0.3, help="Correlation threshold."),
    alpha: float = typer.Option(0.05, help="Significance level."),
    correction: str = typer.Option("none", help="none, fdr_bh or bonferroni."),
    sign: str = typer.Option("positive", help="positive, negative or both."),
    traits: str = typer.Option("values", help="values|values19|higher|bigfive or a comma list."),
    published: Path | None = typer.Option(
        None, help="Tag from this published correlation file instead of recomputing."),
    compare_published: Path | None = typer.Option(
        None, help="Compare the recomputed correlations with this published file."),
    n_permutations: int = typer.Option(200, help="Permutations per item for the chance "
                                       "expectation (0 = t approximation)."),
    seed: int = typer.Option(0, help="Seed of the permutations."),
) -> None:
    """Tag items for traits by the correlation rule; summarise tags, chance and FDR."""
    from vp_bayes.selection import (
        compare_correlations,
        expected_chance_tags,
        item_trait_correlations,
        published_correlations,
        select_items,
        tag_counts,
        wave_traits,
    )
    from vp_bayes.wave.io import load_wave

    wave = load_wave(wave_dir)
    scores = wave_traits(wave, traits)
    names = [str(c) for c in scores.columns]
    rule = dict(threshold=threshold, alpha=alpha, sign=sign)
    if published is not None:
        table = published_correlations(published)
        table = table[table["trait"].isin(names)].reset_index(drop=True)
        if table.empty:
            raise InputError("published file has none of the requested traits",
                             file=published, field="pvq_dimension")
        table = select_items(table, correction=correction, **rule)
    else:
        table = item_trait_correlations(wave.ratings, scores, method=method,
                                        correction=correction, **rule)
    _write_table(table, out)

    chance_how = "permutation" if n_permutations > 0 else "t"
    chance = expected_chance_tags(wave.ratings, scores, method=method, how=chance_how,
                                  n_permutations=max(n_permutations, 1), seed=seed, **rule)
    fdr = select_items(table, correction="fdr_bh", **rule)
    summary = pd.DataFrame({
        "tags": tag_counts(table, names),
        "chance": chance.set_index("trait")["expected_tags"].reindex(names).round(1),
        "fdr_bh_tags": tag_counts(fdr, names),
    })
    summary.loc["total"] = summary.sum()
    typer.echo(f"wrote {out}: {int(table['tagged'].sum())} tags on "
               f"{table.loc[table['tagged'], 'item_id'].nunique()} items "
               f"({'published' if published else method} correlations, correction "
               f"{correction}, sign {sign}, r threshold {threshold}, alpha {alpha})")
    typer.echo(f"chance = expected tags if no item related to any trait "
               f"({chance_how}{', seed ' + str(seed) if chance_how == 'permutation' else ''}); "
               "fdr_bh_tags = tags after Benjamini-Hochberg across all tests")
    typer.echo(summary.to_string())

    if compare_published is not None:
        recomputed = (table if published is None else
                      item_trait_correlations(wave.ratings, scores, method="spearman", **rule))
        pub = published_correlations(compare_published)
        cmp = compare_correlations(recomputed, pub)
        bad = cmp[~cmp["match"]]
        typer.echo(f"compared with {compare_published}: {int(cmp['match'].sum())} of "
                   f"{len(cmp)} items match to 1e-9; not matching: {len(bad)}")
        if len(bad):
            if "rater_group" in wave.items.columns:
                bad = bad.join(wave.items["rater_group"])
            typer.echo(bad.to_string())


@app.command("classic-score")
def classic_score(
    tags: Path = typer.Argument(..., help="Tag table from `vp-bayes select`."),
    ratings: Path = typer.Argument(..., help="LLM rating table (respondent,item_id,variant,"
                                   "rating)."),
    out: Path = typer.Option(..., "--out", help="Score table to write (csv or parquet)."),
) -> None:
    """The paper's centred-mean value scores of every respondent."""
    from vp_bayes.classic import classic_scores, classic_summary, read_tags
    from vp_bayes.wave.ratings import read_llm_ratings

    tag_table = read_tags(tags)
    llm = read_llm_ratings(ratings)
    scores = classic_scores(tag_table, llm)
    _write_table(scores, out)
    info = classic_summary(tag_table, llm)
    typer.echo(f"wrote {out}: {scores['respondent'].nunique()} respondents x "
               f"{scores['value'].nunique()} values from {len(tag_table)} tags on "
               f"{tag_table['item_id'].nunique()} items; {llm.attrs['n_unparsed']} unparsed "
               "ratings in the table")
    flagged = info[(info["n_items_no_valid"] > 0) | (info["n_unparsed"] > 0)]
    if len(flagged):
        typer.echo("respondents with unparsed ratings on tagged items "
                   "(items with no valid rating are left out):")
        typer.echo(flagged.to_string(index=False))
    wide = scores.pivot(index="respondent", columns="value", values="centered_score")
    wide = wide[list(dict.fromkeys(scores["value"]))]
    typer.echo(wide.round(3).to_string())

"""CLI commands on wave folders: ``validate`` and ``simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

from vp_bayes.cli.app import app, example
from vp_bayes.errors import PROBLEM_LIMIT


def _print_summary(summary: dict) -> None:
    typer.echo(f"wave: {summary['name']}")
    typer.echo(f"values from: {summary['value_source']}")
    lo, hi = summary["scale"]
    typer.echo(f"rating scale: {lo}..{hi}\n")
    typer.echo(summary["counts"].to_string(index=False))
    typer.echo("\nrating distribution")
    dist = summary["rating_distribution"].copy()
    dist["share"] = dist["share"].map(lambda s: f"{s:.3f}")
    typer.echo(dist.to_string(index=False))
    typer.echo("")
    for key in ("ratings_per_item", "ratings_per_participant"):
        s = summary[key]
        typer.echo(
            f"{key.replace('_', ' ')}: min {s['min']}, median {s['median']:g}, max {s['max']}"
        )
    for key in ("participants_without_ratings", "items_without_ratings"):
        ids = summary[key]
        shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
        typer.echo(f"{key.replace('_', ' ')}: {len(ids)}" + (f" ({shown})" if ids else ""))
    typer.echo(f"empty answer/value cells: {summary['missing_cells']}")


@app.command(epilog=example("vp-bayes validate data/demo"))
def validate(
    wave: Path = typer.Argument(..., metavar="WAVE", help="The wave folder."),
    limit: int = typer.Option(PROBLEM_LIMIT, "--limit", min=1,
                              help="List at most this many problems (all are counted)."),
) -> None:
    """Check a wave folder; print its summary, or every problem, one per line (exit 2)."""
    from vp_bayes.wave.io import summarize_wave, validate_wave

    result = validate_wave(wave, limit=limit)
    if result.total:
        for line in result.lines():
            typer.echo(line, err=True)
        raise SystemExit(2)  # typer.Exit is swallowed under standalone_mode=False
    _print_summary(summarize_wave(result.wave))


@app.command(epilog=example(
    "vp-bayes simulate mywave --participants 300 --items 80 --per-participant 40 --seed 1"))
def simulate(
    out: Path = typer.Argument(..., metavar="OUT", help="The wave folder to write."),
    participants: int = typer.Option(300, "--participants", help="Number of simulated humans."),
    items: int = typer.Option(80, "--items", help="Number of items."),
    per_participant: int | None = typer.Option(
        None, "--per-participant", help="Items rated per participant.",
        show_default="min(items, 60)"),
    seed: int = typer.Option(2026, "--seed", help="Random seed."),
    llms: int = typer.Option(3, "--llms", help="Number of simulated LLM respondents."),
    personas: bool = typer.Option(True, "--personas/--no-personas", help="Persona respondents."),
    prescored: bool = typer.Option(
        False, "--prescored", help="Write MRAT-centred values.csv instead of instrument.csv."
    ),
) -> None:
    """Simulate a wave with known truth (truth.nc) and LLM ratings (llm_ratings.csv)."""
    from vp_bayes.output import check_writable
    from vp_bayes.wave.io import MANIFEST_FILE, summarize_wave
    from vp_bayes.wave.simulate import simulate_wave, write_simulated

    check_writable(out / MANIFEST_FILE)
    sim = simulate_wave(
        n_participants=participants,
        n_items=items,
        items_per_participant=per_participant,
        seed=seed,
        n_llm=llms,
        personas=personas,
        prescored=prescored,
    )
    folder = write_simulated(sim, out)
    typer.echo(f"wrote {folder} (data hash {sim.wave.data_hash()[:12]})")
    n_resp = sim.llm_ratings["respondent"].nunique()
    typer.echo(f"llm ratings: {len(sim.llm_ratings)} rows, {n_resp} respondents\n")
    _print_summary(summarize_wave(sim.wave))

"""CLI commands: rate (collect LLM ratings of the items)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from vp_bayes.cli.app import NON_NEGATIVE, POSITIVE, app, example, within
from vp_bayes.errors import InputError


class BackendName(StrEnum):
    """Available backends."""

    openai = "openai"
    openai_batch = "openai-batch"
    transformers = "transformers"


class PersonaMode(StrEnum):
    """Where a persona goes."""

    system = "system"
    user = "user"


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@app.command("rate", epilog=example(
    "vp-bayes rate vp_wave --backend openai --model gpt-4o-mini --out gpt.csv",
    "vp-bayes rate vp_wave --backend openai-batch --model gpt-4o-mini --price 0.075,0.30 "
    "--out gpt.csv",
    "vp-bayes rate vp_wave --backend transformers --model HuggingFaceTB/SmolLM2-135M-Instruct "
    "--items-limit 20 --personas builtin:gender --out smol.csv",
    "vp-bayes rate vp_wave --backend openai --model gpt-4o-mini --out gpt.csv --adaptive "
    "--item-model models/valueportrait.nc --budget 780"))
def rate_command(
    items: Path = typer.Argument(..., metavar="ITEMS",
                                 help="Wave folder or items table (csv/parquet)."),
    backend: BackendName = typer.Option(..., "--backend",
                                        help="openai, openai-batch (Batch API) or transformers."),
    model: str = typer.Option(..., "--model", help="Model name (openai) or path/hub name."),
    out: Path = typer.Option(..., "--out", help="Output ratings CSV."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env",
                                    help="Name of the env variable holding the API key."),
    variants: str | None = typer.Option(None, "--variants", help="Comma list; default all six."),
    templates: Path | None = typer.Option(None, "--templates", help="Extra template folder."),
    persona: str | None = typer.Option(None, "--persona", help="One ad-hoc persona text."),
    personas: str | None = typer.Option(None, "--personas",
                                        help="CSV (persona_id,text), builtin or builtin:AXES."),
    persona_mode: PersonaMode = typer.Option(PersonaMode.system, "--persona-mode",
                                             help="Message that carries the persona."),
    samples: int = typer.Option(1, "--samples", min=1,
                                help="Samples per item x variant x persona."),
    temperature: float = typer.Option(0.0, "--temperature", callback=NON_NEGATIVE,
                                      help="Sampling temperature."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (seed + sample is sent)."),
    max_tokens: int = typer.Option(64, "--max-tokens", min=1, help="Longest answer, in tokens."),
    top_p: float | None = typer.Option(None, "--top-p", callback=within(0.0, 1.0, open_low=True),
                                       help="Nucleus sampling mass."),
    logprobs: bool = typer.Option(False, "--logprobs", help="Also record p1..p6, p_valid."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight (openai)."),
    timeout: float = typer.Option(60.0, "--timeout", callback=POSITIVE,
                                  help="Per-attempt timeout, seconds."),
    max_retries: int = typer.Option(6, "--max-retries", min=0,
                                    help="Retries per request (openai)."),
    retry_delay: float = typer.Option(1.0, "--retry-delay", callback=NON_NEGATIVE,
                                      help="Base backoff delay in seconds (doubles per retry)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Batch size (transformers)."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", callback=POSITIVE,
                                        help="Seconds between batch polls (openai-batch)."),
    batch_retries: int = typer.Option(2, "--batch-retries", min=0,
                                      help="Resubmissions of missing requests (openai-batch)."),
    batch_max_requests: int = typer.Option(50_000, "--batch-max-requests", min=1, max=50_000,
                                           help="Requests per batch file (openai-batch)."),
    price: str | None = typer.Option(None, "--price",
                                     help="USD per 1M tokens, PRICE or INPUT,OUTPUT "
                                          "(openai-batch cost line)."),
    gguf_file: str | None = typer.Option(None, "--gguf-file", help="GGUF file in --model."),
    revision: str | None = typer.Option(None, "--revision", help="Model revision."),
    cache: Path | None = typer.Option(None, "--cache", help="SQLite cache (default by --out)."),
    cache_wait: float = typer.Option(
        0.0, "--cache-wait", min=0.0,
        help="Seconds to wait while another rate process holds the cache (0: stop at once)."),
    items_limit: int | None = typer.Option(None, "--items-limit", min=1,
                                           help="First N items only."),
    item_ids: str | None = typer.Option(None, "--items", help="Comma list of item ids."),
    respondent: str | None = typer.Option(None, "--respondent",
                                          help="Name in the respondent column (default --model)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    adaptive: bool = typer.Option(False, "--adaptive",
                                  help="Ask only what the adaptive design chooses."),
    item_model: Path | None = typer.Option(None, "--item-model",
                                           help="Fitted item model (.nc) for --adaptive."),
    target_ratio: float = typer.Option(
        1.2, "--target-ratio", min=1.0,
        help="--adaptive: stop when every value's SD is within this factor of the SD all "
             "requests would give (predicted)."),
    target_sd: float | None = typer.Option(None, "--target-sd", callback=POSITIVE,
                                           help="--adaptive: also stop when every value's "
                                                "SD is below this."),
    budget: int = typer.Option(780, "--budget", min=1,
                               help="--adaptive: most requests per respondent."),
    adaptive_batch: int = typer.Option(40, "--adaptive-batch", min=1,
                                       help="--adaptive: requests chosen per batch."),
    base_ratings: Path | None = typer.Option(
        None, "--base-ratings",
        help="--adaptive with personas: the base model's ratings (a rate output); each "
             "persona's design starts from the base model's portrait plus a persona shift."),
) -> None:
    """Ask an LLM to rate the items under the paper's prompts; resumable (SQLite cache).

    One process at a time per cache: a second one stops (or waits --cache-wait seconds). The
    output paths and the cache are checked before the backend is made or anything is sent.
    With --adaptive (and --item-model) each respondent is asked, in batches, the requests that
    most reduce its values' posterior variance, until every value's SD is within
    --target-ratio of what all requests would give (or below --target-sd) or --budget
    requests are spent (vp_bayes/scoring/adaptive.py); resumable like a full run.
    """
    from vp_bayes.llm.cache import RatingCache
    from vp_bayes.llm.personas import resolve_personas
    from vp_bayes.llm.prompts import VARIANTS, load_templates, read_items
    from vp_bayes.llm.redact import redact
    from vp_bayes.llm.runner import Settings, check_outputs, default_cache_path, rate

    table = read_items(items)
    wanted = _split(item_ids)
    if wanted:
        missing = sorted(set(wanted) - set(table["item_id"]))
        if missing:
            raise InputError(f"unknown item id {missing[0]!r}", file=items, field="item_id")
        table = table[table["item_id"].isin(wanted)]
    if items_limit is not None:
        table = table.head(items_limit)
    tmpl = load_templates(templates)
    chosen = _split(variants) or list(VARIANTS)
    unknown = [v for v in chosen if v not in tmpl]
    if unknown:
        raise InputError(f"unknown prompt variant {unknown[0]!r}; known: "
                         f"{', '.join(sorted(tmpl))}", field="--variants")
    people = resolve_personas(personas, persona)
    settings = Settings(temperature=temperature, seed=seed, max_tokens=max_tokens, top_p=top_p,
                        logprobs=logprobs)
    if backend is BackendName.openai_batch:
        from vp_bayes.llm.backends.openai_batch import parse_price

        batch_price = parse_price(price)  # a bad price stops before anything is written
    check_outputs(out)
    base = _base_ratings(base_ratings, adaptive, respondent or model)
    design = _adaptive_design(adaptive, item_model, target_sd, target_ratio, budget,
                              adaptive_batch)
    # the cache is locked and checked before a model is loaded or a request is sent
    with RatingCache(cache or default_cache_path(out), wait=cache_wait) as rating_cache:
        if backend is BackendName.openai:
            from vp_bayes.llm.backends.openai import OpenAIBackend

            be = OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env,
                               concurrency=concurrency, timeout=timeout,
                               max_retries=max_retries, base_delay=retry_delay,
                               temperature=temperature, max_tokens=max_tokens, top_p=top_p,
                               logprobs=logprobs)
        elif backend is BackendName.openai_batch:
            from vp_bayes.llm.backends.openai_batch import OpenAIBatchBackend

            be = OpenAIBatchBackend(model, base_url=base_url, api_key_env=api_key_env,
                                    timeout=timeout, max_retries=max_retries,
                                    base_delay=retry_delay, temperature=temperature,
                                    max_tokens=max_tokens, top_p=top_p, logprobs=logprobs,
                                    poll_interval=poll_interval, batch_retries=batch_retries,
                                    max_file_requests=batch_max_requests,
                                    price=batch_price,
                                    log=lambda line: typer.echo(line, err=True))
        else:
            from vp_bayes.llm.backends.transformers import TransformersBackend

            be = TransformersBackend(model, gguf_file=gguf_file, revision=revision,
                                     batch_size=batch_size, max_new_tokens=max_tokens,
                                     temperature=temperature, top_p=top_p, logprobs=logprobs)
        if design is not None:
            from vp_bayes.llm.adaptive import rate_adaptive

            summary, ratings = rate_adaptive(
                table, be, out, design, respondent_model=respondent or model, variants=chosen,
                personas=people, persona_mode=persona_mode.value, samples=samples,
                settings=settings, templates=tmpl, cache=rating_cache, progress=progress,
                base_ratings=base)
        else:
            summary, ratings = rate(table, be, out, respondent_model=respondent or model,
                                    variants=chosen, personas=people,
                                    persona_mode=persona_mode.value, samples=samples,
                                    settings=settings, templates=tmpl, cache=rating_cache,
                                    progress=progress)
    typer.echo(summary.line())
    for line in getattr(summary, "lines", list)():
        typer.echo(line)
    for line in be.report_lines() if backend is BackendName.openai_batch else []:
        typer.echo(line)
    if len(ratings):
        counts = ratings["rating"].value_counts(dropna=False).sort_index()
        typer.echo("rating counts: " + ", ".join(f"{k if k is not None else 'NA'}={v}"
                                                 for k, v in counts.items()))
    typer.echo(f"wrote {out} ({len(ratings)} rows)")
    if summary.failed:
        for key, msg in list(summary.failures.items())[:5]:
            typer.echo(f"failed {key[:12]}: {redact(msg)}", err=True)
        typer.echo(f"{summary.failed} requests failed; run the same command again to retry them",
                   err=True)
        raise SystemExit(1)  # typer.Exit is swallowed under standalone_mode=False
    if design is not None and item_model is not None:
        typer.echo(f"portrait: vp-bayes score {item_model} {out} --out PORTRAITS.csv")


def _base_ratings(path: Path | None, adaptive: bool, name: str):  # noqa: ANN202 - DataFrame
    """The base model's rows of ``--base-ratings`` (None without it), read and checked before
    the item model is loaded: the respondent ``name`` without a persona must have rows."""
    if path is None:
        return None
    if not adaptive:
        raise InputError("--base-ratings is used only with --adaptive", field="--base-ratings")
    from vp_bayes.dims import split_respondent
    from vp_bayes.wave.ratings import read_llm_ratings

    table = read_llm_ratings(path)
    mine = table["respondent"].astype(str) == name
    if not mine.any():
        found = sorted({split_respondent(str(r))[0] for r in table["respondent"]})[:3]
        raise InputError(f"no rows of the base model {name!r} (found: {', '.join(found)})",
                         file=path, row=1, field="respondent")
    return table.loc[mine, ["item_id", "variant", "rating"]].reset_index(drop=True)


def _adaptive_design(adaptive: bool, item_model: Path | None, target_sd: float | None,
                     target_ratio: float, budget: int,
                     batch: int):  # noqa: ANN202 - AdaptiveDesign, imported when used
    """The adaptive design of --adaptive (None without it); the item model read first."""
    if not adaptive:
        if item_model is not None:
            raise InputError("--item-model is used only with --adaptive", field="--item-model")
        return None
    if item_model is None:
        raise InputError("--adaptive needs --item-model (a fitted item model, .nc)",
                         field="--item-model")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring.adaptive import AdaptiveDesign

    return AdaptiveDesign(load_model(item_model), batch_size=batch, target_sd=target_sd,
                          target_ratio=target_ratio, budget=budget)

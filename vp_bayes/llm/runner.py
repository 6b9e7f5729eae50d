"""Collecting LLM ratings: requests, resume from the cache, output tables.

The request list is items x variants x personas x samples. Requests whose key is in the cache
are skipped; the rest run (async backends: at most ``concurrency`` at once; batched backends:
``batch_size`` at a time; remote backends such as the OpenAI Batch API: all at once, as jobs
recorded in the cache), each answer committed to the cache as it arrives. Requests that
fail after the backend's retries are recorded as failures (not answers) and retried next run.

Outputs: the ratings table ``respondent,item_id,variant,sample,rating[,p1..p6,p_valid]`` (one
row per answered request; rating empty when the answer could not be parsed) and the side table
``<out>.raw.csv`` with every request's status, raw text and metadata, both written by
:func:`vp_bayes.output.write_csv` (CSV-injection safe). Before any request is sent, :func:`rate`
checks that both tables can be written and opens (locks and checks) the cache; errors and texts
are redacted (:mod:`vp_bayes.llm.redact`) before they are stored or shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from tqdm.auto import tqdm

from vp_bayes.dims import respondent_name
from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import Answer, Backend, Request
from vp_bayes.llm.cache import PROB_COLUMNS, RatingCache, canonical_json, request_key
from vp_bayes.llm.parse import parse_rating
from vp_bayes.llm.personas import Persona
from vp_bayes.llm.prompts import VARIANTS, Templates, build_messages, load_templates
from vp_bayes.llm.redact import redact
from vp_bayes.output import check_writable, write_csv

RATING_COLUMNS: tuple[str, ...] = ("respondent", "item_id", "variant", "sample", "rating")
LOGPROB_COLUMNS: tuple[str, ...] = (*PROB_COLUMNS, "p_valid")


@dataclass(frozen=True)
class Settings:
    """Sampling settings that decide an answer (all enter the cache key)."""

    temperature: float | None = 0.0
    seed: int | None = None
    max_tokens: int | None = 64
    top_p: float | None = None
    logprobs: bool = False


@dataclass
class RunSummary:
    """Counts of one run."""

    total: int = 0
    cached: int = 0
    done: int = 0
    failed: int = 0
    unparsed: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """One-line human summary."""
        return (f"{self.total} requests: {self.cached} cached, {self.done} answered now, "
                f"{self.failed} failed, {self.unparsed} unparsed answers in the table")


def build_requests(
    items: pd.DataFrame,
    *,
    identity: dict[str, Any],
    respondent_model: str,
    variants: Sequence[str] = VARIANTS,
    personas: Sequence[Persona | None] = (None,),
    persona_mode: Literal["system", "user"] = "system",
    samples: int = 1,
    settings: Settings = Settings(),  # noqa: B008 - frozen dataclass
    templates: Templates | None = None,
) -> list[Request]:
    """The list of requests: items x variants x personas x samples.

    Parameters
    ----------
    items
        Items table (``item_id, title, query, response, source``; see ``read_items``).
    identity
        The backend's :meth:`~vp_bayes.llm.backends.base.Backend.identity`.
    respondent_model
        Model name used in the respondent column (``{model}`` or ``{model}|{persona_id}``).
    variants, personas, persona_mode, samples, settings, templates
        What to ask and how (see :func:`~vp_bayes.llm.prompts.build_messages`).
    """
    if samples < 1:
        raise InputError("samples must be at least 1", field="samples")
    templates = templates if templates is not None else load_templates()
    unknown = [v for v in variants if v not in templates]
    if unknown:
        raise InputError(f"unknown prompt variant {unknown[0]!r}; known: "
                         f"{', '.join(sorted(templates))}", field="variants")
    records = items.to_dict("records")
    out: list[Request] = []
    for persona in personas:
        respondent = respondent_name(respondent_model,
                                     "" if persona is None else persona.persona_id)
        for item in records:
            for variant in variants:
                messages = build_messages(item, variant, None if persona is None else persona.text,
                                          persona_mode, templates)
                for sample in range(samples):
                    spec = {**identity, "messages": messages, "temperature": settings.temperature,
                            "seed": settings.seed, "max_tokens": settings.max_tokens,
                            "top_p": settings.top_p, "logprobs": settings.logprobs,
                            "sample": sample}
                    out.append(Request(key=request_key(spec), respondent=respondent,
                                       item_id=str(item["item_id"]), variant=variant,
                                       sample=sample, messages=messages, spec=spec))
    keys = [r.key for r in out]
    if len(set(keys)) != len(keys):
        raise InputError("two requests are identical (duplicate persona texts or items?)",
                         field="personas")
    return out


def _store(cache: RatingCache, req: Request, ans: Answer) -> int | None:
    rating = parse_rating(ans.text)
    cache.put(req.key, req.spec, raw_text=ans.text, rating=rating, probs=ans.probs,
              p_valid=ans.p_valid, reported_model=ans.reported_model,
              system_fingerprint=ans.system_fingerprint, latency_s=ans.latency_s,
              meta=ans.meta)
    return rating


def run_requests(
    requests: Sequence[Request],
    backend: Backend,
    cache: RatingCache,
    *,
    progress: bool = True,
    on_answer: Callable[[Request], None] | None = None,
) -> RunSummary:
    """Answer the requests not yet in the cache; every answer is committed as it arrives.

    Returns
    -------
    RunSummary
        Counts (``cached`` = skipped, ``done`` = answered now, ``failed``).
    """
    summary = RunSummary(total=len(requests))
    have = cache.cached_keys()
    todo = [r for r in requests if r.key not in have]
    summary.cached = len(requests) - len(todo)
    bar = tqdm(total=len(requests), initial=summary.cached, disable=not progress,
               desc="rating", unit="req", dynamic_ncols=True)

    def finished(req: Request, result: Answer | Exception) -> None:
        if isinstance(result, Exception):
            summary.failed += 1
            msg = (redact(str(result)) or type(result).__name__)[:300]
            summary.failures[req.key] = msg
            cache.record_failure(req.key, req.spec, msg)
        else:
            _store(cache, req, result)
            summary.done += 1
            if on_answer is not None:
                on_answer(req)
        bar.update(1)
        bar.set_postfix(done=summary.done, cached=summary.cached, failed=summary.failed)

    try:
        if backend.batched:
            for i in range(0, len(todo), backend.batch_size):
                batch = list(todo[i : i + backend.batch_size])
                try:
                    results: list[Answer | Exception] = list(backend.answer_batch(batch))
                except Exception as err:  # noqa: BLE001 - the whole batch failed; record it
                    results = [err] * len(batch)
                for req, res in zip(batch, results, strict=True):
                    finished(req, res)
        elif backend.remote:
            backend.run_remote(todo, cache, finished)
        else:
            asyncio.run(_run_async(todo, backend, finished))
    finally:
        bar.close()
    return summary


async def _run_async(todo: Sequence[Request], backend: Backend,
                     finished: Callable[[Request, Answer | Exception], None]) -> None:
    sem = asyncio.Semaphore(max(1, backend.concurrency))

    async def one(req: Request) -> None:
        async with sem:
            try:
                result: Answer | Exception = await backend.answer(req)
            except Exception as err:  # noqa: BLE001 - recorded as a failure, retried next run
                result = err
        finished(req, result)

    try:
        await asyncio.gather(*(one(r) for r in todo))
    finally:
        await backend.aclose()


def collect_tables(requests: Sequence[Request], cache: RatingCache,
                   logprobs: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the ratings table and the raw side table from the cache.

    Returns
    -------
    ratings, raw
        ``ratings``: one row per answered request, request order; ``rating`` is a nullable
        integer (empty = unparsed). ``raw``: one row per request with ``status`` (``ok``,
        ``failed`` or ``missing``), ``raw_text``, metadata and ``request_hash``.
    """
    answers = cache.get_many(r.key for r in requests)
    failures = cache.failures()
    rows, raw_rows = [], []
    for r in requests:
        base = {"respondent": r.respondent, "item_id": r.item_id, "variant": r.variant,
                "sample": r.sample}
        rec = answers.get(r.key)
        if rec is None:
            fail = failures.get(r.key)
            raw_rows.append({**base, "status": "failed" if fail else "missing",
                             "error": fail["error"] if fail else None, "request_hash": r.key})
            continue
        row = {**base, "rating": rec["rating"]}
        if logprobs:
            row.update({c: rec[c] for c in LOGPROB_COLUMNS})
        rows.append(row)
        raw_rows.append({**base, "status": "ok", "rating": rec["rating"],
                         "raw_text": rec["raw_text"], "reported_model": rec["reported_model"],
                         "system_fingerprint": rec["system_fingerprint"],
                         "latency_s": rec["latency_s"], "p_valid": rec["p_valid"],
                         "meta": rec["meta"], "request_hash": r.key})
    columns = list(RATING_COLUMNS) + (list(LOGPROB_COLUMNS) if logprobs else [])
    ratings = pd.DataFrame(rows, columns=columns)
    ratings["rating"] = ratings["rating"].astype("Int64")
    raw_cols = ["respondent", "item_id", "variant", "sample", "status", "rating", "raw_text",
                "reported_model", "system_fingerprint", "latency_s", "p_valid", "error", "meta",
                "request_hash"]
    raw = pd.DataFrame(raw_rows).reindex(columns=raw_cols)
    raw["rating"] = raw["rating"].astype("Int64")
    for col in ("raw_text", "reported_model", "system_fingerprint", "error", "meta"):
        raw[col] = raw[col].map(redact, na_action="ignore")  # also for caches written before
    return ratings, raw


def raw_path(out: str | Path) -> Path:
    """The side table's path: ``<out>.raw.csv`` (``ratings.csv`` -> ``ratings.raw.csv``)."""
    out = Path(out)
    return out.with_name(out.stem + ".raw.csv")


def default_cache_path(out: str | Path) -> Path:
    """Default cache next to the output: ``<out>.cache.sqlite``."""
    out = Path(out)
    return out.with_name(out.stem + ".cache.sqlite")


def check_outputs(out: str | Path) -> Path:
    """Check, before any request is sent, that ``out`` and ``<out>.raw.csv`` can be written.

    Raises
    ------
    InputError
        Naming the path that cannot be written.
    """
    out = check_writable(out)
    check_writable(raw_path(out))
    return out


def rate(
    items: pd.DataFrame,
    backend: Backend,
    out: str | Path,
    *,
    respondent_model: str,
    variants: Sequence[str] = VARIANTS,
    personas: Sequence[Persona | None] = (None,),
    persona_mode: Literal["system", "user"] = "system",
    samples: int = 1,
    settings: Settings = Settings(),  # noqa: B008 - frozen dataclass
    templates: Templates | None = None,
    cache_path: str | Path | None = None,
    cache: RatingCache | None = None,
    cache_wait: float = 0.0,
    progress: bool = True,
) -> tuple[RunSummary, pd.DataFrame]:
    """Collect ratings end to end: build requests, run the uncached ones, write the tables.

    The output paths are checked and the cache is opened (locked, checked) before any request
    is sent; the lock is held until both tables are written.

    Parameters
    ----------
    items, backend, out, respondent_model
        The items table, the backend, the ratings table's path, the respondent's model name.
    variants, personas, persona_mode, samples, settings, templates
        What to ask and how (see :func:`build_requests`).
    cache_path
        The SQLite cache (default :func:`default_cache_path`); ignored when ``cache`` is given.
    cache
        An open cache to use (the caller closes it), e.g. opened before loading a local model.
    cache_wait
        Seconds to wait for another process holding the cache (0: stop at once).
    progress
        Show a progress bar.

    Returns
    -------
    summary, ratings
        The run's counts and the ratings table written to ``out``.

    Raises
    ------
    InputError
        Before any request: an output path that cannot be written, a cache held by another
        process, a corrupt or foreign cache file.
    """
    out = check_outputs(out)
    requests = build_requests(items, identity=backend.identity(),
                              respondent_model=respondent_model, variants=variants,
                              personas=personas, persona_mode=persona_mode, samples=samples,
                              settings=settings, templates=templates)
    if cache is None:
        cache_path = Path(cache_path) if cache_path is not None else default_cache_path(out)
        with RatingCache(cache_path, wait=cache_wait) as opened:
            return _rate_with(requests, backend, opened, out, settings, progress)
    return _rate_with(requests, backend, cache, out, settings, progress)


def _rate_with(requests: Sequence[Request], backend: Backend, cache: RatingCache, out: Path,
               settings: Settings, progress: bool) -> tuple[RunSummary, pd.DataFrame]:
    summary = run_requests(requests, backend, cache, progress=progress)
    ratings, raw = collect_tables(requests, cache, logprobs=settings.logprobs)
    summary.unparsed = int(ratings["rating"].isna().sum())
    write_csv(ratings, out)
    write_csv(raw, raw_path(out))
    return summary, ratings


__all__ = ["Settings", "RunSummary", "build_requests", "run_requests", "collect_tables", "rate",
           "raw_path", "default_cache_path", "check_outputs", "canonical_json"]

"""Adaptive collection through the runner and the cache (``vp-bayes rate --adaptive``).

:func:`rate_adaptive` builds the full request list (items x variants x personas x samples)
exactly as :func:`~vp_bayes.llm.runner.rate` does, so every request keeps its cache key, and
then asks only what :class:`~vp_bayes.scoring.adaptive.AdaptiveDesign` chooses, batch by
batch, per respondent (a persona is a respondent of its own). Before every batch the
respondent's answers are read back from the cache; the design's choice depends only on them.
Hence the cache's guarantees hold as for a full run: every answer is committed as it arrives
(a killed run loses at most the requests in flight), a rerun reads the answers back, never
sends a cached request again and continues choosing where it stopped. Failed requests are not
chosen again in the same run (they are retried by the next one). The ratings table holds the
answered requests of the respondents, in request order; the raw side table as in ``rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from vp_bayes.dims import ITEM_ID, split_respondent
from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import Backend, Request
from vp_bayes.llm.cache import RatingCache
from vp_bayes.llm.personas import Persona
from vp_bayes.llm.prompts import VARIANTS, Templates
from vp_bayes.llm.runner import (
    RunSummary,
    Settings,
    build_requests,
    check_outputs,
    collect_tables,
    default_cache_path,
    raw_path,
    run_requests,
)
from vp_bayes.output import write_csv
from vp_bayes.scoring.adaptive import AdaptiveDesign, AdaptiveStep


@dataclass
class AdaptiveSummary(RunSummary):
    """Counts of an adaptive run, and per respondent its last step (posterior, reason)."""

    steps: dict[str, AdaptiveStep] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per respondent: requests, why it stopped, the largest posterior SD."""
        out = []
        for name, step in self.steps.items():
            sd = step.posterior.sd
            why = {"target": "every value's SD at the target",
                   "precision": "every value's SD within the target ratio of all requests'",
                   "budget": "budget spent",
                   "exhausted": "nothing left to ask", "": "stopped early (failures)"}
            out.append(f"{name}: {self.asked.get(name, 0)} requests answered, "
                       f"{why.get(step.reason, step.reason)}; largest posterior SD "
                       f"{sd.max():.2f} ({sd.idxmax()}, Laplace approximation)")
        return out


def _label(req: Request, samples: int) -> str:
    """The design's variant label of a request (the sample joins it when there are several)."""
    return req.variant if samples == 1 else f"{req.variant}#{req.sample}"


def rate_adaptive(
    items: pd.DataFrame,
    backend: Backend,
    out: str | Path,
    design: AdaptiveDesign,
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
    on_batch: Callable[[str, AdaptiveStep], None] | None = None,
    base_ratings: pd.DataFrame | None = None,
) -> tuple[AdaptiveSummary, pd.DataFrame]:
    """Collect ratings adaptively: per respondent, ask the design's batches until it stops.

    Parameters
    ----------
    items, backend, out, respondent_model, variants, personas, persona_mode, samples,
    settings, templates, cache_path, cache, cache_wait, progress
        As in :func:`vp_bayes.llm.runner.rate`.
    design
        Chooses the batches and stops (batch size, target SD, budget per respondent).
    on_batch
        Called with the respondent and each step before its batch is sent (progress lines).
    base_ratings
        The base model's ratings (``item_id, variant, rating``): each persona's design starts
        from the base model's portrait plus a persona shift
        (:meth:`~vp_bayes.scoring.adaptive.AdaptiveDesign.set_base`); the base respondent
        itself (no persona) is designed under the population prior. The choice then depends
        on the cached answers and this fixed table only, so a rerun resumes as before.

    Returns
    -------
    summary, ratings
        Counts (``total``: the requests asked, cached included) with each respondent's last
        step, and the ratings table written to ``out``.
    """
    out = check_outputs(out)
    requests = build_requests(items, identity=backend.identity(),
                              respondent_model=respondent_model, variants=variants,
                              personas=personas, persona_mode=persona_mode, samples=samples,
                              settings=settings, templates=templates)
    known = set(design.draws.items)
    if not any(r.item_id in known for r in requests):
        raise InputError("none of the items is in the item model: --adaptive chooses among "
                         "the items the model was fitted on", field="item_id")
    if cache is None:
        cache_path = Path(cache_path) if cache_path is not None else default_cache_path(out)
        with RatingCache(cache_path, wait=cache_wait) as opened:
            return _adaptive_with(requests, backend, opened, out, design, settings, samples,
                                  progress, on_batch, base_ratings)
    return _adaptive_with(requests, backend, cache, out, design, settings, samples, progress,
                          on_batch, base_ratings)


def _adaptive_with(requests: Sequence[Request], backend: Backend, cache: RatingCache,
                   out: Path, design: AdaptiveDesign, settings: Settings, samples: int,
                   progress: bool, on_batch: Callable[[str, AdaptiveStep], None] | None,
                   base_ratings: pd.DataFrame | None = None,
                   ) -> tuple[AdaptiveSummary, pd.DataFrame]:
    summary = AdaptiveSummary()
    by_respondent: dict[str, list[Request]] = {}
    for req in requests:
        by_respondent.setdefault(req.respondent, []).append(req)
    answered_all: list[Request] = []
    for name, reqs in by_respondent.items():
        design.set_base(base_ratings if split_respondent(name)[1] else None)
        of_label = {(r.item_id, _label(r, samples)): r for r in reqs}
        tried: set[str] = set()  # sent in this run (answered or failed)
        failed_now = 0
        bar = tqdm(total=design.budget, disable=not progress, desc=f"adaptive {name}",
                   unit="req", dynamic_ncols=True)
        while True:
            answers = cache.get_many(r.key for r in reqs)
            done = [r for r in reqs if r.key in answers]
            ratings = pd.DataFrame({
                ITEM_ID: [r.item_id for r in done],
                "variant": [_label(r, samples) for r in done],
                "rating": pd.array([answers[r.key]["rating"] for r in done], dtype="Float64")
                .to_numpy(dtype=float, na_value=float("nan"))})
            pool_reqs = [r for r in reqs if r.key not in answers and r.key not in tried]
            pool = pd.DataFrame({ITEM_ID: [r.item_id for r in pool_reqs],
                                 "variant": [_label(r, samples) for r in pool_reqs]})
            step = design.step(ratings, pool, len(done) + failed_now)
            bar.n = len(done)
            bar.refresh()
            if on_batch is not None:
                on_batch(name, step)
            if step.stop:
                break
            batch = [of_label[(i, v)] for i, v in zip(step.batch[ITEM_ID],
                                                      step.batch["variant"], strict=True)]
            run = run_requests(batch, backend, cache, progress=False)
            tried.update(r.key for r in batch)
            failed_now += run.failed
            summary.done += run.done
            summary.failed += run.failed
            summary.failures.update(run.failures)
        bar.close()
        summary.steps[name] = step
        summary.asked[name] = len(done)
        summary.cached += len([r for r in done if r.key not in tried])
        answered_all.extend(done)
    asked = {r.key for r in answered_all} | set(summary.failures)
    chosen = [r for r in requests if r.key in asked]
    summary.total = len(chosen)
    ratings, raw = collect_tables(chosen, cache, logprobs=settings.logprobs)
    summary.unparsed = int(ratings["rating"].isna().sum())
    write_csv(ratings, out)
    write_csv(raw, raw_path(out))
    return summary, ratings

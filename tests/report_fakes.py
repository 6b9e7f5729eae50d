"""Hand-made result tables for the report tests (3 respondents x 10 values, contrasts, ...).

These are inputs to the report functions, which only draw tables; nothing here stands in for a
fitted model's evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vp_bayes import dims

RESPONDENTS = ("gpt-4o", "gpt-4o|gender=male", "llama-3.1-8b")


def portraits(seed: int = 0, respondents=RESPONDENTS, mass: float = 0.9) -> pd.DataFrame:
    """A portrait table as the scoring layer writes it."""
    rng = np.random.default_rng(seed)
    z = 1.6448536269514722 if mass == 0.9 else 1.2815515655446004  # 90% / 80% normal
    rows = []
    for r in respondents:
        mean = rng.normal(0.0, 0.8, len(dims.VALUES_10))
        sd = rng.uniform(0.1, 0.4, len(dims.VALUES_10))
        centred = mean - mean.mean()
        for v, m, s, c in zip(dims.VALUES_10, mean, sd, centred, strict=True):
            rows.append(dict(
                respondent=r, value=v, mean=m, sd=s, lower=m - z * s, upper=m + z * s,
                centered_mean=c, centered_lower=c - z * s, centered_upper=c + z * s,
                percentile=50.0, n_ratings=120, n_unparsed=1, n_unknown_items=0, mass=mass,
                model=dims.split_respondent(r)[0], persona=dims.split_respondent(r)[1]))
    return pd.DataFrame(rows)


def contrasts(seed: int = 1) -> pd.DataFrame:
    """A contrast table: gender (one pair) and age (three pairs), three sources."""
    rng = np.random.default_rng(seed)
    pairs = {"gender": [("male", "female")],
             "age": [("20-39", "40-59"), ("20-39", "60+"), ("40-59", "60+")]}
    rows = []
    for axis, ps in pairs.items():
        for ga, gb in ps:
            for v in dims.VALUES_10:
                for src in ("human", "llm", "bias"):
                    m, s = rng.normal(0.0, 0.2), rng.uniform(0.05, 0.15)
                    rows.append(dict(axis=axis, group_a=ga, group_b=gb, value=v, source=src,
                                     mean=m, lower=m - 1.645 * s, upper=m + 1.645 * s,
                                     prob_positive=float(rng.uniform()), mass=0.9,
                                     model="gpt-4o"))
    return pd.DataFrame(rows)


def selection(seed: int = 3, n_items: int = 20) -> pd.DataFrame:
    """A Bayesian-vs-correlation selection table."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "item_id": [f"i{j:02d}" for j in range(n_items) for _ in dims.VALUES_10],
        "value": [v for _ in range(n_items) for v in dims.VALUES_10],
    })
    frame["r"] = rng.normal(0.0, 0.2, len(frame))
    frame["prob_positive_practical"] = rng.uniform(size=len(frame))
    frame["posterior_tagged"] = frame["prob_positive_practical"] > 0.9
    frame["spearman_tagged"] = frame["r"] > 0.3
    frame["agreement"] = frame["posterior_tagged"] == frame["spearman_tagged"]
    return frame


def ppc(seed: int = 2, n_items: int = 12) -> pd.DataFrame:
    """A tidy posterior predictive table: item, category, observed, predicted_*."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_items):
        p = rng.dirichlet(np.ones(6) * 3)
        q = rng.dirichlet(p * 400)
        for k in range(6):
            rows.append(dict(item=f"item{j:02d}", category=str(k + 1), observed=q[k],
                             predicted_mean=p[k], predicted_lower=max(p[k] - 0.05, 0.0),
                             predicted_upper=p[k] + 0.05))
    return pd.DataFrame(rows)

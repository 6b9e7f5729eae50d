"""Throughput of ``vp-bayes rate``'s openai path against the local test server.

The scripted OpenAI-compatible server (``tests/llm_server.py``) answers every request after
200 ms. The runner rates fresh (uncached) requests at concurrency 1 and 16; printed as a table
of requests per second. Run: ``python benchmarks/collect_speed.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llm_server import ScriptedServer  # noqa: E402

from vp_bayes.llm.backends.openai import OpenAIBackend  # noqa: E402
from vp_bayes.llm.cache import RatingCache  # noqa: E402
from vp_bayes.llm.runner import build_requests, run_requests  # noqa: E402

DELAY_S = 0.2
RUNS = ((1, 20), (16, 160))  # (concurrency, number of requests)


def _items(n: int) -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"{1000 + i}_1" for i in range(n)],
                         "title": ["t"] * n, "query": [f"query {i}" for i in range(n)],
                         "response": [f"response {i}" for i in range(n)], "source": [""] * n})


def measure(concurrency: int, n: int, base_url: str, workdir: Path) -> dict[str, float]:
    """Rate ``n`` uncached requests at ``concurrency``; return timing figures."""
    backend = OpenAIBackend("bench", base_url=base_url, concurrency=concurrency)
    reqs = build_requests(_items(n), identity=backend.identity(), respondent_model="bench",
                          variants=["v1"])
    with RatingCache(workdir / f"c{concurrency}.sqlite") as cache:
        t0 = time.perf_counter()
        summary = run_requests(reqs, backend, cache, progress=False)
        elapsed = time.perf_counter() - t0
    assert summary.done == n and summary.failed == 0
    return {"concurrency": concurrency, "requests": n, "seconds": round(elapsed, 2),
            "requests_per_s": round(n / elapsed, 2),
            "ideal_per_s": round(concurrency / DELAY_S, 2)}


def main() -> None:
    """Print the throughput table."""
    rows = []
    with ScriptedServer(delay=DELAY_S) as srv, tempfile.TemporaryDirectory() as tmp:
        for concurrency, n in RUNS:
            rows.append(measure(concurrency, n, srv.base_url, Path(tmp)))
    print(f"server answers after {DELAY_S * 1000:.0f} ms; every request uncached")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

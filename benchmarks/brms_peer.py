"""brms/Stan peer benchmark of the item model on the real Value Portrait wave (issue #4).

Fits the ordinal mixed model a psychometrician would use for the same data,

    rating ~ 1 + <ten values> + (1 + <ten values> || item) + (1 | participant)
    family = cumulative("logit"), backend = "rstan"

with the same covariates as ``ModelConfig(value_input="exact")``: the ten pre-scored,
MRAT-centred PVQ-21 values standardised exactly as :func:`vp_bayes.model.data.prepare_data`
does (``data.values_z``). Priors follow ours (see ``benchmarks/brms_peer.R``); unlike ours the
item slopes are normal (ours: Student-t by default) and the loading direction along which the
ipsative values never vary is left to the prior, not projected out. The CSV is written to a
temporary directory, never into the repository.

Prints a one-row table in the style of ``benchmarks/fit_speed.py`` and writes the JSON to
``--out``/``real[N]-brms.json``:

- ``wall_s``: compile + sample + brms overhead (wall clock of the two ``brm`` calls);
- ``sampling_s``: max over the parallel chains of rstan's warmup + sampling time. rstan 2.21
  (Stan 2.21) times chains with ``clock()``, i.e. the chain process' CPU time, so on a busy
  machine it is below ``sample_wall_s``, the wall clock of the sampling call;
- ``compile_s``: the Stan model's code generation and C++ compilation;
- ``peak_gib``: largest waited-for child (``RUSAGE_CHILDREN``): the R master or the compiler;
  ``peak_total_gib``: largest summed RSS of the R session's processes, polled every 0.5 s,
  including the PSOCK workers that run the chains (which ``RUSAGE_CHILDREN`` does not see);
  ``peak_sampling_gib``: the same after compilation;
- ``ess_bulk_min_items`` / ``r_hat_max_items``: over the item-level parameters (fixed effects
  incl. thresholds, ``sd_item__*``, ``r_item[...]``); ``ess_per_s`` = ESS / ``sampling_s``;
- ``divergences`` (post-warmup) and ``grad_ms``: post-warmup CPU time per leapfrog step.

R and brms are benchmark tools only, not project dependencies. Install them (Debian) with::

    apt-get install -y --no-install-recommends r-cran-brms   # brings rstan, posterior, jsonlite

Examples::

    python benchmarks/brms_peer.py --items 40 --draws 200 --tune 200   # quick check
    python benchmarks/brms_peer.py --draws 1000 --tune 1000 --chains 2  # full wave
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
R_SCRIPT = Path(__file__).resolve().with_suffix(".R")
INSTALL_HINT = ("install R and brms (benchmark only, not a project dependency):\n"
                "    apt-get install -y --no-install-recommends r-cran-brms")


def ratings_table(items: int | None = None) -> pd.DataFrame:
    """Long ratings of the real wave with the model's standardised value covariates.

    Parameters
    ----------
    items
        Keep only the first ``items`` items of the wave (in the wave's item order).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, item, rating`` and one column per value of
        :data:`vp_bayes.dims.VALUES_10` holding ``ModelData.values_z``.
    """
    from vp_bayes import dims
    from vp_bayes.model.config import ModelConfig
    from vp_bayes.model.data import prepare_data
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    data = prepare_data(read_valueportrait(RELEASE), ModelConfig(value_input="exact"))
    table = pd.DataFrame({
        dims.PARTICIPANT: [data.participants[i] for i in data.rating_participant],
        dims.ITEM: [data.items[j] for j in data.rating_item],
        "rating": data.rating_y + data.scale_min,
    })
    values = pd.DataFrame(data.values_z, columns=list(data.values))[list(dims.VALUES_10)]
    table = pd.concat([table, values.iloc[data.rating_participant].reset_index(drop=True)],
                      axis=1)
    if items is not None:
        keep = set(data.items[:items])
        table = table[table[dims.ITEM].isin(keep)].reset_index(drop=True)
    return table


def check_r() -> str:
    """Path of ``Rscript``; exits 1 with install instructions when R or brms is missing."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit(f"Rscript not found; {INSTALL_HINT}")
    probe = subprocess.run([rscript, "-e", "for (p in c('brms', 'rstan', 'posterior', "
                            "'jsonlite')) if (!requireNamespace(p, quietly = TRUE)) "
                            "quit(status = 3)"], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit(f"R package brms/rstan/posterior/jsonlite missing; {INSTALL_HINT}")
    return rscript


def session_rss(session: int) -> int:
    """Summed resident memory (bytes) of the live processes of a session (Linux /proc).

    rstan runs parallel chains in PSOCK worker processes that are not waited for by the R
    parent, so ``RUSAGE_CHILDREN`` does not see them; they stay in the R process' session.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[21]) * resource.getpagesize()
        except (OSError, IndexError, ValueError):
            continue
    return total


class _MemoryPoller(threading.Thread):
    """Polls :func:`session_rss` of one session every ``every`` seconds until stopped."""

    def __init__(self, session: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.session, self.every = session, every
        self.samples: list[tuple[float, int]] = []  # (unix time, bytes)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.time(), session_rss(self.session)))
            self.done.wait(self.every)

    def peak_gib(self, since: float = 0.0) -> float:
        """Largest summed RSS (GiB) seen at or after unix time ``since``."""
        return max((rss for t, rss in self.samples if t >= since), default=0) / 2**30


def run_brms(table: pd.DataFrame, args: argparse.Namespace, rscript: str) -> dict:
    """Write the CSV to a temporary directory, fit it with ``brms_peer.R``, read its JSON.

    R's output is echoed to stderr, each line prefixed with the seconds since the start.
    """
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "real" if args.items is None else f"real{args.items}"
    result = args.out / f"{tag}-brms.json"
    result.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="vp_brms_") as tmp:
        csv = Path(tmp) / "ratings.csv"
        table.to_csv(csv, index=False, float_format="%.17g")
        cmd = [rscript, str(R_SCRIPT), "--csv", str(csv), "--out", str(result),
               "--chains", str(args.chains), "--iter", str(args.tune + args.draws),
               "--warmup", str(args.tune), "--seed", str(args.seed)]
        print(" ".join(cmd), file=sys.stderr)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        poller = _MemoryPoller(proc.pid)
        poller.start()
        for line in proc.stdout:
            print(f"[{time.perf_counter() - start:7.1f}s] {line}", end="", file=sys.stderr)
        proc.wait()
        poller.done.set()
        poller.join()
    if proc.returncode != 0 or not result.exists():
        sys.exit(f"brms fit failed (exit {proc.returncode})")
    res = json.loads(result.read_text())
    res["peak_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    res["peak_total_gib"] = poller.peak_gib()
    res["peak_sampling_gib"] = poller.peak_gib(since=res["sample_start_unix"])
    res["wave"] = tag
    result.write_text(json.dumps(res, indent=2))
    return res


def _print(res: dict) -> None:
    row = dict(wave=res["wave"], sampler="brms", wall_s=res["wall_s"],
               sampling_s=res["sampling_s"], sample_wall_s=res["sample_wall_s"],
               compile_s=res["compile_s"],
               peak_gib=res["peak_gib"], peak_total_gib=res["peak_total_gib"],
               peak_sampling_gib=res["peak_sampling_gib"],
               ess_bulk_min_items=res["ess_bulk_min_items"],
               ess_per_s=res["ess_bulk_min_items"] / res["sampling_s"],
               r_hat_max_items=res["r_hat_max_items"], divergences=res["divergences"],
               grad_ms=res["grad_ms"],
               n_obs=res["n_obs"], n_items=res["n_items"])
    table = pd.DataFrame([row]).set_index(["wave", "sampler"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain")
    parser.add_argument("--tune", type=int, default=1000, help="warmup iterations per chain")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--items", type=int, default=None,
                        help="keep only the first N items (quick check)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    args = parser.parse_args()
    if not (RELEASE / "release").is_dir():
        sys.exit("Value Portrait release not found at ../shared/valueportrait")
    rscript = check_r()
    table = ratings_table(args.items)
    print(f"{len(table)} ratings, {table['item'].nunique()} items, "
          f"{table['participant'].nunique()} participants", file=sys.stderr)
    _print(run_brms(table, args, rscript))


if __name__ == "__main__":
    main()

"""Adaptive collection (vp_bayes/scoring/adaptive.py, vp_bayes/llm/adaptive.py, rate --adaptive).

A small simulated item model (jittered copies of a simulated wave's true parameters) serves the
fast tests: the design prefers informative items, asks new items before repeating variants,
balances the variants, stops at the target, the budget or an empty pool, and a killed adaptive
``rate`` run against the loopback OpenAI-compatible server resumes without losing or
re-asking anything. The slow test replays real LLMs of the Value Portrait release.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from llm_server import ScriptedServer, body_key

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.llm.cache import RatingCache
from vp_bayes.scoring.adaptive import (
    AdaptiveDesign,
    next_items,
    rating_information,
    replay,
    variant_order,
    within_tolerance,
)
from vp_bayes.scoring.posterior import item_draws

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
VARIANTS = ("v1", "v1_reversed", "v2", "v2_reversed", "v3", "v3_reversed")


def _fake_model(sim, n_draws: int = 20):
    """An ItemModel whose 'posterior' is jittered copies of the simulated truth."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import ItemModel

    truth, rng = sim.truth, np.random.default_rng(0)
    cd = (dims.CHAIN, dims.DRAW)
    v = truth.sizes[dims.VALUE]

    def jit(a, sd: float = 0.05) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        return a[None, None] + sd * rng.standard_normal((2, n_draws, *a.shape))

    post = xr.Dataset(
        {
            "beta": ((*cd, dims.ITEM, dims.VALUE), jit(truth["beta"].values)),
            "b": ((*cd, dims.ITEM), jit(truth["b"].values)),
            "kappa": ((*cd, dims.CUTPOINT), jit(truth["kappa"].values, 0.0)),
            "sigma_alpha": (cd, np.abs(jit(truth["sigma_alpha"].values))),
            "corr": ((*cd, dims.VALUE, f"{dims.VALUE}_b"),
                     np.broadcast_to(truth["R"].values, (2, n_draws, v, v)).copy()),
            "theta": ((*cd, dims.PARTICIPANT, dims.VALUE), jit(truth["theta"].values)),
        },
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(n_draws),
                dims.ITEM: truth[dims.ITEM].values, dims.VALUE: truth[dims.VALUE].values,
                f"{dims.VALUE}_b": truth[dims.VALUE].values,
                dims.PARTICIPANT: truth[dims.PARTICIPANT].values,
                dims.CUTPOINT: np.arange(truth.sizes[dims.CUTPOINT])},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(n_categories=truth.sizes[dims.CUTPOINT] + 1, scale_min=1)
    diag = pd.DataFrame({"r_hat_max": [1.0], "ess_bulk_min": [400.0], "ess_tail_min": [400.0]},
                        index=pd.Index(["beta"], name="variable"))
    return ItemModel(tree, ModelConfig(), SamplerConfig(), wave_hash=sim.wave.data_hash(),
                     diagnostics=diag, wave_name="adaptive")


@pytest.fixture(scope="module")
def sim():
    from vp_bayes.wave.simulate import simulate_wave

    return simulate_wave(n_participants=60, n_items=80, items_per_participant=20, seed=5,
                         n_llm=2, personas=False)


@pytest.fixture(scope="module")
def draws(sim):
    return item_draws(_fake_model(sim), 40)


def _pool(items, variants=VARIANTS) -> pd.DataFrame:
    return pd.DataFrame([(i, v) for i in items for v in variants],
                        columns=["item_id", "variant"])


def _variance_after(design: AdaptiveDesign, post, items: list[str]) -> float:
    """The values' summed posterior variance after one rating of each of ``items`` (the
    expected information of each at the current posterior, added to its precision)."""
    info, shared, a = design.item_information(post)
    h = info / (1 + info * shared)
    pos = [design.draws.items.index(i) for i in items]
    p = a.shape[1]
    prec = np.linalg.inv(post.cov[:p, :p]) + (a[pos].T * h[pos]) @ a[pos]
    v = len(design.draws.values)
    return float(np.trace(np.linalg.inv(prec)[:v, :v]))


def test_rating_information_closed_form() -> None:
    # a binary rating at its threshold: p = 1/2, dp/deta = 1/4 -> I = 2 * (1/4)^2 / (1/2)
    assert rating_information(np.array([0.0]), np.array([[0.0]]), 1.0)[0] == \
        pytest.approx(0.25)
    # a wider noise scale carries less information; far from every cut, next to none
    cuts = np.array([[-1.0, 0.0, 1.0]])
    assert rating_information(np.array([0.0]), cuts, 2.0)[0] < \
        rating_information(np.array([0.0]), cuts, 0.5)[0]
    assert rating_information(np.array([20.0]), cuts, 1.0)[0] < 1e-6


def test_selection_prefers_informative_items(sim, draws) -> None:
    design = AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=None)
    items = list(draws.items)
    step = design.step(None, _pool(items))
    assert not step.stop and len(step.batch) == 20
    chosen = _variance_after(design, step.posterior, list(step.batch["item_id"]))
    rng = np.random.default_rng(0)
    random = [_variance_after(design, step.posterior, list(rng.choice(items, 20, replace=False)))
              for _ in range(200)]
    assert chosen < min(random)  # the chosen batch beats 200 random batches of 20 items
    assert chosen < 0.8 * np.mean(random)
    # with ratings: the choice is made at the respondent's posterior, and the design's
    # expected SDs after a batch are below the current ones
    llm = sim.llm_ratings[sim.llm_ratings["respondent"] == "sim-llm-1"]
    asked = llm.sample(60, random_state=1)
    pool = _pool(items).merge(asked[["item_id", "variant"]], how="left", indicator=True)
    pool = pool[pool["_merge"] == "left_only"].drop(columns="_merge")
    step2 = design.step(asked, pool)
    assert (step2.expected_sd <= step2.posterior.sd + 1e-12).all()
    assert step2.posterior.n_ratings == 60


def test_adaptive_beats_random_order(sim, draws) -> None:
    """After the same number of requests the adaptive posterior is narrower than random's."""
    design = AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=80)
    for name in ("sim-llm-1", "sim-llm-2"):
        llm = sim.llm_ratings[sim.llm_ratings["respondent"] == name]
        adaptive = replay(design, llm)
        assert adaptive.stopped == "budget" and len(adaptive.asked) == 80
        sd_adaptive = design.posterior(adaptive.asked).sd.mean()
        sd_random = np.mean([design.posterior(replay(design, llm, order="random", seed=s,
                                                     max_requests=80).asked).sd.mean()
                             for s in range(3)])
        assert sd_adaptive < 0.95 * sd_random, (name, sd_adaptive, sd_random)


def test_new_items_before_repeats_and_balanced_variants(draws) -> None:
    items = list(draws.items)
    one = AdaptiveDesign(draws, batch_size=60, target_sd=None, budget=None)
    batch = one.step(None, _pool(items)).batch
    per_item = batch.groupby("item_id").size()
    # mostly distinct items (43 of 60 picks; a second or third variant only of the best items)
    assert per_item.size >= 35 and per_item.max() <= 3 and (per_item == 1).sum() > 20
    counts = batch["variant"].value_counts()
    assert set(counts.index) == set(VARIANTS) and counts.max() - counts.min() <= 2
    assert not batch.duplicated().any()
    six = AdaptiveDesign(draws, batch_size=60, target_sd=None, budget=None,
                         variants_per_pick=6)
    batch6 = six.step(None, _pool(items)).batch
    assert batch6.groupby("item_id").size().eq(6).all() and len(batch6) == 60
    # the order of an item's variants does not change when one of them has been asked
    order = variant_order("item007", VARIANTS)
    assert variant_order("item007", order[1:]) == order[1:]


def test_stopping_rule(sim, draws) -> None:
    items = list(draws.items)
    llm = sim.llm_ratings[sim.llm_ratings["respondent"] == "sim-llm-1"]
    asked = llm.iloc[:30]
    pool = _pool(items)
    # every SD below a (generous) target: stop at once
    step = AdaptiveDesign(draws, target_sd=100.0, budget=None).step(asked, pool)
    assert step.stop and step.reason == "target" and step.batch.empty
    # a tight target is not reached; the budget caps the batch and then stops
    design = AdaptiveDesign(draws, batch_size=40, target_sd=0.01, budget=50)
    step = design.step(asked, pool)
    assert not step.stop and len(step.batch) == 20  # 50 - 30 requests left
    assert design.step(asked, pool, n_asked=50).reason == "budget"
    # nothing left to ask
    assert design.step(asked, pool.iloc[:0]).reason == "exhausted"
    # unparsed answers count as spent requests, not as ratings
    unparsed = asked.assign(rating=np.nan)
    step = design.step(unparsed, pool)
    assert step.posterior.n_ratings == 0 and len(step.batch) == 20
    # a replay to the target stops there, with the SDs at the target
    target = 0.9
    rep = replay(AdaptiveDesign(draws, batch_size=20, target_sd=target, budget=None), llm)
    assert rep.stopped == "target"
    assert (rep.batches.filter(like="sd_").iloc[-1] <= target).all()
    assert (rep.batches.filter(like="sd_").iloc[-2] > target).any()
    # precision: stop when every value's SD is within a ratio of what the full pool would give
    rep = replay(AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=None,
                                target_ratio=1.3), llm)
    assert rep.stopped == "precision" and 0 < len(rep.asked) < len(llm)
    step = AdaptiveDesign(draws, target_sd=None, budget=None).step(llm.iloc[:40], pool)
    assert (step.attainable_sd < step.posterior.sd).all()
    # one call through the front door's function
    assert next_items(draws, asked, pool, batch_size=10, budget=None).batch.shape == (10, 2)


def test_bad_options(draws) -> None:
    for options in ({"batch_size": 0}, {"target_sd": 0.0}, {"budget": -1},
                    {"variants_per_pick": 0}, {"criterion": "d-optimal"},
                    {"target_ratio": 0.9}):
        with pytest.raises(InputError):
            AdaptiveDesign(draws, **options)
    with pytest.raises(InputError, match="order"):
        replay(AdaptiveDesign(draws), pd.DataFrame(columns=["item_id", "variant", "rating"]),
               order="backwards")


def test_within_tolerance() -> None:
    rng = np.random.default_rng(0)
    full = rng.normal(0, 1, (4000, 2))
    close, narrow = within_tolerance(full + [0.1, 0.4], full)
    assert close.tolist() == [True, False] and narrow.all()
    close, narrow = within_tolerance(full * [1.2, 1.4], full)
    assert close.all() and narrow.tolist() == [True, False]


# -- vp-bayes rate --adaptive: kill and resume ------------------------------------------------
def _n_cached(cache_path: Path) -> int:
    if not cache_path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM answers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _base_file(sim, path: Path, name: str = "m") -> Path:
    """A base model's rating table: the first simulated LLM's ratings, named ``name``."""
    rows = sim.llm_ratings[sim.llm_ratings["respondent"] == sim.llm_ratings["respondent"].iloc[0]]
    rows = rows[["item_id", "variant", "rating"]].assign(respondent=name)
    rows[["respondent", "item_id", "variant", "rating"]].to_csv(path, index=False)
    return path


def test_base_prior_centres_a_persona_at_its_base_portrait(sim, draws) -> None:
    """With base ratings the design's prior is the base's Laplace portrait plus a persona
    shift of SD ``persona_sd`` per value (joint scoring's prior of a persona)."""
    first = sim.llm_ratings["respondent"].iloc[0]
    base = sim.llm_ratings[sim.llm_ratings["respondent"] == first][["item_id", "variant",
                                                                    "rating"]]
    plain = AdaptiveDesign(draws, target_sd=None)
    of_base = plain.posterior(base)
    persona = AdaptiveDesign(draws, target_sd=None, base_ratings=base, persona_sd=0.5)
    prior = persona.posterior(None)
    np.testing.assert_allclose(prior.mean, of_base.mean, atol=1e-6)
    np.testing.assert_allclose(prior.sd**2, of_base.sd**2 + 0.25, rtol=1e-6)
    population = plain.posterior(None).sd
    assert (prior.sd < population).all()
    # the same persona ratings: the base-centred posterior is narrower than the population's
    some = sim.llm_ratings[sim.llm_ratings["respondent"] == sim.llm_ratings["respondent"]
                           .iloc[-1]][["item_id", "variant", "rating"]].head(30)
    assert (persona.posterior(some).sd < plain.posterior(some).sd).all()
    persona.set_base(None)  # back to the population prior
    np.testing.assert_allclose(persona.posterior(None).sd, population, rtol=1e-9)
    with pytest.raises(InputError, match="positive"):
        AdaptiveDesign(draws, persona_sd=0.0)


def test_precision_rule_holds_its_promise_on_the_demo_personas() -> None:
    """The ratio rule stops when every value's SD is within 1.2x of what all requests would
    give: checked against the Laplace SD of all 480 ratings (computed, not predicted) on the
    demo wave's simulated personas, alone and designed from their base model. Before the
    fix of the item deviation's variance (capped at the prior's) the rule stopped
    ``gender=male`` after 40 requests with SDs 2-3x the full-data ones, and every persona
    designed from its base after 40-120 (its own ratings were not what the rule judged).
    Measured after the fix: stops after 220-260 requests with SD ratios 0.91-1.36 (the
    linearised prediction of the attainable SD is a little pessimistic), hence 1.4 here."""
    from types import SimpleNamespace

    from vp_bayes.wave.io import load_wave
    from vp_bayes.wave.ratings import read_llm_ratings
    from vp_bayes.wave.simulate import load_truth

    demo = REPO / "data" / "demo"
    sim = SimpleNamespace(truth=load_truth(demo / "truth.nc"), wave=load_wave(demo))
    draws = item_draws(_fake_model(sim), 20)
    ratings = read_llm_ratings(demo / "llm_ratings.csv")
    cols = ["item_id", "variant", "rating"]
    base = ratings.loc[ratings["respondent"] == "sim-llm-1", cols].reset_index(drop=True)
    for persona, with_base in (("gender=male", False), ("gender=female", True),
                               ("age=20-39", True)):
        frame = ratings.loc[ratings["respondent"] == f"sim-llm-1|{persona}", cols]
        frame = frame.reset_index(drop=True)
        design = AdaptiveDesign(draws, batch_size=20, target_sd=None, budget=None,
                                target_ratio=1.2,
                                base_ratings=base if with_base else None)
        rep = replay(design, frame)
        assert rep.stopped == "precision", (persona, rep.stopped)
        own = AdaptiveDesign(draws, target_sd=None)  # population prior: the persona's own SDs
        at_stop, full = own.posterior(rep.asked).sd, own.posterior(frame).sd
        assert (at_stop <= 1.4 * full).all(), (persona, len(rep.asked),
                                               (at_stop / full).round(2).to_dict())
        assert len(rep.asked) < len(frame)


@pytest.mark.parametrize("with_base", [False, True])
def test_rate_adaptive_sigkill_and_resume(sim, tmp_path: Path, with_base: bool) -> None:
    from vp_bayes.model.io import save_model
    from vp_bayes.wave.simulate import write_simulated

    wave = write_simulated(sim, tmp_path / "wave")
    save_model(_fake_model(sim), tmp_path / "model.nc", card=False)
    out = tmp_path / "ratings.csv"
    cache_path = tmp_path / "ratings.cache.sqlite"
    budget = 60
    with ScriptedServer(delay=0.1) as srv:
        args = [str(wave), "--backend", "openai", "--model", "m", "--out", str(out),
                "--base-url", srv.base_url, "--concurrency", "4", "--no-progress",
                "--adaptive", "--item-model", str(tmp_path / "model.nc"),
                "--target-sd", "0.01", "--target-ratio", "1", "--budget", str(budget),
                "--adaptive-batch", "12"]
        if with_base:  # a persona designed from its base model's ratings
            args += ["--persona", "You are a retired teacher.", "--base-ratings",
                     str(_base_file(sim, tmp_path / "base.csv"))]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
        proc = subprocess.Popen([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline and _n_cached(cache_path) < 20 and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        assert not out.exists()  # killed before writing the table
        with RatingCache(cache_path) as cache:
            before = {k: json.loads(r["request"])
                      for k, r in cache.get_many(cache.cached_keys()).items()}
        assert 20 <= len(before) < budget
        answered_before = sum(srv.answered.values())

        done = subprocess.run([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        assert f"{len(before)} cached" in done.stdout
        assert "budget spent" in done.stdout
        # a third run finds everything cached and sends nothing
        n_sent = sum(srv.attempts.values())
        again = subprocess.run([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                               capture_output=True, text=True, timeout=180)
        assert again.returncode == 0, again.stderr
        assert sum(srv.attempts.values()) == n_sent
        assert f"{budget} cached" in again.stdout
    ratings = pd.read_csv(out, dtype={"item_id": str})
    assert len(ratings) == budget and not ratings.duplicated(["item_id", "variant"]).any()
    assert ratings["item_id"].nunique() > budget // 2  # new items before repeats
    # nothing cached before the kill was asked again; at most the requests in flight (4)
    for spec in before.values():
        assert srv.answered[body_key("m", spec["messages"], spec["seed"])] == 1
    assert answered_before - len(before) <= 4
    assert budget <= sum(srv.answered.values()) <= budget + 4


def test_rate_adaptive_usage(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["1001_1"], "title": ["t"], "query": ["q"], "response": ["r"],
                  "source": [""]}).to_csv(items, index=False)
    base = [sys.executable, "-m", "vp_bayes", "rate", str(items), "--backend", "openai",
            "--model", "m", "--out", str(tmp_path / "r.csv"), "--base-url",
            "http://127.0.0.1:9/v1", "--no-progress"]
    other = tmp_path / "other.csv"
    pd.DataFrame({"respondent": ["x", "x"], "item_id": ["1001_1", "1001_1"],
                  "variant": ["v1", "v2"], "rating": [3, 4]}).to_csv(other, index=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("respondent,item_id,variant,rating\nm,1001_1,v1,3\nm,,v2,4\n")
    model = str(tmp_path / "m.nc")  # never read: the base ratings are checked first
    for extra, words in ((["--adaptive"], "--adaptive needs --item-model"),
                         (["--item-model", model], "only with --adaptive"),
                         (["--base-ratings", str(other)], "--base-ratings is used only with"),
                         (["--adaptive", "--item-model", model, "--base-ratings", str(other)],
                          "other.csv, row 1, field 'respondent': no rows of the base model 'm'"),
                         (["--adaptive", "--item-model", model, "--base-ratings", str(bad)],
                          "bad.csv, row 2, field 'item_id'"),
                         (["--adaptive", "--item-model", model, "--base-ratings",
                           str(tmp_path / "missing.csv")], "missing.csv")):
        res = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and words in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1


# -- real LLMs --------------------------------------------------------------------------------
@pytest.mark.slow
def test_replay_real_llms_reach_full_data_precision_with_fewer_requests() -> None:
    """Replaying three released LLMs (benchmarks/adaptive_replay.py's setting): the adaptive
    order reaches the full-data precision (every value's 90% interval at most 1.25x the
    full-data width, default scoring, k-hat <= 0.7) within a quarter of the requests, where a
    random order mostly has not; for deepseek-chat the full tolerance (every posterior mean
    within 0.25 human SD of the full-data mean as well) is met with fewer requests than the
    full data."""
    model_file, ratings_file = REPO / "models" / "valueportrait.nc", RELEASE / \
        "llm_ratings_27.csv"
    if not (model_file.is_file() and ratings_file.is_file()):
        pytest.skip("models/valueportrait.nc or the Value Portrait release not found")
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import respondent_data, score_respondent
    from vp_bayes.scoring.portraits import _seed_for
    from vp_bayes.wave.ratings import read_llm_ratings

    draws = item_draws(load_model(model_file), 200)
    ratings = read_llm_ratings(ratings_file)

    def theta(frame: pd.DataFrame, name: str) -> np.ndarray | None:
        data, _ = respondent_data(frame, draws)
        res = score_respondent(draws, data, rng=_seed_for(0, name))
        return None if res["pareto_k"] > 0.7 else res["theta"]

    grid = {*range(80, 801, 80), 960, 1120, 1280, 1600, 2000}
    random_behind = 0
    for name in ("gpt-4o-mini-2024-07-18", "claude-3-opus-20240229", "deepseek-chat"):
        frame = ratings[ratings["respondent"] == name][["item_id", "variant", "rating"]]
        full = theta(frame, name)
        assert full is not None
        reached: dict[str, dict[str, int]] = {"adaptive": {}, "random": {}}
        for order in ("adaptive", "random"):
            # all ten means within tolerance at once takes longer (1,600 requests for
            # deepseek-chat with the shipped 4 x (400 + 4000) model, 1,120 with the earlier fit)
            cap = (2000 if name == "deepseek-chat" else 1120) if order == "adaptive" else 800

            def check(asked: pd.DataFrame, order=order, name=name, full=full,
                      reached=reached) -> bool:
                if len(asked) not in grid:
                    return False
                th = theta(asked, name)
                if th is None:
                    return False
                close, narrow = within_tolerance(th, full)
                found = reached[order]
                if narrow.all():
                    found.setdefault("precision", len(asked))
                if (close & narrow).all():
                    found.setdefault("tolerance", len(asked))
                return "tolerance" in found

            replay(AdaptiveDesign(draws, batch_size=40, target_sd=None, budget=cap), frame,
                   order=order, seed=1, max_requests=cap, check=check)
        assert reached["adaptive"].get("precision", np.inf) <= 780, (name, reached)
        random_behind += reached["random"].get("precision", np.inf) > \
            reached["adaptive"]["precision"]
        if name == "deepseek-chat":
            assert reached["adaptive"].get("tolerance", np.inf) < 3120, reached
    assert random_behind >= 2

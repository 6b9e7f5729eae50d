"""Write the tutorial notebooks of ``notebooks/`` (run from anywhere; then execute them).

    python notebooks/_build.py
    for nb in notebooks/0*.ipynb; do jupyter nbconvert --to notebook --execute --inplace "$nb"; done

The notebooks are committed with their outputs; CI re-runs them with ``pytest --nbmake``.
Cells shared by several notebooks (locating the data, the small cached demo fit) are
defined once here so that every notebook runs on its own.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------
# shared cells
# --------------------------------------------------------------------------------------
SETUP = '''\
import warnings

# Quiet three harmless messages: PyTensor without BLAS (slower, not wrong), tqdm without
# ipywidgets, and ArviZ's R-hat of elements that are constant by construction (0/0).
warnings.filterwarnings("ignore", message=".*BLAS.*")
warnings.filterwarnings("ignore", message="IProgress not found")
warnings.filterwarnings("ignore", message="invalid value encountered in scalar divide",
                        category=RuntimeWarning, module="arviz_stats")

from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Image, display

from vp_bayes import dims
from vp_bayes.report.plots import figure_png

pd.set_option("display.width", 140, "display.max_columns", 20, "display.precision", 3)

# The repository root: this notebook runs from notebooks/ (nbmake, Jupyter) or the root.
ROOT = next(p.resolve() for p in (Path.cwd(), Path.cwd().parent)
            if (p / "data" / "demo" / "wave.json").is_file())
DEMO = ROOT / "data" / "demo"


def show(fig):
    """Display a pyplot-free matplotlib figure as a PNG."""
    display(Image(figure_png(fig, dpi=90)))
'''

DEMO_ROOT = '''ROOT = next(p.resolve() for p in (Path.cwd(), Path.cwd().parent)
            if (p / "data" / "demo" / "wave.json").is_file())
DEMO = ROOT / "data" / "demo"'''
assert DEMO_ROOT in SETUP

# notebook 4 needs the release, not the demo wave
REAL_ROOT = '''ROOT = next(p.resolve() for p in (Path.cwd(), Path.cwd().parent)
            if (p / "pyproject.toml").is_file() and (p / "vp_bayes").is_dir())
SHARED = ROOT.parent / "shared" / "valueportrait"  # ../../shared/valueportrait from notebooks/
HAVE_RELEASE = (SHARED / "release").is_dir()
if not HAVE_RELEASE:
    print(f"The Value Portrait release is not at {SHARED}: the cells below do nothing. "
          "Download holi-lab/ValuePortrait there to run this notebook.")'''

DEMO_FIT_MD = '''\
### A small, cached fit

Fitting the whole demo wave (300 participants) with the defaults, **4 chains x (400 tuning
+ 1000 draws)**, takes several minutes; real work uses those defaults (`SamplerConfig()`).
To keep this tutorial at about a minute, we fit the **first {n} participants** (all 80
items, about {per_item} ratings per item) with **2 chains x ({d} + {d})**. Short chains give
noisier intervals and R-hat above the strict 1.01 bar; the diagnostics below say so.

`fit_demo` saves the fit in the system temp folder, keyed by the data, the settings and the
model code, and the other notebooks reuse it when it is there (the sampler is seeded; the
saved draws are float32).
'''

DEMO_FIT = '''\
import hashlib
import os
import tempfile
import time
from dataclasses import replace

import vp_bayes
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import fit_wave
from vp_bayes.model.io import load_model, save_model
from vp_bayes.wave.io import load_wave

N_PARTICIPANTS = {n}
MODEL_CONFIG = ModelConfig()
SAMPLER = SamplerConfig(draws={d}, tune={d}, chains=2, seed=2026)


def first_participants(wave, n):
    """The wave restricted to its first ``n`` participants (and their answers and ratings)."""
    keep = wave.participants.index[:n]
    ratings = wave.ratings[wave.ratings["participant_id"].isin(keep)].reset_index(drop=True)
    answers = None if wave.answers is None else wave.answers.loc[keep]
    values = None if wave.values is None else wave.values.loc[keep]
    return replace(wave, participants=wave.participants.loc[keep], ratings=ratings,
                   answers=answers, values=values)


def fit_demo(wave):
    """Fit ``wave`` with the settings above, or reuse the saved fit of the same inputs."""
    code = b"".join(p.read_bytes() for p in
                    sorted((Path(vp_bayes.__file__).parent / "model").glob("*.py")))
    key = hashlib.sha256("|".join([wave.data_hash(), repr(MODEL_CONFIG), repr(SAMPLER),
                                   vp_bayes.__version__]).encode() + code).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "vp_bayes_notebooks" / f"demo_fit_{{key}}.nc"
    if path.is_file():
        print(f"reusing the saved fit {{path}}")
        return load_model(path, wave)
    start = time.perf_counter()
    model = fit_wave(wave, MODEL_CONFIG, SAMPLER, progress=False, ppc_draws=100)
    print(f"fitted in {{time.perf_counter() - start:.0f}} s "
          f"(sampling {{model.fit_seconds:.0f}} s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{{os.getpid()}}.tmp")
    save_model(model, tmp, card=False)
    os.replace(tmp, path)  # atomic: a notebook running beside this one never sees half a file
    return model


wave = first_participants(load_wave(DEMO), N_PARTICIPANTS)
model = fit_demo(wave)
'''

N_PARTICIPANTS = 120
DRAWS = 200


def demo_fit_cells() -> list:
    """Markdown + code of the shared small demo fit."""
    per_item = N_PARTICIPANTS * 40 // 80
    return [new_markdown_cell(DEMO_FIT_MD.format(n=N_PARTICIPANTS, d=DRAWS, per_item=per_item)),
            new_code_cell(DEMO_FIT.format(n=N_PARTICIPANTS, d=DRAWS))]


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------------------
# 01 fit a survey wave
# --------------------------------------------------------------------------------------
def nb01() -> list:
    return [
        md('''
# 1. Fit a survey wave

A **wave** is one survey: participants (with demographics), items (query-response pairs
rated "How similar is this response to your own thoughts?" on 1..6), their ratings, and a
value questionnaire (raw PVQ-RR answers here). `vp_bayes` fits a hierarchical ordinal item
model to it: each item's loadings on the ten Schwartz values (`beta`), its location (`b`),
shared cutpoints (`kappa`), every participant's latent values (`theta`) measured through the
questionnaire, a response style (`alpha`) and demographic group effects.

We use the simulated demo wave `data/demo` (seed 2026; see `data/README.md`), whose
generating parameters are stored in `truth.nc`, so every estimate can be checked.
'''),
        code(SETUP),
        md('''
## Load and validate

`load_wave` validates every table (ids, ratings on the declared scale, answers on the
instrument scale, a questionnaire row for every participant) and raises an `InputError`
naming the file, row and field of the first problem. `summarize_wave` is what
`vp-bayes validate data/demo` prints.
'''),
        code('''
from vp_bayes.wave.io import load_wave, summarize_wave

full = load_wave(DEMO)
summary = summarize_wave(full)
print("wave:", summary["name"], "| values from:", summary["value_source"])
display(summary["counts"])
display(summary["rating_distribution"])
print("ratings per item (min, median, max):", summary["ratings_per_item"])
print("demographic columns:", list(full.participants.columns))
'''),
        *demo_fit_cells(),
        md('''
## Convergence

One row per posterior variable: the worst R-hat and the smallest bulk/tail effective sample
size over its elements. `convergence_problems` turns them into plain-word warnings
(R-hat > 1.01, divergences, low E-BFMI, bulk or tail ESS < 400; the thresholds live in
`vp_bayes.model.diagnostics`). With these
short chains, expect warnings: they are the honest price of a one-minute tutorial.
'''),
        code('''
from vp_bayes.model.diagnostics import convergence_problems, ppc_summary, sampler_summary

display(model.diagnostics.round(3))
print(sampler_summary(model.idata))
for problem in convergence_problems(model):
    print("WARNING:", problem)
'''),
        md('''
## Posterior predictive check

For 100 posterior draws, every observed (participant, item) rating is replicated and each
item's distribution over the six categories recomputed. `share_outside` is the share of an
item's six observed category proportions outside the 90% replicated interval; about 10% or
less is what a well-fitting model gives.
'''),
        code('''
ppc = ppc_summary(model)
print(f"categories outside their 90% interval: {ppc['share_outside'].mean():.1%} "
      f"over {len(ppc)} items")
display(ppc.sort_values("share_outside", ascending=False).head(5))

from vp_bayes.report.plots import ppc_figure

ppc_table = model.idata["ppc"].to_dataset().to_dataframe().reset_index()
show(ppc_figure(ppc_table, mass=0.9))
'''),
        md('''
## Loadings against the truth

The simulator gave each item one or two non-zero loadings (magnitude 0.5..1.3, mostly
positive) and exact zeros elsewhere. We compare the posterior means and 90% intervals of
`beta (item, value)` with the true loadings.

Read these numbers as what a *small* fit gives: with about 60 ratings per item and short
chains, the hierarchical prior pulls the non-zero loadings toward zero, so many of their
intervals miss the truth. The recovery test (`tests/test_model_recovery.py`: 400
participants, 2 x (500 + 500)) requires 85-95% coverage and a correlation of at least 0.9.
'''),
        code('''
from vp_bayes.wave.simulate import load_truth

truth = load_truth(DEMO / "truth.nc")
true_beta = truth["beta"].sel({dims.ITEM: list(model.items)}).transpose(dims.ITEM, dims.VALUE)
beta = model.posterior["beta"].stack(sample=("chain", "draw")).transpose(dims.ITEM, dims.VALUE,
                                                                           "sample")
mean = beta.mean("sample")
lower, upper = beta.quantile(0.05, "sample"), beta.quantile(0.95, "sample")
inside = (lower <= true_beta) & (true_beta <= upper)
nonzero = true_beta != 0
print(f"90% intervals containing the true loading: {float(inside.mean()):.1%} of "
      f"{inside.size} (item, value) pairs; {float(inside.where(nonzero).mean()):.1%} of the "
      f"{int(nonzero.sum())} non-zero ones")
r = np.corrcoef(mean.values[nonzero.values], true_beta.values[nonzero.values])[0, 1]
print(f"correlation of posterior means with the non-zero true loadings: {r:.3f}")
print(f"mean |posterior mean| where the truth is 0: {float(abs(mean).where(~nonzero).mean()):.3f}")

from vp_bayes.report.plots import new_figure

fig = new_figure(4.5, 4)
ax = fig.add_subplot()
ax.errorbar(true_beta.values.ravel(), mean.values.ravel(),
            yerr=[(mean - lower).values.ravel(), (upper - mean).values.ravel()],
            fmt="o", ms=2, alpha=0.4, elinewidth=0.5)
ax.axline((0, 0), slope=1, color="grey", lw=0.8)
ax.set(xlabel="true loading", ylabel="posterior mean (90% interval)",
       title="Item loadings: posterior vs truth (90% intervals)")
show(fig)
'''),
        md('''
## Posterior selection vs the paper's correlation rule

Value Portrait tags an item for a value when the Spearman correlation between the item's
ratings and the raters' value scores exceeds 0.3 with p < 0.05. The posterior rule tags an
item when its loading exceeds a practical 0.2 with probability at least 0.9. Both are
compared with the simulator's truth (a true tag = a true loading above 0.2).
'''),
        code('''
from vp_bayes.selection.bayes import agreement_counts, compare_selection, posterior_selection
from vp_bayes.selection.correlation import item_trait_correlations, wave_traits

tags = item_trait_correlations(wave.ratings, wave_traits(wave, "values"))
comparison = compare_selection(posterior_selection(model), tags)
display(agreement_counts(comparison))

truth_table = true_beta.to_series().rename("true_loading").reset_index()
truth_table.columns = ["item_id", "value", "true_loading"]
comparison = comparison.merge(truth_table, on=["item_id", "value"])
comparison["truly_tagged"] = comparison["true_loading"] > 0.2
rows = []
for rule, col in (("correlation (rho > 0.3, p < 0.05)", "spearman_tagged"),
                  ("posterior (P(beta > 0.2) >= 0.9)", "posterior_tagged")):
    picked = comparison[col]
    hits = int((picked & comparison["truly_tagged"]).sum())
    rows.append({"rule": rule, "tags": int(picked.sum()), "true tags found": hits,
                 "false tags": int(picked.sum()) - hits,
                 "true tags missed": int(comparison["truly_tagged"].sum()) - hits})
display(pd.DataFrame(rows).set_index("rule"))
'''),
        md('''
## Next

`save_model(model, "demo_model.nc")` writes the posterior (netCDF) with a model card;
`vp-bayes fit data/demo --out demo_model.nc` does all of the above from the shell with the
default 4 x (400 + 1000) draws. Notebook 2 scores LLMs through this posterior.
'''),
    ]


# --------------------------------------------------------------------------------------
# 02 score an LLM
# --------------------------------------------------------------------------------------
def nb02() -> list:
    return [
        md('''
# 2. Score an LLM with uncertainty

An LLM answers the same items as the humans (under six prompt variants). Its **value
portrait** is the posterior of its latent values given its ratings, with each item's
parameters integrated over their posterior from the human fit (never updated by the LLM's
ratings: an LLM must not change what the items mean), its own noise (a deviation per item
shared by the variants, a rating-noise scale) and a prior twice as wide as the human
population. A model's personas are scored jointly with it (model + shift). Values are in
human population SD units (0 = the average participant). Each respondent also gets
posterior predictive person-fit p-values, reliability and prior sensitivity
(`docs/scoring.md`).

The demo wave holds three simulated LLMs `sim-llm-1..3` with known true values.
'''),
        code(SETUP),
        *demo_fit_cells(),
        md('''
## Score the LLM rating table

`read_llm_ratings` validates the long table `respondent,item_id,variant,rating`;
`score` returns `Portraits` with the draws (`.draws`, xarray) and a tidy table (`.table`).
Every variant of every item is an observation. The table also holds personas of
`sim-llm-1` (notebook 3); here we look at the three plain models.
'''),
        code('''
from vp_bayes.scoring import score
from vp_bayes.wave.ratings import read_llm_ratings

ratings = read_llm_ratings(DEMO / "llm_ratings.csv")
print(ratings.groupby("respondent").size().rename("rows").to_string())
portraits = score(model, ratings, progress=False)
for note in portraits.notes:
    print("note:", note)
table = portraits.table
plain = table[table["persona"] == ""]
display(plain[["respondent", "value", "mean", "lower", "upper", "centered_mean", "percentile",
               "reliability", "prior_sensitivity", "n_ratings", "pareto_k"]].head(10))
display(plain.drop_duplicates("respondent")[["respondent", "tau", "sigma", "ppp_agreement",
                                              "ppp_distribution", "ppp_fit", "misfit"]])
print("intervals are equal-tailed with mass", plain["mass"].iloc[0])
'''),
        md('''
## Against the true values

The simulator drew each LLM's values `llm_theta` from the human population's distribution.
A calibrated 90% interval contains the truth about 90% of the time; with 30 (model, value)
pairs, anything from about 80% to 100% is consistent with that.
'''),
        code('''
from vp_bayes.wave.simulate import load_truth

truth = load_truth(DEMO / "truth.nc")
true_theta = (truth["llm_theta"].to_series().rename("true").reset_index()
              .rename(columns={dims.RESPONDENT: "respondent", dims.VALUE: "value"}))
check = plain.merge(true_theta, on=["respondent", "value"])
check["inside"] = (check["lower"] <= check["true"]) & (check["true"] <= check["upper"])
print(f"90% intervals containing the true value: {check['inside'].mean():.0%} "
      f"({int(check['inside'].sum())} of {len(check)})")
print(f"correlation of posterior means with the truth: "
      f"{np.corrcoef(check['mean'], check['true'])[0, 1]:.3f}")
display(pd.concat({"true value": check.pivot(index="value", columns="respondent", values="true"),
                   "posterior mean": check.pivot(index="value", columns="respondent",
                                                 values="mean")}, axis=1).round(2))
'''),
        md('''
## Plots

A forest plot (one row per value, circular Schwartz order) and a circular plot of one
model, then the three models side by side on the centred scale (each value minus the
model's own mean value, draw by draw: the Bayesian counterpart of the paper's centred
score).
'''),
        code('''
from vp_bayes.report.plots import compare_forest, portrait_forest, portrait_polar

show(portrait_forest(table, "sim-llm-1"))
show(portrait_polar(table, "sim-llm-1"))
show(compare_forest(table, ["sim-llm-1", "sim-llm-2", "sim-llm-3"], scale="centered"))
'''),
        md('''
## From the shell

```bash
vp-bayes fit data/demo --out demo_model.nc          # defaults: 4 x (400 + 1000)
vp-bayes score demo_model.nc data/demo/llm_ratings.csv --out portraits.csv
```

`save_portraits(portraits, "portraits.csv")` writes the table and the draws
(`portraits.nc`) that notebook 3 and `vp-bayes contrast` use.
'''),
    ]


# --------------------------------------------------------------------------------------
# 03 demographic contrasts
# --------------------------------------------------------------------------------------
def nb03() -> list:
    return [
        md('''
# 3. Demographic contrasts: humans, personas and bias

Three questions, each answered with posterior draws and 90% intervals:

1. **Humans**: how do demographic groups differ in their values (`male - female`,
   `60-79 - 20-39`, ...)? From the group effects of the item model.
2. **Personas**: how does an LLM's portrait differ when prompted as a member of a group
   (`sim-llm-1|gender=male - sim-llm-1|gender=female`)?
3. **Bias**: persona contrast minus human contrast. Does the LLM exaggerate, shrink or
   reverse the real difference?

In the demo wave the simulator built each persona as the base model plus the true group
effect plus a *distortion*, so the true bias is the difference of distortions.
'''),
        code(SETUP),
        *demo_fit_cells(),
        code('''
from vp_bayes.scoring import score
from vp_bayes.wave.ratings import read_llm_ratings
from vp_bayes.wave.simulate import load_truth

portraits = score(model, read_llm_ratings(DEMO / "llm_ratings.csv"), progress=False)
truth = load_truth(DEMO / "truth.nc")
print("respondents:", ", ".join(portraits.draws[dims.RESPONDENT].values))


def true_pairs(name):
    """Later-minus-earlier group differences of a truth variable ``name[_axis]`` per value."""
    rows = []
    for axis in ("gender", "age"):
        da = truth[f"{name}_{axis}"]
        groups = sorted(da[da.dims[0]].values.tolist())
        for i, b in enumerate(groups):
            for a in groups[i + 1:]:
                diff = da.sel({da.dims[0]: a}) - da.sel({da.dims[0]: b})
                rows += [{"axis": axis, "group_a": a, "group_b": b, "value": v,
                          "truth": float(diff.sel({dims.VALUE: v}))} for v in dims.VALUES_10]
    return pd.DataFrame(rows)


def coverage(table, truth_table):
    """Join a contrast table with the truth; print how many intervals contain it."""
    joined = table.merge(truth_table, on=["axis", "group_a", "group_b", "value"])
    joined["inside"] = joined["lower"].le(joined["truth"]) & joined["truth"].le(joined["upper"])
    r = np.corrcoef(joined["mean"], joined["truth"])[0, 1]
    print(f"{joined['inside'].mean():.0%} of {len(joined)} 90% intervals contain the truth; "
          f"correlation of means with the truth {r:.2f}")
    return joined
'''),
        md(f'''
## 1. Human group contrasts

The true group effects are known (`effect_gender`, `effect_age` in `truth.nc`). The
{N_PARTICIPANTS} participants are split over two genders and three age bands, so each group
holds only 40 to 60 people and the intervals are correspondingly wide.
'''),
        code('''
from vp_bayes.contrasts import human_contrasts

human = human_contrasts(model, axes=["gender", "age"])
checked = coverage(human, true_pairs("effect"))
display(checked[checked["axis"] == "gender"][["group_a", "group_b", "value", "mean", "lower",
                                              "upper", "prob_positive", "truth", "inside"]])
'''),
        md('''
## 2. Persona contrasts

The persona pairs of `sim-llm-1`. The true persona contrast is the effect difference plus
the distortion difference.
'''),
        code('''
from vp_bayes.contrasts import persona_contrasts

persona = persona_contrasts(portraits)
true_persona = true_pairs("effect").merge(true_pairs("persona_distortion"),
                                          on=["axis", "group_a", "group_b", "value"])
true_persona["truth"] = true_persona.pop("truth_x") + true_persona.pop("truth_y")
checked = coverage(persona, true_persona)
display(checked.head(10)[["model", "axis", "group_a", "group_b", "value", "mean", "lower",
                          "upper", "truth", "inside"]])
'''),
        md('''
## 3. Bias and the credible summary

`bias_contrasts` resamples the two independent posteriors (human fit, LLM scoring) to a
common number of draws with a fixed seed and subtracts them draw by draw, so both
uncertainties propagate. `credible_summary` keeps the biases whose 90% interval excludes 0.
The true bias is the difference of the persona distortions.
'''),
        code('''
from vp_bayes.contrasts import bias_contrasts, credible_summary

bias = bias_contrasts(model, portraits, axes=["gender", "age"])
checked = coverage(bias, true_pairs("persona_distortion"))
credible = credible_summary(bias)
print(f"{len(credible)} of {len(bias)} biases are credible at 90%")
display(credible.merge(true_pairs("persona_distortion"),
                       on=["axis", "group_a", "group_b", "value"]))
'''),
        md('''
## The contrast plot

Human (blue), persona (orange) and bias (red) intervals per value, one panel per pair.
'''),
        code('''
from vp_bayes.report.contrast_plots import plot_contrasts

fig = plot_contrasts(pd.concat([human, persona, bias], ignore_index=True), max_panels=4)
show(fig)
'''),
        md('''
The command line does the same from saved files:
`vp-bayes contrast demo_model.nc portraits.nc --out contrasts.csv --plot contrasts.png`.
For waves without demographics (the real Value Portrait release) the human side comes from a
published table (`--reference ../shared/valueportrait/ess_group_differences.csv`), see
`docs/contrasts.md`.
'''),
    ]


# --------------------------------------------------------------------------------------
# 04 the real release
# --------------------------------------------------------------------------------------
def nb04() -> list:
    return [
        md('''
# 4. Value Portrait on the real release

The Value Portrait release (Han et al., ACL 2025; MIT) is read from
`../shared/valueportrait/` beside the repository; it is not part of the repository. If it is
absent this notebook says so and skips everything (no error).

We reproduce the paper's item tags and the classic scores of 27 LLMs, then put the same
LLMs through a Bayesian item model fitted to the 559 human raters.
'''),
        code(SETUP.replace(DEMO_ROOT, REAL_ROOT)),
        md('''
## Import the release as a wave

559 raters, 520 items (query-response pairs), 24,320 ratings; the raters' 10 PVQ-21 values
(MRAT-centred), Big Five and higher-order values. No demographics are released.
'''),
        code('''
if HAVE_RELEASE:
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    real = read_valueportrait(SHARED / "release")
    print(f"{len(real.participants)} participants, {len(real.items)} items, "
          f"{len(real.ratings)} ratings; value columns: {list(real.values.columns[:10])}")
'''),
        md('''
## The paper's tags

The published Spearman table with the paper's rule (rho > 0.3, p < 0.05) gives 284 tags on
221 items. With about 47 raters per item, roughly 106 of those are expected by chance
(`docs/reproduction.md`).
'''),
        code('''
if HAVE_RELEASE:
    from vp_bayes.selection.correlation import published_correlations, tag_counts

    published = published_correlations(SHARED / "release")
    tags = published[published["tagged"]]
    print(f"{len(tags)} tags on {tags['item_id'].nunique()} items")
    display(tag_counts(published, dims.VALUES_10).to_frame().T)
'''),
        md('''
## Classic scores of 27 LLMs

The paper's score: an item's rating is the mean over its valid prompt variants; a value's
score is the mean over its tagged items, centred by the mean over all tagged items. We
recompute it from `llm_ratings_27.csv` and compare with `paper_scores_27.csv`
(llama-3.1-8b-instruct differs in one Self_Direction item, see `docs/reproduction.md`).
'''),
        code('''
if HAVE_RELEASE:
    from vp_bayes.classic import classic_scores
    from vp_bayes.wave.ratings import read_llm_ratings

    llm = read_llm_ratings(SHARED / "llm_ratings_27.csv")
    classic = classic_scores(published, llm)
    paper = pd.read_csv(SHARED / "paper_scores_27.csv")
    paper["value"] = paper["value"].map(dims.canonical_trait)
    both = classic.merge(paper, on=["respondent", "value"])
    both["deviation"] = (both["centered_score"] - both["centered_mean"]).abs()
    worst = both.groupby("respondent")["deviation"].max().sort_values(ascending=False)
    print(f"{both['respondent'].nunique()} models x {both['value'].nunique()} values; "
          f"max |ours - paper| of the centred score: {worst.iloc[0]:.2g} ({worst.index[0]}), "
          f"next largest {worst.iloc[1]:.2g}")
    display(classic.pivot(index="respondent", columns="value", values="centered_score")
            [list(dims.VALUES_10)].head(8).round(2))
'''),
        md(REAL_FIT_MD),
        code(REAL_FIT),
        md('''
## Classic vs posterior centred scores

The posterior centred mean of each value (the value minus the model's mean over the ten
values, draw by draw) with its 90% interval, next to the classic centred score, for a few
models. The two are on different scales (latent population SDs vs rating points), so we
compare orderings: the Spearman rank correlation over the 27 models, per value.
'''),
        code('''
if HAVE_RELEASE:
    from scipy.stats import spearmanr

    from vp_bayes.scoring import score

    portraits = score(real_model, llm, progress=False)
    for note in portraits.notes:
        print("note:", note)
    post = portraits.table
    print("person fit of the released LLMs (posterior predictive p-values; misfit: any < 0.01)")
    display(post.drop_duplicates("respondent").set_index("respondent")[
        ["tau", "sigma", "ppp_agreement", "ppp_distribution", "ppp_fit", "misfit"]].round(2))
    side = post.merge(classic, on=["respondent", "value"])
    few = sorted(side["respondent"].unique())[:3]
    display(side[side["respondent"].isin(few)]
            .set_index(["respondent", "value"])[["centered_score", "centered_mean",
                                                 "centered_lower", "centered_upper"]])
    rho = {v: spearmanr(g["centered_score"], g["centered_mean"]).statistic
           for v, g in side.groupby("value")}
    display(pd.Series(rho, name="spearman_rho").reindex(list(dims.VALUES_10)).to_frame().T
            .round(2))
'''),
        code('''
if HAVE_RELEASE:
    from vp_bayes.report.plots import compare_forest

    show(compare_forest(post, few, scale="centered"))
'''),
        md(REPORT_MD),
        code(REPORT),
        md(EXPLAIN_MD),
        code(EXPLAIN),
        md(EXPLAIN_TAGGED_MD),
        code(EXPLAIN_TAGGED),
        md(EXPLAIN_END_MD),
        md('''
**What the small settings mean.** The intervals above come from a short fit (or from the
saved full fit in `models/valueportrait.nc` when the repository has one; the output of the
fitting cell says which). A short fit's intervals are noisier and its R-hat above the 1.01
bar; use `vp-bayes fit` with the defaults (2 x (400 + 2000), about eight minutes on two
cores for the real wave) and `benchmarks/score_real.py` for numbers to report.
'''),
    ]


REPORT_MD = '''\
## The report: summary and leaderboard

`vp-bayes report models/valueportrait.nc --portraits portraits.csv --out report/` (or
`vb.report`) writes one self-contained page: a summary first (what was scored, through which
model, whether the fit converged and whether each LLM fits the item model), a sortable
leaderboard of all LLMs x values with intervals, each value's ranking with posterior rank
intervals, P(a > b) for every pair, each LLM against the fitted participants, and the paper's
findings retested. Here: the leaderboard's top three per value (from
`vb.compare_models`, the numbers the page shows) and the page's summary section.
'''

REPORT = '''\
if HAVE_RELEASE:
    import tempfile

    from IPython.display import HTML

    from vp_bayes.contrasts.models import compare_models
    from vp_bayes.report.html import write_report

    comparison = compare_models(portraits)
    display(comparison.summary().query("position <= 3").set_index(["value", "position"])
            .drop(columns="misfit").round(2))
    index = write_report(Path(tempfile.mkdtemp()) / "report", item_model=real_model,
                         portraits=portraits, title="27 released LLMs")
    page = index.read_text()
    print(f"{index.name}: {index.stat().st_size / 1e6:.2f} MB, self-contained")
    display(HTML(page.split('<section id="summary">')[1].split("</section>")[0]))
'''

EXPLAIN_MD = '''\
## Why the portraits and the paper disagree: an explained comparison

Averaged over the 27 LLMs, the paper puts benevolence, security, self-direction and
universalism on top; the posterior portraits do not. Three readings of the same ratings,
per value (mean over the LLMs of the centred value):

* **paper**: the published centred score (mean raw rating of the value's tagged items);
* **human-relative classic**: the same score computed on each LLM rating minus the humans'
  mean rating of that item (an item everyone endorses says little about the LLM);
* **portrait**: the posterior centred mean of the Bayesian model (all 520 items, each
  weighted by its loadings on all ten values at once);
* **linear reading**: the least-squares regression of each LLM's human-relative ratings on
  the items' posterior-mean loadings, centred like the portraits: a transparent first-order
  version of what the portrait does.
'''

EXPLAIN = '''\
if HAVE_RELEASE:
    human_mean = real.ratings.groupby("item_id")["rating"].mean()
    rel = llm.assign(rating=llm["rating"] - llm["item_id"].astype(str).map(human_mean))
    human_relative = classic_scores(published, rel)
    loads = (real_model.posterior["beta"].mean((dims.CHAIN, dims.DRAW)).to_pandas()
             [list(dims.VALUES_10)])
    resid = (rel.groupby(["respondent", "item_id"])["rating"].mean().unstack()
             .reindex(columns=loads.index).fillna(0.0))
    m = loads.to_numpy()
    linear = pd.DataFrame(resid.to_numpy() @ m @ np.linalg.pinv(m.T @ m),
                          index=resid.index, columns=loads.columns)
    linear = linear.sub(linear.mean(axis=1), axis=0)

    def value_means(table, column):
        return table.groupby("value")[column].mean().reindex(list(dims.VALUES_10))

    explained = pd.DataFrame({
        "paper": value_means(paper, "centered_mean"),
        "human_relative_classic": value_means(human_relative, "centered_score"),
        "portrait": value_means(post, "centered_mean"),
        "linear_reading": linear.mean().reindex(list(dims.VALUES_10)),
    })
    display(explained.round(2))
    print("Spearman over the ten values, with the paper:",
          {c: round(float(spearmanr(explained[c], explained["paper"]).statistic), 2)
           for c in explained.columns})
    print("with the portrait:", {c: round(float(spearmanr(explained[c], explained["portrait"])
                                                .statistic), 2) for c in explained.columns})

    tagged_of = published.pivot(index="item_id", columns="value", values="tagged")
    tagged_of = tagged_of.reindex(loads.index).fillna(False).astype(bool)
    why = pd.DataFrame({
        "tagged_items": tagged_of.sum(),
        "mean_loading_of_tagged": [loads.loc[tagged_of[v], v].mean() for v in loads.columns],
        "llm_minus_humans_on_tagged": [resid.loc[:, tagged_of[v]].mean(axis=1).mean()
                                       for v in loads.columns],
        "llm_minus_humans_loading_weighted": [
            (resid.to_numpy() @ loads[v].to_numpy()).mean() / loads[v].abs().sum()
            for v in loads.columns],
    }, index=loads.columns)
    display(why.round(3))
'''

EXPLAIN_TAGGED_MD = '''\
If the portrait differs from the paper because it reads all 520 items instead of each
value's few tagged items, scoring the same LLMs on the tagged items only should move it
toward the paper. (The other scoring settings, refitted item models and their figures are in
`benchmarks/score_real_compare.py` and `docs/scoring.md`.)
'''

EXPLAIN_TAGGED = '''\
if HAVE_RELEASE:
    on_tags = llm[llm["item_id"].astype(str).isin(set(tags["item_id"].astype(str)))]
    tagged_only = score(real_model, on_tags, progress=False, person_fit=False)
    explained["portrait_tagged_items_only"] = value_means(tagged_only.table, "centered_mean")
    display(explained.round(2))
    print("Spearman with the paper:", round(float(spearmanr(
        explained["portrait_tagged_items_only"], explained["paper"]).statistic), 2),
          "| with the full portrait:", round(float(spearmanr(
        explained["portrait_tagged_items_only"], explained["portrait"]).statistic), 2))
'''

EXPLAIN_END_MD = '''\
**What the evidence says** (with the saved full fit; `docs/scoring.md` keeps the measured
tables, other scoring settings and two refitted item models). Half of the disagreement is the
reference point: relative to the humans' mean rating of each item, the LLMs' security and
self-direction ratings are not high (the human-relative classic column). The rest is how
items are weighed: the tags and the item model mostly agree on the items (tagged items load
positively on their value on average, though self-direction's barely: look at
`mean_loading_of_tagged`), but the paper averages a value's tagged items while the portrait
weighs every rating by the item's partial loadings on all ten values at once. The linear
reading, which does only that, follows the portrait and not the paper; scoring on the tagged
items alone stays close to the portrait's ordering and no closer to the paper, so it is the
joint attribution of the same
ratings among correlated values, not the untagged items. For benevolence the LLMs rate the
tagged items above the humans, but weighted by the benevolence loadings over all items they
rate below. Whether those partial loadings, estimated from about 47 ratings per item, are
signal enough to overrule tag membership is a question about the item model, not settled
here; the portraits carry their uncertainty and the misfit warnings.
'''


REAL_FIT_MD = '''\
## A Bayesian item model of the real wave

The full fit (520 items, 4 chains x (400 + 4000), `models/valueportrait.md` says how long)
takes about 45 minutes on two cores. If the
repository holds one (`models/valueportrait.nc`) we load it; otherwise we fit a **small
model here: only the {n_items} items with at least one published tag, 2 chains x
({d} + {d})**, which is enough to show the workflow but not to report numbers. The raters'
released PVQ-21 values are MRAT-centred (they sum to zero per person), so the default
`value_input="auto"` treats them as measured with error in the 9-dimensional subspace they
span (regression calibration, reliability 0.6: `docs/model.md`) and projects the one
direction they cannot inform out of the loadings; the cell prints the mode it used.
'''

REAL_ITEMS = 221
REAL_DRAWS = 100
REAL_FIT_MD = REAL_FIT_MD.format(n_items=REAL_ITEMS, d=REAL_DRAWS)

REAL_FIT = '''\
if HAVE_RELEASE:
    import time
    from dataclasses import replace

    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.diagnostics import convergence_problems
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.model.io import load_model

    saved = ROOT / "models" / "valueportrait.nc"
    if saved.is_file():
        real_model = load_model(saved, real)
        print(f"loaded {saved.relative_to(ROOT)}: {real_model.sampler_config}")
    else:
        tagged = sorted(tags["item_id"].unique())
        small = replace(real, items=real.items.loc[tagged],
                        ratings=real.ratings[real.ratings["item_id"].isin(tagged)]
                        .reset_index(drop=True))
        start = time.perf_counter()
        real_model = fit_wave(small, ModelConfig(),
                              SamplerConfig(draws=__DRAWS__, tune=__DRAWS__, chains=2, seed=2026),
                              progress=False, ppc_draws=50)
        print(f"small fit: {len(tagged)} items, {len(small.ratings)} ratings, "
              f"2 x (__DRAWS__ + __DRAWS__) draws, {time.perf_counter() - start:.0f} s")
    print("participants' values entered as:", real_model.idata.attrs["value_input"])
    for problem in convergence_problems(real_model):
        print("WARNING:", problem)
'''.replace("__DRAWS__", str(REAL_DRAWS))


NOTEBOOKS = {
    "01_fit_a_survey_wave.ipynb": nb01,
    "02_score_an_llm.ipynb": nb02,
    "03_demographic_contrasts.ipynb": nb03,
    "04_value_portrait_real_release.ipynb": nb04,
}


def main() -> None:
    for name, build in NOTEBOOKS.items():
        nb = new_notebook(cells=build())
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        nb.metadata["execution"] = {"timeout": 900}  # nbmake's per-cell limit (default 300 s)
        path = HERE / name
        old = nbformat.read(path, as_version=4) if path.is_file() else None
        if old is not None and [c.source for c in old.cells] == [c.source for c in nb.cells]:
            if all(old.metadata.get(k) == nb.metadata[k] for k in ("kernelspec", "execution")):
                continue  # unchanged: keep the executed outputs
            old.metadata.update(nb.metadata)  # same cells: keep the outputs, new metadata
            nb = old
        nbformat.write(nb, path)
        print("wrote", path)


if __name__ == "__main__":
    main()

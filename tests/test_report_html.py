"""The HTML report: sections, embedded and written figures, warnings, CLI, headless Chromium."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import headless
import numpy as np
import pandas as pd
import pytest
import report_fakes as fake
import xarray as xr

from vp_bayes import dims
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.diagnostics import convergence_problems
from vp_bayes.model.fit import ItemModel
from vp_bayes.model.io import write_model_card
from vp_bayes.report.html import SECTION_TITLES, SECTIONS, write_report

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = headless.CHROMIUM


def _hand_model(divergences: int = 12) -> ItemModel:
    """A hand-made fitted-model container: its diagnostics are given, not computed."""
    rng = np.random.default_rng(0)
    items = [f"item{j:02d}" for j in range(6)]
    post = xr.Dataset(
        {"beta": (("chain", "draw", dims.ITEM, dims.VALUE),
                  rng.normal(size=(2, 50, 6, 10)))},
        coords={dims.ITEM: items, dims.VALUE: list(dims.VALUES_10)})
    diverging = np.zeros((2, 50), dtype=bool)
    diverging.flat[:divergences] = True
    stats = xr.Dataset({"diverging": (("chain", "draw"), diverging),
                        "energy": (("chain", "draw"), rng.normal(size=(2, 50)))})
    table = fake.ppc(n_items=6)
    obs = table.pivot(index="item", columns="category", values="observed")
    ppc = xr.Dataset({
        name: ((dims.ITEM, dims.CATEGORY),
               table.pivot(index="item", columns="category", values=name).to_numpy())
        for name in ("observed", "predicted_mean", "predicted_lower", "predicted_upper")},
        coords={dims.ITEM: list(obs.index), dims.CATEGORY: list(obs.columns)})
    ppc["outside"] = (ppc["observed"] < ppc["predicted_lower"]) | (
        ppc["observed"] > ppc["predicted_upper"])
    ppc.attrs["mass"] = 0.9
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats, "ppc": ppc})
    tree.attrs.update(n_categories=6, scale_min=1)
    diag = pd.DataFrame({"r_hat_max": [1.04], "ess_bulk_min": [90.0], "ess_tail_min": [120.0],
                         "n_elements": [60]}, index=pd.Index(["beta"], name="variable"))
    return ItemModel(idata=tree, model_config=ModelConfig(), sampler_config=SamplerConfig(),
                     wave_hash="0123456789abcdef0123", diagnostics=diag, wave_name="hand")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(out, item_model=_hand_model(), portraits=fake.portraits(),
                 contrasts=fake.contrasts(), selection=fake.selection(), title="Test report")
    return out


def test_page_has_every_section(report_dir):
    page = (report_dir / "index.html").read_text()
    found = re.findall(r'<section id="([a-z]+)">', page)
    assert found == list(SECTIONS)  # every section, in the documented order
    for section in SECTIONS:
        assert html.escape(SECTION_TITLES[section]) in page
    assert "gpt-4o|gender=male" in page
    assert "No portrait table given" not in page
    # the summary comes first and the one-by-one portraits last, collapsed
    assert page.index('id="summary"') < page.index('id="leaderboard"')
    assert '<section id="portraits"><details>' in page


def test_figures_are_written_and_embedded(report_dir):
    page = (report_dir / "index.html").read_text()
    pngs = sorted((report_dir / "figures").glob("*.png"))
    # raster figures: 2 contrast axes and the predictive check; the rest is inline SVG
    assert len(pngs) == 2 + 1
    assert page.count("<svg ") >= 3 * 2  # each respondent's forest and circle at least
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(pngs)
    linked = set(re.findall(r'href="figures/([^"]+\.png)"', page))
    assert linked == {p.name for p in pngs}
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warnings_in_page(report_dir):
    page = (report_dir / "index.html").read_text()
    assert "12 divergent transitions" in page
    assert "R-hat above 1.01 in 1 of 1 posterior variables (beta)" in page
    assert "Bulk effective sample size below 400" in page


def test_missing_inputs_are_said(tmp_path):
    page = write_report(tmp_path, portraits=fake.portraits(respondents=("a",))).read_text()
    assert "No selection comparison given" in page
    assert "No contrast table given" in page
    assert "No fitted model given" in page
    assert "No item model given" in page  # said in the summary, at the top
    assert "need the portrait draws" in page  # ranks without draws
    assert '<section id="diagnostics">' in page


def test_report_and_model_card_give_the_same_warnings(tmp_path):
    """One owner of the fit warnings: the report and the model card print the same list."""
    model = _hand_model()
    problems = convergence_problems(model)
    assert len(problems) >= 4  # R-hat, bulk and tail ESS, divergences
    page = write_report(tmp_path / "rep", item_model=model).read_text()
    card = write_model_card(model, tmp_path / "card.md").read_text()
    shown = re.findall(r'<div class="warn">(.*?)</div>', page)
    assert [html.unescape(w) for w in shown] == problems
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    assert [html.unescape(w) for w in re.findall(r'<p class="alert">(.*?)</p>', summary)] \
        == problems  # and the same list at the top of the page
    assert [line[2:] for line in card.split("## Warnings")[1].split("## ")[0].splitlines()
            if line.startswith("- ")] == problems


def test_clean_fit_says_no_warnings(tmp_path):
    model = _hand_model(divergences=0)
    model.diagnostics.loc["beta", ["r_hat_max", "ess_bulk_min", "ess_tail_min"]] = [
        1.001, 900.0, 800.0]
    page = write_report(tmp_path, item_model=model).read_text()
    assert "No warnings" in page
    assert 'class="warn"' not in page


def test_group_mean_contrasts_are_drawn(tmp_path):
    """Rows of each group minus the population mean (no pairs) still get a figure."""
    table = fake.contrasts()
    table = table[table["axis"] == "gender"].assign(group_b="population", source="human",
                                                    model=np.nan)
    page = write_report(tmp_path, contrasts=table).read_text()
    assert "Contrasts by gender" in page
    assert len(list((tmp_path / "figures").glob("contrast_*.png"))) == 1


def test_many_respondents_are_capped_but_tabled(tmp_path):
    names = [f"m{i}" for i in range(5)]
    page = write_report(tmp_path, portraits=fake.portraits(respondents=names),
                        max_portraits=2).read_text()
    assert "first 2 of 5 respondents" in page
    assert "Portrait table (50 rows)" in page


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vp_bayes", *args], capture_output=True,
                          text=True, cwd=REPO)


def test_cli_report_from_tables(tmp_path):
    fake.portraits().to_csv(tmp_path / "portraits.csv", index=False)
    fake.contrasts().to_csv(tmp_path / "contrasts.csv", index=False)
    fake.selection().to_csv(tmp_path / "selection.csv", index=False)
    out = tmp_path / "rep"
    result = _cli("report", "--portraits", str(tmp_path / "portraits.csv"), "--contrasts",
                  str(tmp_path / "contrasts.csv"), "--selection",
                  str(tmp_path / "selection.csv"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    assert (out / "index.html").is_file()
    assert len(list((out / "figures").glob("*.png"))) == 2  # the two contrast axes


def test_cli_bad_table_exits_2(tmp_path):
    table = fake.portraits()
    table["mean"] = table["mean"].astype(object)
    table.loc[4, "mean"] = "n/a?"
    table.to_csv(tmp_path / "portraits.csv", index=False)
    result = _cli("report", "--portraits", str(tmp_path / "portraits.csv"), "--out",
                  str(tmp_path / "rep"))
    assert result.returncode == 2
    assert "portraits.csv, row 5, field 'mean'" in result.stderr


def _screenshot(index: Path, png: Path, tmp: Path) -> subprocess.CompletedProcess:
    return headless.screenshot(index, png, tmp, (1280, 2000))


def test_page_renders_in_headless_chromium(report_dir, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip("headless Chromium not found at /usr/bin/chromium "
                    "(apt-get install chromium; scripts/test.sh installs it as root)")
    from PIL import Image

    png = tmp_path / "shot.png"
    result = _screenshot(report_dir / "index.html", png, tmp_path)
    assert png.is_file(), result.stderr[-2000:]
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert image.shape == (2000, 1280)
    assert image.std() > 20.0  # text and figures, not a blank page
    dark = (image < 128).mean()
    assert 0.005 < dark < 0.5  # mostly white page with drawn content
    # the first figure's pixels are in view: some rows hold many non-white pixels
    assert ((image < 200).sum(axis=1) > 300).any()
    boxes = headless.measure(report_dir / "index.html", tmp_path)
    assert boxes["texts"] > 100 and boxes["svgs"] >= 6  # it measured the figures' labels
    assert boxes["overlaps"] == [] and boxes["outside"] == []
    assert boxes["figure_overlaps"] == [] and boxes["wide"] == []
    assert boxes["errors"] == []


@pytest.mark.slow
def test_report_of_a_real_fit(tmp_path):
    """Fit a small simulated wave, save it, and report it through the CLI."""
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.model.io import save_model
    from vp_bayes.scoring.portraits import save_portraits, score
    from vp_bayes.wave.simulate import simulate_wave

    sim = simulate_wave(n_participants=120, n_items=20, items_per_participant=15, seed=1,
                        prescored=True, n_llm=1)
    model = fit_wave(sim.wave, ModelConfig(),
                     SamplerConfig(draws=100, tune=100, chains=2, seed=1), progress=False,
                     ppc_draws=50)
    path = save_model(model, tmp_path / "model.nc")
    portraits = score(model, sim.llm_ratings, n_item_draws=40, n_per_draw=10, progress=False)
    _, draws = save_portraits(portraits, tmp_path / "portraits.csv")
    out = tmp_path / "rep"
    result = _cli("report", str(path), "--portraits", str(draws), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text()
    assert "Convergence per variable" in page and "Posterior predictive check" in page
    assert (out / "figures" / "ppc.png").is_file()
    for name in portraits.table["respondent"].unique():  # every scored LLM and persona
        assert f"<summary>{html.escape(name)}" in page
    # 100 draws per chain cannot give 400 effective draws: the report must say so
    assert "effective sample size below 400" in page
    if CHROMIUM.is_file():
        png = tmp_path / "shot.png"
        _screenshot(out / "index.html", png, tmp_path)
        assert png.is_file()



def test_cli_unreadable_portrait_draws_exit_2(tmp_path):
    bad = tmp_path / "portraits.nc"
    bad.write_text("not netcdf")
    result = _cli("report", "--portraits", str(bad), "--out", str(tmp_path / "rep"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}")

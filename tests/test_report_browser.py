"""The report in headless Chromium at full size: the 27 released LLMs scored from the real
release, and 33 simulated models x (1 + 25 personas). Screenshots are checked for size and
content, every SVG label for overlaps (boxes measured in the page, :mod:`headless`), and the
HTML size and load time against their budgets; the measurements are printed (``-s``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import headless
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vp_bayes import dims

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "valueportrait.nc"
HTML_BUDGET_27 = 1.5e6  # bytes: the page of the 27 released LLMs
HTML_BUDGET_858 = 2.5e6  # bytes: 33 models x 26 respondents each
LOAD_BUDGET_MS = 5000.0  # Chromium's load event of either page

pytestmark = pytest.mark.slow


def _need_chromium() -> None:
    if not headless.available():
        pytest.skip("headless Chromium not found at /usr/bin/chromium "
                    "(apt-get install chromium; scripts/test.sh installs it as root)")


def _check_page(index: Path, tmp: Path, n_compared: int, tag: str) -> dict:
    """Measure the page in Chromium and screenshot its top; assert the layout checks."""
    from PIL import Image

    boxes = headless.measure(index, tmp)
    assert boxes["errors"] == [], boxes["errors"]
    assert boxes["texts"] > 500  # the labels were measured
    assert boxes["overlaps"] == [], boxes["overlaps"][:5]
    assert boxes["outside"] == [], boxes["outside"][:5]
    assert boxes["figure_overlaps"] == [], boxes["figure_overlaps"][:5]
    assert boxes["wide"] == [], boxes["wide"][:5]  # nothing wider than the window
    assert boxes["pairs_cells"] == n_compared ** 2  # the matrix was drawn by the script
    assert boxes["loaded_ms"] < LOAD_BUDGET_MS
    png = tmp / f"{tag}.png"
    shot = headless.screenshot(index, png, tmp, (1280, 2400))
    assert png.is_file(), shot.stderr[-2000:]
    image = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    assert image.shape == (2400, 1280, 3)
    grey = image.mean(axis=2)
    assert grey.std() > 20.0 and 0.005 < (grey < 128).mean() < 0.5
    # the summary's warnings are at the top: their orange box (#fff4e5) in the first 1000 px
    alert = (np.abs(image - np.array([255, 244, 229])).sum(axis=2) <= 6)
    boxes["alert_rows_top"] = int(alert[:1000].any(axis=1).sum())
    boxes["html_bytes"] = index.stat().st_size
    boxes["screenshot"] = list(image.shape[:2][::-1])
    print(f"\n{tag}: " + json.dumps({k: v for k, v in boxes.items()
                                      if not isinstance(v, list) or k == "screenshot"}))
    return boxes


def test_report_of_the_27_released_llms(released, tmp_path):
    _need_chromium()
    csv, _ = released
    out = tmp_path / "report"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vp_bayes", "report", str(MODEL),
                             "--portraits", str(csv), "--out", str(out),
                             "--title", "27 released LLMs"],
                            capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # the draws beside the CSV were found
    index = out / "index.html"
    page = index.read_text()
    table = pd.read_csv(csv)
    names = list(dict.fromkeys(table["respondent"]))
    assert len(names) == 27
    data = json.loads(re.search(r'id="pairs-data">(.*?)</script>', page, re.S).group(1))
    assert data["names"] == names
    board = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert board.count("<tr") == 1 + len(names)
    assert index.stat().st_size < HTML_BUDGET_27
    boxes = _check_page(index, tmp_path, len(names), "released27")
    n_misfit = int(table.drop_duplicates("respondent")["misfit"].sum())
    if n_misfit:  # a person-fit warning belongs at the top of the page
        assert f"does not fit {n_misfit} of 27" in page
        assert boxes["alert_rows_top"] > 0
    print(f"released27: report written in {seconds:.1f} s (CLI, model and draws read)")


def _scaled_draws(n_models: int = 33, n_personas: int = 25, n_samples: int = 400,
                  seed: int = 7) -> tuple[xr.Dataset, pd.DataFrame]:
    """Hand-built draws of ``n_models`` x (model + personas) and their portrait table."""
    rng = np.random.default_rng(seed)
    names, arrs = [], []
    for m in range(n_models):
        base = rng.normal(0.0, 1.0, len(dims.VALUES_10))
        names.append(f"model-{m:02d}-instruct")
        arrs.append(base + 0.3 * rng.standard_normal((n_samples, len(dims.VALUES_10))))
        for p in range(n_personas):
            names.append(dims.respondent_name(f"model-{m:02d}-instruct", f"persona={p:02d}"))
            shift = rng.normal(0.0, 0.3, len(dims.VALUES_10))
            arrs.append(arrs[-1 - p] + shift)
    theta = np.stack(arrs)
    ds = xr.Dataset({"theta": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE), theta)},
                    coords={dims.RESPONDENT: names, dims.SAMPLE: np.arange(n_samples),
                            dims.VALUE: list(dims.VALUES_10)})
    cen = theta - theta.mean(axis=2, keepdims=True)
    q = np.quantile(theta, [0.05, 0.95], axis=1)
    cq = np.quantile(cen, [0.05, 0.95], axis=1)
    table = pd.DataFrame({
        "respondent": np.repeat(names, len(dims.VALUES_10)),
        "value": np.tile(dims.VALUES_10, len(names)),
        "mean": theta.mean(axis=1).ravel(), "lower": q[0].ravel(), "upper": q[1].ravel(),
        "centered_mean": cen.mean(axis=1).ravel(), "centered_lower": cq[0].ravel(),
        "centered_upper": cq[1].ravel(), "mass": 0.9})
    return ds, table


def test_report_scales_to_33_models_with_25_personas(tmp_path):
    _need_chromium()
    from vp_bayes.report.html import write_report

    ds, table = _scaled_draws()
    start = time.perf_counter()
    index = write_report(tmp_path / "report", portraits=table, draws=ds, title="33 x 26")
    seconds = time.perf_counter() - start
    page = index.read_text()
    board = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert board.count('class="persona"') == 33 * 25  # every persona is in the leaderboard
    assert index.stat().st_size < HTML_BUDGET_858
    _check_page(index, tmp_path, 33, "scaled858")
    print(f"scaled858: report written in {seconds:.1f} s")

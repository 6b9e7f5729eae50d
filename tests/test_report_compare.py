"""The report's comparison sections from hand-built portrait draws: the numbers on the page are
those of :mod:`vp_bayes.contrasts.models` and :mod:`vp_bayes.report.findings`, whose answers
are known here by construction."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vp_bayes import dims
from vp_bayes.contrasts.models import pairwise
from vp_bayes.errors import InputError
from vp_bayes.report import findings
from vp_bayes.report.findings import PAPER_HIGH, PAPER_LOW, HumanReference
from vp_bayes.report.html import write_report

VALS = list(dims.VALUES_10)
N = 1000


def _draws(theta: dict[str, np.ndarray]) -> xr.Dataset:
    """Portrait draws ``theta (respondent, sample, value)`` only (the centred scale is derived)."""
    names = list(theta)
    arr = np.stack([theta[n] for n in names])
    return xr.Dataset({"theta": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE), arr)},
                      coords={dims.RESPONDENT: names, dims.SAMPLE: np.arange(arr.shape[1]),
                              dims.VALUE: VALS})


def _table(ds: xr.Dataset, misfit: tuple[str, ...] = ()) -> pd.DataFrame:
    """The portrait table of hand-built draws (mean and 90% interval, both scales)."""
    rows = []
    for r in ds[dims.RESPONDENT].values:
        th = ds["theta"].sel({dims.RESPONDENT: r}).values
        cen = th - th.mean(axis=1, keepdims=True)
        for v, value in enumerate(VALS):
            lo, hi = np.quantile(th[:, v], [0.05, 0.95])
            clo, chi = np.quantile(cen[:, v], [0.05, 0.95])
            rows.append({"respondent": str(r), "value": value, "mean": th[:, v].mean(),
                         "lower": lo, "upper": hi, "centered_mean": cen[:, v].mean(),
                         "centered_lower": clo, "centered_upper": chi, "mass": 0.9,
                         "ppp_fit": 0.001 if r in misfit else 0.5,
                         "misfit": r in misfit})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def three():
    """Three models a > b > c on every value by 1 SD, with small noise; a persona of a."""
    rng = np.random.default_rng(4)
    theta = {name: np.asarray(level + 0.05 * rng.standard_normal((N, len(VALS))))
             for name, level in (("a", 1.0), ("b", 0.0), ("c", -1.0), ("a|x=1", 1.5))}
    theta["c"][:, VALS.index("power")] += 3.0  # c leads on power
    return _draws(theta)


@pytest.fixture(scope="module")
def page(three, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cmp")
    write_report(out, portraits=_table(three, misfit=("b",)), draws=three, title="cmp")
    return (out / "index.html").read_text()


def test_pairs_on_the_page_are_those_of_the_library(three, page):
    data = json.loads(re.search(r'<script type="application/json" id="pairs-data">(.*?)'
                                r"</script>", page, re.S).group(1))
    assert data["names"] == ["a", "b", "c"]  # the models; the persona is not compared
    ref = pairwise(three, ["a", "b", "c"])
    for value in VALS:
        got = data["values"][value]
        rows = ref[ref["value"] == value]
        assert [data["names"][i] for i in got["a"]] == list(rows["respondent_a"])
        assert got["p"] == [round(p, 3) for p in rows["prob_a_greater"]]
    assert data["values"]["power"]["order"][0] == 2  # c first on power
    assert data["values"]["security"]["order"] == [0, 1, 2]


def test_summary_states_misfit_and_lead(page):
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    assert "does not fit 1 of 4 respondent(s)" in summary
    assert "fit: 1" in summary  # the failed check is named
    # a leads by 1 SD with noise 0.05 on nine values, c on power: every top place settled
    assert "settled (P(rank 1) &ge; 0.9) on 10 of 10 values" in summary
    assert "b \u26a0" in page  # the misfitting respondent is marked where it is named


def test_leaderboard_has_every_respondent_and_value(page):
    table = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert table.count("<tr") == 1 + 4  # header + a, b, c, the persona
    assert table.count('class="persona"') == 1
    assert len(re.findall(r'<td class="h\d+" data-s=', table)) == 4 * len(VALS)


def test_ranking_panes_share_one_axis(page):
    panes = re.findall(r'<div class="pane" data-v="([a-z_]+)"', page)
    assert panes == VALS
    ticks = [re.findall(r'class="tick" x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)<', p)
             for p in (c.split("</svg>")[0] for c in page.split('<div class="pane"')[1:])]
    assert all(t == ticks[0] for t in ticks) and len(ticks[0]) >= 3


def test_value_priorities_known_order():
    rng = np.random.default_rng(0)
    level = np.linspace(2.0, -2.0, len(VALS))  # VALS[0] highest ... VALS[-1] lowest
    ds = _draws({f"m{i}": level + 0.1 * rng.standard_normal((N, len(VALS))) for i in range(5)})
    pr = findings.value_priorities(ds)
    assert list(pr["value"]) == VALS
    assert pr["rank_lower"].tolist() == list(range(1, 11))
    assert pr["prob_top3"].iloc[:3].min() == 1.0 and pr["prob_top3"].iloc[3:].max() == 0.0
    np.testing.assert_allclose(pr["mean"], level - level.mean(), atol=0.05)
    order = findings.paper_ordering(ds)
    expect = all(VALS.index(h) < VALS.index(lo) for h in PAPER_HIGH for lo in PAPER_LOW)
    assert order["all"] == float(expect)


def test_spread_ratio_exact_when_draws_are_fixed():
    """Draws constant over samples: the between-LLM SD is exact, and so is the ratio."""
    spots = np.array([-1.0, 0.0, 1.0, 2.0])
    ds = _draws({f"m{i}": np.full((10, len(VALS)), s) for i, s in enumerate(spots)})
    rng = np.random.default_rng(1)
    ref = HumanReference(rng.normal(0.0, 2.0, (1, 400, len(VALS))), tuple(VALS))
    sp = findings.spread_ratio(ds, ref)
    human = ref.draws[0].std(axis=0, ddof=1)
    np.testing.assert_allclose(sp["llm_sd"], spots.std(ddof=1))
    np.testing.assert_allclose(sp["ratio"], spots.std(ddof=1) / human)
    assert (sp["prob_llm_narrower"] == 1.0).all()  # 1.29 against about 2


def test_group_differences_exact():
    ds = _draws({"o1": np.full((10, len(VALS)), 1.0), "o2": np.full((10, len(VALS)), 3.0),
                 "c1": np.full((10, len(VALS)), 0.5), "zz": np.zeros((10, len(VALS)))})
    meta = pd.DataFrame({"respondent": ["o1", "o2", "c1", "not-scored"],
                         "weights": ["open", "open", "closed", "open"]})
    g = findings.group_differences(ds, meta)
    assert set(g["column"]) == {"weights"} and len(g) == len(VALS)
    np.testing.assert_allclose(g["mean"], 2.0 - 0.5)
    assert (g["n_a"] == 2).all() and (g["n_b"] == 1).all()
    with pytest.raises(InputError, match="respondent"):
        findings.group_differences(ds, meta.rename(columns={"respondent": "model"}))


def test_groups_and_compare_reach_the_page(three, tmp_path):
    meta = pd.DataFrame({"respondent": ["a", "b", "c"], "size": ["big", "big", "small"]})
    out = write_report(tmp_path, portraits=_table(three), draws=three, groups=meta,
                       compare=["c", "a"]).read_text()
    data = json.loads(re.search(r'id="pairs-data">(.*?)</script>', out, re.S).group(1))
    assert data["names"] == ["c", "a"]
    assert html.escape("size: big (2) - small (1)") in out
    with pytest.raises(InputError, match="unknown respondent"):
        write_report(tmp_path, portraits=_table(three), draws=three, compare=["nobody"])


def test_cli_groups_table_errors_are_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import report_fakes as fake

    repo = Path(__file__).resolve().parents[1]
    fake.portraits().to_csv(tmp_path / "portraits.csv", index=False)
    (tmp_path / "groups.csv").write_text("model,weights\na,open\n")
    for groups, expect in ((tmp_path / "groups.csv", "groups.csv, row 0, field 'respondent'"),
                           (tmp_path / "none.csv", "none.csv")):
        result = subprocess.run([sys.executable, "-m", "vp_bayes", "report", "--portraits",
                                 str(tmp_path / "portraits.csv"), "--groups", str(groups),
                                 "--out", str(tmp_path / "rep")],
                                capture_output=True, text=True, cwd=repo)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0]

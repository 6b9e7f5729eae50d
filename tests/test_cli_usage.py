"""Usage errors of every command: one line on stderr starting ``error:``, exit 2.

Table-driven: for each command a missing required argument (or option), an unknown option and a
value of the wrong type (or, where a command has no typed option, the other usage error it can
have); then an unknown command, a bare invocation, ``--version``, ``--help`` (commands in
pipeline order, an example each) and the printed summaries' library functions. The table runs
:func:`vp_bayes.cli.main` in-process (as ``tests/test_contrasts_cli.py`` does); a few cases
run the real entry point in a subprocess. Nothing here reads data: parsing fails first.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vp_bayes import __version__
from vp_bayes.cli import main
from vp_bayes.cli.app import PIPELINE

# (command, arguments, what the one line must contain)
CASES: list[tuple[str, list[str], str]] = [
    # simulate OUT
    ("simulate", [], "Missing argument 'OUT'"),
    ("simulate", ["w", "--bogus"], "No such option: --bogus"),
    ("simulate", ["w", "--participants", "abc"], "Invalid value for '--participants'"),
    # import valueportrait RELEASE OUT
    ("import valueportrait", [], "Missing argument 'RELEASE'"),
    ("import valueportrait", ["r", "w", "--bogus"], "No such option: --bogus"),
    ("import valueportrait", ["r", "w", "--format", "xlsx"], "Invalid value for '--format'"),
    # validate WAVE (no options: an extra argument instead of a typed value)
    ("validate", [], "Missing argument 'WAVE'"),
    ("validate", ["w", "--bogus"], "No such option: --bogus"),
    ("validate", ["w", "extra"], "unexpected extra argument"),
    # select WAVE --out
    ("select", [], "Missing argument 'WAVE'"),
    ("select", ["w", "--out", "t.csv", "--bogus"], "No such option: --bogus"),
    ("select", ["w", "--out", "t.csv", "--threshold", "abc"], "Invalid value for '--threshold'"),
    ("select", ["w", "--out", "t.csv", "--method", "cosine"], "Invalid value for '--method'"),
    ("select", ["w"], "Missing option '--out'"),
    # fit WAVE --out
    ("fit", [], "Missing argument 'WAVE'"),
    ("fit", ["w", "--out", "m.nc", "--bogus"], "No such option: --bogus"),
    ("fit", ["w", "--out", "m.nc", "--draws", "abc"], "Invalid value for '--draws'"),
    ("fit", ["w", "--out", "m.nc", "--sampler", "hmc"], "Invalid value for '--sampler'"),
    ("fit", ["w", "--out", "m.nc", "--value-input", "raw"], "Invalid value for '--value-input'"),
    # card MODEL (no typed option: an extra argument instead)
    ("card", [], "Missing argument 'MODEL'"),
    ("card", ["m.nc"], "Missing option '--wave'"),
    ("card", ["m.nc", "--wave", "w", "--bogus"], "No such option: --bogus"),
    ("card", ["m.nc", "--wave", "w", "extra"], "unexpected extra argument"),
    ("card", ["m.nc", "--wave", "w", "--compare"], "Option '--compare' requires an argument"),
    # dif MODEL --out
    ("dif", [], "Missing argument 'MODEL'"),
    ("dif", ["m.nc", "--out", "d.csv", "--bogus"], "No such option: --bogus"),
    ("dif", ["m.nc", "--out", "d.csv", "--rope", "0"], "Invalid value for '--rope'"),
    ("dif", ["m.nc", "--out", "d.csv", "--mass", "1"], "Invalid value for '--mass'"),
    ("dif", ["m.nc", "--out", "d.csv", "--llm-ratings", "r.csv", "--portraits", "p.nc",
             "--seed", "x"], "Invalid value for '--seed'"),
    # select-bayes MODEL --out
    ("select-bayes", [], "Missing argument 'MODEL'"),
    ("select-bayes", ["m.nc", "--out", "s.csv", "--bogus"], "No such option: --bogus"),
    ("select-bayes", ["m.nc", "--out", "s.csv", "--practical", "big"],
     "Invalid value for '--practical'"),
    # rate ITEMS --backend --model --out
    ("rate", [], "Missing argument 'ITEMS'"),
    ("rate", ["w", "--backend", "openai", "--model", "m", "--out", "r.csv", "--bogus"],
     "No such option: --bogus"),
    ("rate", ["w", "--backend", "openai", "--model", "m", "--out", "r.csv", "--samples", "x"],
     "Invalid value for '--samples'"),
    ("rate", ["w", "--backend", "ollama", "--model", "m", "--out", "r.csv"],
     "Invalid value for '--backend'"),
    # score MODEL RATINGS --out
    ("score", [], "Missing argument 'MODEL'"),
    ("score", ["m.nc"], "Missing argument 'RATINGS'"),
    ("score", ["m.nc", "r.csv", "--out", "p.csv", "--bogus"], "No such option: --bogus"),
    ("score", ["m.nc", "r.csv", "--out", "p.csv", "--item-draws", "many"],
     "Invalid value for '--item-draws'"),
    ("score", ["m.nc", "r.csv", "--out", "p.csv", "--method", "exact"],
     "Invalid value for '--method'"),
    # compare PORTRAITS.nc (nothing else required)
    ("compare", [], "Missing argument 'PORTRAITS.nc'"),
    ("compare", ["p.nc", "--bogus"], "No such option: --bogus"),
    ("compare", ["p.nc", "--scale", "centred"], "Invalid value for '--scale'"),
    ("compare", ["p.nc", "--mass", "1.5"], "Invalid value for '--mass'"),
    # classic-score TAGS RATINGS --out (its only option is a path: a missing value instead)
    ("classic-score", [], "Missing argument 'TAGS'"),
    ("classic-score", ["t.csv", "r.csv", "--out", "c.csv", "--bogus"], "No such option: --bogus"),
    ("classic-score", ["t.csv", "r.csv", "--out"], "Option '--out' requires an argument"),
    # contrast MODEL.nc [PORTRAITS.nc] --out
    ("contrast", [], "Missing argument 'MODEL.nc'"),
    ("contrast", ["m.nc", "--out", "c.csv", "--bogus"], "No such option: --bogus"),
    ("contrast", ["m.nc", "--out", "c.csv", "--mass", "ninety"], "Invalid value for '--mass'"),
    ("contrast", ["m.nc", "--out", "c.csv", "--scale", "centred"], "Invalid value for '--scale'"),
    # report [MODEL] --out (nothing required but --out)
    ("report", ["m.nc"], "Missing option '--out'"),
    ("report", ["m.nc", "--out", "r", "--bogus"], "No such option: --bogus"),
    ("report", ["m.nc", "--out", "r", "--max-portraits", "all"],
     "Invalid value for '--max-portraits'"),
    ("report", ["m.nc", "--out", "r", "--scale", "raw"], "Invalid value for '--scale'"),
    # the application itself
    ("frobnicate", [], "No such command 'frobnicate'"),
    ("import", ["nope"], "No such command 'nope'"),
]
COMMANDS = sorted({c.split()[0] for c, _, _ in CASES} - {"frobnicate"})


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``vp-bayes ARGS`` through :func:`main`; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vp-bayes", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_table_covers_every_command():
    assert set(COMMANDS) == set(PIPELINE)
    for command in PIPELINE:
        names = [named for c, _, named in CASES if c.split()[0] == command]
        assert any(n.startswith("Missing") for n in names), command
        assert any(n.startswith("No such option") for n in names), command
        assert len(names) >= 3, command


@pytest.mark.parametrize(("command", "args", "named"), CASES,
                         ids=[f"{c} {' '.join(a)}".strip() for c, a, _ in CASES])
def test_usage_error_is_one_line_and_exit_2(monkeypatch, capsys, command, args, named):
    code, out, err = _run(monkeypatch, capsys, *command.split(), *args)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert named in lines[0]
    assert "Value error" not in lines[0] and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("args", [[], ["import"]], ids=["vp-bayes", "vp-bayes import"])
def test_bare_invocation_shows_help_and_one_error_line(monkeypatch, capsys, args):
    code, out, err = _run(monkeypatch, capsys, *args)
    assert code == 2
    assert "Usage: vp-bayes" in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: missing command")
    if not args:
        assert ", ".join(PIPELINE) in lines[0]  # names the commands, in pipeline order
    else:
        assert "valueportrait" in lines[0]


def test_version(monkeypatch, capsys):
    code, out, err = _run(monkeypatch, capsys, "--version")
    assert (code, out, err) == (0, f"vp-bayes {__version__}\n", "")


def test_help_lists_commands_in_pipeline_order_with_an_example(monkeypatch, capsys):
    code, out, _ = _run(monkeypatch, capsys, "--help")
    assert code == 0
    rows = [line.strip("│ ").split()[0] for line in out.splitlines()
            if line.startswith("│ ") and line.strip("│ ").split()[0] in PIPELINE]
    assert rows == list(PIPELINE)
    for command in [*PIPELINE, "import valueportrait"]:
        if command == "import":
            continue
        code, out, _ = _run(monkeypatch, capsys, *command.split(), "--help")
        assert code == 0, command
        assert "Example" in out and f"vp-bayes {command} " in out, command


def test_help_shows_fit_budget_and_choices(monkeypatch, capsys):
    from vp_bayes.model.config import SamplerConfig

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(monkeypatch, capsys, "fit", "--help")
    assert code == 0
    default = SamplerConfig()
    for option, value in (("--draws", default.draws), ("--tune", default.tune),
                          ("--chains", default.chains)):
        line = next(ln for ln in out.splitlines() if f" {option} " in ln)
        assert f"[default: {value}]" in line, line
    assert "nutpie|pymc|numpyro|advi|pathfinder" in out
    assert "shared|item" in out and "auto|instrument|latent|exact" in out


def test_entry_point_in_a_subprocess():
    """The real process: prog name, one line, exit 2, and --version."""
    run = [sys.executable, "-m", "vp_bayes"]
    res = subprocess.run([*run, "fit", "w", "--out", "m.nc", "--draws", "abc"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        "error: Invalid value for '--draws': Input should be a valid integer, unable to parse "
        "string as an integer (see 'vp-bayes fit --help')"]
    res = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stdout.strip()) == (0, f"vp-bayes {__version__}")


# ---------------------------------------------------------------- printed summaries
def _portrait_table(n_models: int, n_personas: int) -> pd.DataFrame:
    from vp_bayes.dims import VALUES_10

    rng = np.random.default_rng(0)
    rows = []
    for m in range(n_models):
        for p in range(n_personas + 1):
            name = f"m{m}" if p == 0 else f"m{m}|age=g{p}"
            mean = rng.normal(size=len(VALUES_10))
            for v, x in zip(VALUES_10, mean, strict=True):
                rows.append({"respondent": name, "model": f"m{m}",
                             "persona": "" if p == 0 else f"age=g{p}", "value": v,
                             "mean": x, "lower": x - 0.5, "upper": x + 0.5,
                             "centered_mean": x - mean.mean(), "centered_lower": 0.0,
                             "centered_upper": 0.0, "percentile": 50.0, "n_ratings": 120,
                             "n_unparsed": 0, "n_unknown_items": 0, "mass": 0.9,
                             "ess_fraction": 1.0, "pareto_k": 0.1, "tau": 0.3, "sigma": 0.2,
                             "ppp_agreement": 0.5, "ppp_distribution": 0.5, "ppp_fit": 0.5,
                             "misfit": False})
    return pd.DataFrame(rows)


def test_score_summary_is_one_line_per_respondent_and_capped():
    from vp_bayes.scoring import portrait_lines, respondent_summary

    table = _portrait_table(27, 25)  # 27 models x 26 respondents x 10 values = 7,020 rows
    summary = respondent_summary(table)
    assert len(summary) == 27 * 26
    first = summary.iloc[0]
    top = table[table.respondent == "m0"].sort_values("centered_mean").iloc[-1]
    assert first["highest"].startswith(f"{top['value']} {top['centered_mean']:+.2f}")
    assert first["half_width"] == pytest.approx(0.5)
    text = "\n".join(portrait_lines(table, max_respondents=20, table_path="p.csv"))
    assert len(text.splitlines()) < 30
    assert "90% equal-tailed intervals" in text
    assert f"... {27 * 26 - 20} more respondent(s) (every row in p.csv" in text
    shown = [ln.split()[0] for ln in text.splitlines()[3:23]]
    assert shown == [f"m{i}" for i in range(20)]  # unprompted models first
    full = "\n".join(portrait_lines(table, full=True))
    assert len(full.splitlines()) > len(table)


def test_score_notes_are_capped_per_respondent():
    from vp_bayes.scoring import note_lines

    names = [f"m{i}" for i in range(30)]
    notes = ["2 item id(s) unknown to the fitted model were not used (first: a, b)",
             *(f"{n}: the item model does not fit this respondent" for n in names)]
    lines = note_lines(notes, names, max_notes=5)
    assert lines[0].startswith("note: 2 item id(s) unknown")
    assert len(lines) == 1 + 5 + 1
    assert "25 more note(s) on 25 respondent(s)" in lines[-1]
    assert len(note_lines(notes, names, max_notes=None)) == len(notes)


def test_contrast_lines_are_capped():
    from vp_bayes.contrasts.tables import ContrastReport, credible_summary, report_lines

    rows = [{"axis": "age", "group_a": f"g{i}", "group_b": "g0", "value": "power",
             "source": src, "model": "" if src == "human" else "m", "mean": 0.5,
             "lower": 0.1, "upper": 0.9, "prob_positive": 0.99, "mass": 0.9}
            for i in range(1, 31) for src in ("human", "llm", "bias")]
    table = pd.DataFrame(rows)
    report = ContrastReport(table, pd.DataFrame(columns=["model", "axis", "group", "quantity",
                                                         "mean", "lower", "upper",
                                                         "prob_positive"]),
                            credible_summary(table), 0.9)
    text = "\n".join(report_lines(report, max_rows=10, table_path="c.csv"))
    assert ("... more rows: 20 human, 20 llm, 20 bias (all in c.csv; --full prints them all)"
            in text)
    assert len(text.splitlines()) <= 50  # 3 x 10 rows + 10 biases + headings
    assert "30 credible bias(es) at 90%" in text and "... 20 more" in text
    full = "\n".join(report_lines(report, full=True))
    assert "more row(s)" not in full and len(full.splitlines()) > 90


# ---------------------------------------------------------------- library warnings
def test_only_the_unactionable_library_warnings_are_silenced(caplog):
    import logging
    import warnings

    from vp_bayes.cli import quiet_library_warnings

    blas = "PyTensor could not link to a BLAS installation. Operations ... degraded."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_warnings()
        for module in ("pytensor.link.c.cmodule", "vp_bayes.model.fit"):
            warnings.warn_explicit(blas, UserWarning, "x.py", 1, module=module)
        for module in ("arviz_stats.base.diagnostics", "vp_bayes.scoring.checks"):
            warnings.warn_explicit("invalid value encountered in scalar divide",
                                   RuntimeWarning, "x.py", 1, module=module)
        warnings.warn_explicit("something else", UserWarning, "x.py", 1,
                               module="pytensor.link.c.cmodule")
    assert sorted((str(w.message)[:14], w.category.__name__) for w in caught) == [
        ("PyTensor could", "UserWarning"), ("invalid value ", "RuntimeWarning"),
        ("something else", "UserWarning")]
    with caplog.at_level(logging.WARNING, logger="pytensor.tensor.blas"):
        log = logging.getLogger("pytensor.tensor.blas")
        log.warning("Using NumPy C-API based implementation for BLAS functions.")
        log.warning("another BLAS message")
    assert [r.getMessage() for r in caplog.records] == ["another BLAS message"]


def test_a_command_loads_only_its_own_module():
    """``validate`` and ``--version`` do not import what other commands' choices need."""
    code = ("import sys\n"
            "from vp_bayes.cli import main\n"
            "for argv in (['--version'], ['validate', '--help']):\n"
            "    sys.argv = ['vp-bayes', *argv]\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = ('scipy.stats', 'pytensor', 'matplotlib', 'vp_bayes.cli.score')\n"
            "print('loaded:', [m for m in heavy if m in sys.modules])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "loaded: []"

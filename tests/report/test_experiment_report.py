"""The experiment report on the Hillstrom experiment, in a real headless browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patron.cli import main
from tests.conftest import shared_file
from tests.report.browser import CHROMIUM, check_in_browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = shared_file("hillstrom", "hillstrom.csv")
    path = tmp_path_factory.mktemp("exp") / "experiment.html"
    args = [
        "experiment", "report", "--from-file", str(data), "--arm", "segment",
        "--control", "No E-Mail", "--metric", "visit,spend", "--stratify", "history_segment",
        "--uplift-outcome", "visit", "--treatment", "Womens E-Mail",
        "--features", "recency,history,mens,womens,zip_code,newbie,channel", "--out", str(path),
    ]  # fmt: skip
    assert main(args) == 0
    return path


def _words(page: str) -> str:
    """What a reader sees: the page without its scripts (plotly.js, the charts' data)."""
    return re.sub(r"<script.*?</script>", " ", page, flags=re.S)


def test_experiment_report_content(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "Arm sizes match the design shares (chi-square p = 0.904)." in page
    assert "Roll out Mens E-Mail for visit: its whole interval is above zero (+72% over" in page
    assert "visit by stratum" in page
    assert "Who is persuadable: uplift of Womens E-Mail on visit" in page
    # Rates read as percentages (Mens E-Mail visited 18.3%, control 10.6%), lifts in points.
    assert "<td>18.3%</td>" in page
    assert "<td>10.6%</td>" in page
    assert "lift (percentage points)" in page
    assert "The Qini curve ranks customers" in page  # there is a Qini chart here
    assert "p_value" not in _words(page)  # no internal names


def test_no_qini_words_without_a_qini_chart(tmp_path: Path) -> None:
    data = shared_file("hillstrom", "hillstrom.csv")
    path = tmp_path / "plain.html"
    args = ["experiment", "report", "--from-file", str(data), "--arm", "segment",
            "--control", "No E-Mail", "--metric", "visit", "--out", str(path)]  # fmt: skip
    assert main(args) == 0
    assert "Qini" not in _words(path.read_text(encoding="utf-8"))


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (python3 dev.py test installs it when it can)",
)
def test_experiment_report_in_a_real_browser(report: Path) -> None:
    assert check_in_browser(report) == 5  # two lifts, two strata, one Qini curve


def test_experiment_report_needs_its_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shared_file("hillstrom", "hillstrom.csv")
    base = ["experiment", "report", "--from-file", str(data), "--metric", "visit"]
    assert main([*base, "--out", str(tmp_path / "r.html")]) == 2
    assert "--from-file needs --arm COLUMN and --control VALUE." in capsys.readouterr().err
    assert (
        main([*base, "--arm", "segment", "--control", "x", "--out", str(tmp_path / "r.txt")]) == 2
    )
    assert "use a .html or .htm file name" in capsys.readouterr().err
    assert (
        main([*base, "--arm", "segment", "--control", "Nobody", "--out", str(tmp_path / "r.html")])
        == 65
    )
    assert "No customer in the control arm 'Nobody'" in capsys.readouterr().err

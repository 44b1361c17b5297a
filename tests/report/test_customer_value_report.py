"""The customer-value report: content from the warehouse, and a real headless browser check."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import simulate_shop
from patron.data.warehouse import connect
from patron.value.summary import SummarySpec
from patron.value.validation import holdout_report
from patron.value.workflow import fit_purchase_model, summary_from_warehouse
from tests.conftest import shared_file
from tests.report.browser import CHROMIUM, check_in_browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shop scored at two dates, segmented, and its report."""
    out = tmp_path_factory.mktemp("report")
    simulate_shop(4000, out / "shop", seed=5)
    url = f"duckdb://{out / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(out / "shop" / f"{table}.parquet"), "-w", url]) == 0
    assert main(["value", "score", "--observation-end", "2025-06-30", "-w", url]) == 0
    assert main(["value", "score", "-w", url]) == 0
    assert main(["segment", "-w", url]) == 0
    path = out / "report.html"
    assert main(["report", "--out", str(path), "-w", url]) == 0
    return path


def test_report_content(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for title in (
        "Where the equity is (Pareto / Lorenz curve)",
        "How CLV is spread",
        "The 15 most valuable customers",
        "Value tiers",
        "Who is still active: P(alive) by frequency and recency",
        "Model check: calibration vs holdout",
        "Needs segments",
        "Tiers within segments",
        "Tier migration 2025-06-30 to",
        "Loyalty and profitability",
    ):
        assert title in page
    # The recommended action per tier, and one interpretation sentence per chart.
    assert "Retain: protect the relationship" in page
    assert "Grow: cross-sell and up-sell" in page
    assert "cut the cost to serve" in page
    assert re.search(r"The top 10% of customers carry \d+% of the positive customer equity", page)
    assert "95% interval" in page
    # The model's grade from its 13-week holdout, in the banner, and what the interval covers.
    assert re.search(r"<strong>Model grade: (good|rough|do not use)\.</strong>", page)
    assert "(parameter uncertainty only)" in page
    assert re.search(r"Half the customers are worth less than -?[\d,.]+ over the horizon", page)
    assert "in standard deviations (red above, blue below)" in page  # the segment profiles
    assert "Trust the CLV ranking when the bars agree" not in page
    # Self-contained: no external scripts, styles or images.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", page)


def test_report_refuses_an_empty_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["report", "--out", str(tmp_path / "r.html"), "-w", url]) == 65
    assert "No customer_value table; run `patron value score` first." in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", "--out", str(tmp_path / "r.pdf"), "-w", url]) == 2


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (python3 dev.py test installs it when it can)",
)
def test_report_in_a_real_browser(report: Path) -> None:
    assert check_in_browser(report) >= 8


def test_report_on_the_online_retail_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shared_file("online_retail", "online_retail.csv")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["load", "transactions", str(data), "-w", url]) == 0
    assert main(["value", "score", "-w", url]) == 0
    assert main(["segment", "-w", url]) == 0
    path = tmp_path / "retail.html"
    assert main(["report", "--out", str(path), "-w", url]) == 0
    capsys.readouterr()
    page = path.read_text(encoding="utf-8")
    assert "Data up to 2011-12-09" in page
    assert "Model check: calibration vs holdout" in page
    # Fitted on the data up to 2011-09-09 alone, BG/NBD finds no dropout (the likelihood is
    # highest where nobody leaves): the check runs on the purchase process alone and says so.
    assert "Not available" not in page
    assert "Fitted up to 2011-09-09 and checked on the following 13 weeks" in page
    assert "No customer dropout was visible up to then" in page
    # The check refits with the scoring's own penalizer.
    spec = SummarySpec("week", date(2011, 9, 9), date(2011, 12, 9))
    for penalizer in (0.0, 1.0):
        if penalizer:
            assert main(["value", "score", "--penalizer", "1", "-w", url]) == 0
            assert main(["report", "--out", str(path), "-w", url]) == 0
            capsys.readouterr()
        shown = re.search(r"the model predicted ([\d,]+)", path.read_text(encoding="utf-8"))
        assert shown is not None
        with summary_from_warehouse(connect(url), spec) as source:
            fit = fit_purchase_model(source, "bgnbd", penalizer=penalizer)
            predicted = holdout_report(source, fit, track=False).totals["predicted"]
        assert shown.group(1) == f"{predicted:,.0f}"
        if not penalizer:
            unpenalized = shown.group(1)
    assert shown.group(1) != unpenalized
    assert "needs segments" in page.lower()
    if CHROMIUM is not None:
        # Lorenz, CLV spread, top customers, holdout, segment profiles, tiers within
        # segments, migration; no P(alive) grid: the model cannot tell who has left
        assert check_in_browser(path) == 7

"""The manager's report carries no CLI commands: notes keep what they say about the data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import simulate_shop
from patron.report.customer_value import for_managers


def test_for_managers_leaves_out_the_analysts_instructions() -> None:
    note = (
        "No costs are known: below-zero customers cannot be identified, so no BZ tier is "
        "assigned; score with `patron value score --cost-to-serve` (per customer per year)."
    )
    assert for_managers(note) == (
        "No costs are known: below-zero customers cannot be identified, so no BZ tier is assigned."
    )
    assert for_managers("Try `--penalizer 0.001`.") == ""
    assert for_managers("Nothing to run here.") == "Nothing to run here."


def _visible_text(html: str) -> str:
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_report_shows_no_command_line(tmp_path: Path) -> None:
    shop = simulate_shop(1_500, tmp_path / "shop", seed=4)
    url = ["-w", f"duckdb://{tmp_path / 'w.duckdb'}"]
    # Transactions only: no costs, so the run's notes tell the analyst what to run.
    assert main(["load", "transactions", str(shop.files["transactions"]), *url]) == 0
    assert main(["value", "score", *url]) == 0
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), *url]) == 0
    text = _visible_text(out.read_text())
    assert "cannot be identified without costs" in text or "cannot be identified" in text
    assert "with no costs known, no one can show as below zero" in text
    assert not re.search(r"(?:^|[\s(])--[a-z]", text), re.findall(r".{40}--[a-z].{20}", text)
    assert "patron " not in text.lower().replace("patron 0.", "")


def test_the_value_basis_has_no_option_in_it() -> None:
    from patron.report.customer_value import _basis_words

    assert _basis_words("revenue (no costs known: pass --margin-rate)") == (
        "revenue (no costs known)"
    )


def test_money_reads_as_a_manager_writes_it() -> None:
    from patron.report import Money

    assert Money()(0.4249) == "0.42"
    assert Money()(-0.001) == "0"
    assert Money()(12_345.6) == "12,346"
    assert Money("£")(-12.5) == "-£12.50"
    assert Money("EUR", 0)(1234.5) == "EUR 1,234"
    assert Money()(float("nan")) == "-"


def test_the_report_writes_amounts_in_the_currency_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = simulate_shop(800, tmp_path / "shop", seed=4)
    url = ["-w", f"duckdb://{tmp_path / 'w.duckdb'}"]
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop.files[table]), *url]) == 0
    assert main(["value", "score", "--no-check", *url]) == 0
    out = tmp_path / "r.html"
    monkeypatch.setenv("PATRON_CURRENCY", "£")
    assert main(["report", "--out", str(out), *url]) == 0
    assert re.search(r"Customer equity<b>£[\d,]+</b>", out.read_text())
    assert (
        main(["report", "--out", str(out), "--currency", "EUR", "--money-decimals", "2", *url]) == 0
    )
    assert re.search(r"Customer equity<b>EUR [\d,]+\.\d\d</b>", out.read_text())
    monkeypatch.setenv("PATRON_MONEY_DECIMALS", "9")
    capsys.readouterr()
    assert main(["report", "--out", str(out), *url]) == 78
    assert "PATRON_MONEY_DECIMALS" in capsys.readouterr().err

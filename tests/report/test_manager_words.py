"""The manager's report carries no CLI commands: notes keep what they say about the data."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert not re.search(r"(?:^|[\s(])--[a-z]", text), re.findall(r".{40}--[a-z].{20}", text)
    assert "patron " not in text.lower().replace("patron 0.", "")

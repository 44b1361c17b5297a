"""An experiment without evidence says so in words: no NaN, no analysis of an empty window."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from patron.cli import main
from patron.data import simulate_shop
from patron.measure.analysis import analyze_table


def test_an_outcome_without_variation_gives_words_not_nan() -> None:
    table = ibis.memtable(
        {"arm": ["a"] * 20 + ["control"] * 20, "spend": [0.0] * 40, "pre": [0.0] * 40}
    )
    result = analyze_table(table, arm="arm", control="control", metrics=["spend"], pre="pre")
    words = result.results[0]["summary"]
    assert "nan" not in words.lower()
    assert "no interval can be computed" in words


def test_a_window_after_the_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = simulate_shop(300, tmp_path / "shop", seed=2)
    url = ["-w", f"duckdb://{tmp_path / 'w.duckdb'}"]
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop.files[table]), *url]) == 0
    args = ["--arms", "offer:0.8,control:0.2", "--start", "2026-03-01", "--end", "2026-04-30"]
    assert main(["experiment", "create", "spring", *args, *url]) == 0
    capsys.readouterr()
    assert main(["experiment", "analyze", "spring", "--metric", "revenue", *url]) == 65
    err = capsys.readouterr().err
    assert "No transactions since the experiment's start 2026-03-01 (they end on" in err
    assert "Load the transactions of the campaign window" in err

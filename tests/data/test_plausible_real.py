"""Impossible values on a real log (the CDNOW 1/10 sample): rejected at the door, so the
numbers a manager sees are the same as without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import connect
from tests.conftest import shared_file

MAP = ["--map", "customer_id=column2", "--map", "timestamp=column3", "--map",
       "quantity=column4", "--map", "amount=column5", "--date-format", "%Y%m%d"]  # fmt: skip
BAD = (
    " 99901 9901 20970101  1   15.00\n"  # a purchase in 2097
    " 99902 9902 00010101  1   15.00\n"  # year 1
    " 99903 9903 19970105  1   inf\n"
    " 99904 9904 19970105  1   NaN\n"
    " 99905 9905 19970105  1   1e308\n"
)


def equity(url: str, capsys: pytest.CaptureFixture[str]) -> float:
    capsys.readouterr()
    assert main(["value", "score", "--json", "-w", url]) == 0
    return float(json.loads(capsys.readouterr().out)["customer_equity"])


def test_bad_rows_in_cdnow_are_rejected_and_equity_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = shared_file("cdnow", "CDNOW_sample.txt")
    text = sample.read_text()
    lines = text.count("\n")
    bad = tmp_path / "cdnow_with_bad_rows.txt"
    bad.write_text(text + BAD)
    clean_url = f"duckdb://{tmp_path / 'clean.duckdb'}"
    bad_url = f"duckdb://{tmp_path / 'bad.duckdb'}"
    assert main(["load", "transactions", str(sample), *MAP, "-w", clean_url]) == 0
    capsys.readouterr()
    assert main(["load", "transactions", str(bad), *MAP, "-w", bad_url, "--json"]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert f["rows_read"] == 6_919 + 5
    assert f["rows_loaded"] == 6_919
    reasons = {r["reason"].split(" (")[0]: r["first_lines"] for r in f["rejections"]}
    assert reasons["timestamp outside 1970-01-01 .. " + reasons_end(f)] == [lines + 1, lines + 2]
    assert reasons["non-finite amount"] == [lines + 3, lines + 4]
    assert reasons["amount beyond ±1,000,000,000"] == [lines + 5]
    # Before: the 2097 row stretched every customer's T and the inf/NaN rows blocked scoring.
    assert equity(bad_url, capsys) == pytest.approx(equity(clean_url, capsys), rel=1e-12)
    code = main(["load", "transactions", str(bad), *MAP, "-w", bad_url, "--strict",
                 "--replace"])  # fmt: skip
    assert code == 65


def reasons_end(report: dict[str, object]) -> str:
    """The window's end as the report states it (tomorrow)."""
    rejections = report["rejections"]
    assert isinstance(rejections, list)
    text = next(r["reason"] for r in rejections if r["reason"].startswith("timestamp"))
    return str(text).rsplit(" ", 1)[-1]


def test_a_customers_table_with_an_impossible_cost_stops_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A customers table written by another tool (the loader rejects such rows): NaN and
    # -inf CLVs, a NaN customer among the MVCs and an infinite equity, all with exit 0.
    sample = shared_file("cdnow", "CDNOW_sample.txt")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["load", "transactions", str(sample), *MAP, "-w", url]) == 0
    with connect(url) as wh:
        wh.con.raw_sql(
            "CREATE TABLE customers AS SELECT '0001' AS customer_id, "
            "'NaN'::DOUBLE AS cost_to_serve UNION ALL SELECT '0002', 'inf'::DOUBLE"
        )
    capsys.readouterr()
    assert main(["value", "score", "-w", url]) == 65
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: The customers table has 2 cost_to_serve value(s)")
    assert "\n" not in err
    with connect(url) as wh:
        assert not wh.has_table("customer_value")

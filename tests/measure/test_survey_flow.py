"""The whole survey flow through the CLI on the simulated shop: simulate --survey, load,
score, satisfaction, relationship levels, B2B potential and the report that shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from scipy import stats

from patron.cli._app import main


def test_simulated_survey_links_satisfaction_to_dropout(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    assert main(["simulate", "-n", "800", "--seed", "3", "--out", str(shop), "--survey"]) == 0
    responses = pcsv.read_csv(shop / "responses.csv").to_pylist()
    truth = {r["customer_id"]: r for r in pq.read_table(shop / "truth.parquet").to_pylist()}
    ours = [r for r in responses if r["brand"] == "ours"]
    assert all(r["customer_id"] in truth for r in ours)
    assert {r["brand"] for r in responses} == {"ours", "Rival A", "Rival B"}
    rho = stats.spearmanr(
        [r["overall"] for r in ours], [truth[r["customer_id"]]["dropout_probability"] for r in ours]
    )
    assert rho.statistic < -0.3  # the known link: less satisfied customers drop out more
    assert rho.pvalue < 1e-6
    known = json.loads((shop / "survey_truth.json").read_text())
    assert known["fix_first"]["2025-03-01"] == ["quality", "delivery", "range"]
    ratings = pcsv.read_csv(shop / "b2b_ratings.csv")
    assert ratings.num_rows > 0
    assert ratings.column_names[0] == "customer_id"


def test_cli_flow_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    w = ["-w", url]
    assert main(["simulate", "-n", "1500", "--seed", "5", "--out", str(shop), "--survey"]) == 0
    assert main(["load", "customers", str(shop / "customers.parquet"), *w]) == 0
    assert main(["load", "transactions", str(shop / "transactions.parquet"), *w]) == 0
    assert main(["load", "responses", str(shop / "responses.csv"), *w]) == 0
    assert main(["value", "score", *w]) == 0
    assert main(["tiers", *w]) == 0
    capsys.readouterr()
    assert main(["satisfaction", "--by", "tier", "--behaviour", "--json", *w]) == 0
    sat = json.loads(capsys.readouterr().out)
    assert {g["tier"] for g in sat["groups"]} <= {"MVC", "MGC", "BZ", "other"}
    assert "not a cause" in sat["behaviour"]["causation"]
    assert main(["relationship", "--json", *w]) == 0
    rel = json.loads(capsys.readouterr().out)
    assert rel["customers"] == 1500
    assert "patron interact export" in rel["notes"][0]
    assert main(["relationship", "--customer", "C0000001", *w]) == 0
    assert "recommended" in capsys.readouterr().out
    args = ["--ratings", str(shop / "b2b_ratings.csv"), "--weights", str(shop / "b2b_weights.yaml")]
    assert main(["b2b", "--json", *args, *w]) == 0
    b2b = json.loads(capsys.readouterr().out)
    assert b2b["rated"] == b2b["business_customers"] > 0
    bad = tmp_path / "w.yaml"
    bad.write_text("monetary: 0.5\nsize: 0.5\n")
    assert (
        main(["b2b", "--ratings", str(shop / "b2b_ratings.csv"), "--weights", str(bad), *w]) == 65
    )
    assert "unknown factor 'size'" in capsys.readouterr().err
    report = tmp_path / "cva.html"
    assert main(["cva", "report", "--out", str(report), *w]) == 0
    html = report.read_text()
    for title in (
        "Satisfaction over the waves",
        "Satisfaction and behaviour",
        "Attributes to fix first",
        "Customer perceived value map",
        "Relationship levels",
        "Business customers: value against potential",
    ):
        assert title in html
    # The levels reach the agent screen once published (the screen reads only the store).
    s = ["--store", f"sqlite:///{tmp_path / 'store.sqlite'}"]
    assert main(["store", "upgrade", *s]) == 0
    assert main(["publish", *w, *s]) == 0
    capsys.readouterr()
    levels = {
        r["customer_id"]: r for r in (duckdb_rows(tmp_path / "w.duckdb", "customer_relationships"))
    }
    gap = next(r for r in levels.values() if r["current_level"] != r["recommended_level"])
    assert main(["agent", gap["customer_id"], "--json", *s]) == 0
    screen = json.loads(capsys.readouterr().out)
    assert screen["relationship"]["current"] == gap["current_level"]
    assert screen["relationship"]["recommended"] == gap["recommended_level"]
    assert screen["relationship"]["actions"]  # the gap as actions
    assert main(["agent", gap["customer_id"], *s]) == 0
    assert f"Relationship: {gap['current_level']}" in capsys.readouterr().out


def duckdb_rows(path: Path, table: str) -> list[dict[str, object]]:
    """A small warehouse table's rows (a test helper)."""
    from patron.data.warehouse import connect

    with connect(f"duckdb://{path}") as wh:
        return list(wh.table(table).to_pyarrow().to_pylist())

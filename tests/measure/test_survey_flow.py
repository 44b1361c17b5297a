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

"""An experiment on PostgreSQL assigns the same customers and measures the same lift as DuckDB.

The shop is loaded into DuckDB and its rows copied over (Patron cannot load files into
PostgreSQL yet), as a company's own tables would be there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patron.cli import main
from patron.data import connect, simulate_shop
from patron.measure.experiments import ASSIGNMENTS_TABLE, EXPERIMENTS_TABLE

pytestmark = pytest.mark.postgres


def _experiment(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[Any, list[Any]]:
    args = ["--arms", "treat:0.5,control:0.5", "--start", "2025-10-01", "--end", "2025-12-28"]
    assert main(["experiment", "create", "promo", *args, "--salt", "k", "--stratify", "region",
                 "-w", url]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["experiment", "analyze", "promo", "--metric", "revenue,conversion", "--pre",
                 "period", "--json", "-w", url]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    wh = connect(url)
    a = wh.table(ASSIGNMENTS_TABLE)
    arms = sorted(a.select("customer_id", "arm", "stratum").to_pyarrow().to_pylist(), key=str)
    wh.close()
    return report, arms


def test_an_experiment_on_postgres_is_the_duckdb_one(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = simulate_shop(2000, tmp_path / "shop", seed=21)
    duck_url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop.files[table]), "-w", duck_url]) == 0
    duck, pg = connect(duck_url), connect(postgres_url)
    for table in ("customers", "transactions"):
        pg.con.create_table(table, duck.table(table).to_pyarrow(), overwrite=True)
    for table in (EXPERIMENTS_TABLE, ASSIGNMENTS_TABLE):
        pg.drop(table)
    duck.close()
    pg.close()
    # Before: the assignment hash (Ibis's hexdigest) did not compile for PostgreSQL, and the
    # conversion outcome cast a boolean to bigint, which PostgreSQL refuses.
    pg_report, pg_arms = _experiment(postgres_url, capsys)
    duck_report, duck_arms = _experiment(duck_url, capsys)
    assert pg_arms == duck_arms
    assert len(pg_arms) == 2000
    assert pg_report["sample_ratio"]["counts"] == duck_report["sample_ratio"]["counts"]
    for mine, theirs in zip(pg_report["results"], duck_report["results"], strict=True):
        assert mine["metric"] == theirs["metric"]
        for key in ("control_mean", "arm_mean", "lift", "ci_low", "ci_high", "p_value"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-9), (mine["metric"], key)

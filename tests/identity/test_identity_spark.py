"""Identity resolution on PySpark gives the same map as on DuckDB (same records, same ids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.data import connect, load
from patron.data.warehouse import Warehouse
from patron.identity import ResolveOptions, resolve_identities
from tests.identity.conftest import map_rows, random_people, write_records

pytestmark = pytest.mark.spark


def test_deterministic_identity_on_spark_equals_duckdb(spark_wh: Warehouse, tmp_path: Path) -> None:
    rows = random_people(3, 400)
    rows[0]["phone"] = rows[1]["phone"] = "0000000000"  # placeholders: never link
    path = write_records(rows, tmp_path / "ids.parquet")
    options = ResolveOptions(deterministic_only=True, max_shared=3)
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        load(duck, "identities", [str(path)])
        expected = resolve_identities(duck, options)
        expected_map = map_rows(duck)
    load(spark_wh, "identities", [str(path)])
    got = resolve_identities(spark_wh, options)
    assert map_rows(spark_wh) == expected_map
    assert got.to_dict() == expected.to_dict()


def test_splink_runs_on_spark_with_the_febrl_accuracy(spark_wh: Warehouse, tmp_path: Path) -> None:
    """Splink's Spark backend, on the warehouse's session, links FEBRL 1 as well as DuckDB."""
    from patron.identity import probabilistic
    from tests.identity.conftest import pairwise_scores, write_identities

    path = write_identities("febrl1", tmp_path / "febrl1.parquet")
    load(spark_wh, "identities", [str(path)])
    assert probabilistic._spark_session(spark_wh) is not None  # Splink's SparkAPI, not DuckDB
    report = resolve_identities(spark_wh)
    # (the session's Spark warehouse holds other tests' records too)
    rows = [
        r
        for r in spark_wh.con.table("identity_map").to_pyarrow().to_pylist()
        if str(r["record_id"]).startswith("rec-")
    ]
    assert len(rows) == 1000
    scores = pairwise_scores(rows, across_sources=False)
    assert scores["f1"] >= 0.997, scores
    assert report.links_by_rule["probabilistic"] > 0
    # Every link keeps its explanation: a match weight per field, from the Spark run.
    links = spark_wh.con.table("identity_links").to_pyarrow().to_pylist()
    assert links
    assert all(link["w_date_of_birth"] is not None for link in links)
    session = probabilistic._spark_session(spark_wh)
    assert not [t for t in session.catalog.listTables() if t.name.startswith("__splink__")]

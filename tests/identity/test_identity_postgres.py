"""Deterministic identity resolution on PostgreSQL gives the same map as on DuckDB.

The identity records are written into it directly, as another tool would have (``patron load``
into PostgreSQL has its own tests: tests/data/test_load_postgres.py); the run itself
(normalisation, edges, components, stable ids) is the same code on both engines.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest

from patron.data import connect, load
from patron.data.contracts import contract_for
from patron.data.loader import table_schema
from patron.identity import ResolveOptions, resolve_identities
from tests.identity.conftest import (
    map_rows,
    pairwise_scores,
    random_people,
    write_identities,
    write_records,
)

pytestmark = pytest.mark.postgres


def test_deterministic_identity_on_postgres_equals_duckdb(
    postgres_url: str, tmp_path: Path
) -> None:
    rows = random_people(7, 300)
    rows[0]["email"] = rows[1]["email"] = "test@test.com"  # placeholders: never link
    path = write_records(rows, tmp_path / "ids.parquet")
    options = ResolveOptions(deterministic_only=True, max_shared=3)
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        load(duck, "identities", [str(path)])
        expected = resolve_identities(duck, options)
        expected_map = map_rows(duck)
        loaded = duck.con.table("identities").to_pyarrow()
    with connect(postgres_url) as pg:
        schema = table_schema(contract_for("identities"))
        pg.con.create_table("identities", ibis.memtable(loaded).cast(schema), overwrite=True)
        got = resolve_identities(pg, options)
        assert map_rows(pg) == expected_map
    assert got.to_dict() == expected.to_dict()
    assert pq.read_table(path).num_rows == got.records


def test_probabilistic_identity_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """Splink runs on a private DuckDB fed from PostgreSQL; the map is as good as on DuckDB."""
    path = write_identities("febrl1", tmp_path / "febrl1.parquet")
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        load(duck, "identities", [str(path)])
        expected = resolve_identities(duck)
        loaded = duck.con.table("identities").to_pyarrow()
    with connect(postgres_url) as pg:
        schema = table_schema(contract_for("identities"))
        pg.con.create_table("identities", ibis.memtable(loaded).cast(schema), overwrite=True)
        for name in ("identity_map", "identity_runs", "identity_changes", "identity_links"):
            pg.drop(name)  # left by the test above on the same server
        got = resolve_identities(pg)
        rows = pg.con.table("identity_map").to_pyarrow().to_pylist()
        links = int(pg.con.table("identity_links").count().to_pyarrow().as_py())
    assert pairwise_scores(rows, across_sources=False)["f1"] >= 0.997
    assert got.links_by_rule == expected.links_by_rule
    assert links == expected.links_by_rule["probabilistic"]

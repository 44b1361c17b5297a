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

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from patron.data.warehouse import Warehouse, connect

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PATRON_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (set PATRON_SHARED_DATA to its folder)")
    return path


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = connect(f"duckdb://{tmp_path / 'test.duckdb'}")
    yield warehouse
    warehouse.close()


def require_spark() -> None:
    """Skip the test, with the reason, where a local Spark session cannot start."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH; Spark needs Java 17+")


@pytest.fixture(scope="session")
def spark_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """One local Spark warehouse for the whole test session (Spark starts slowly)."""
    require_spark()
    directory = tmp_path_factory.mktemp("spark")
    warehouse = connect(f"pyspark://{directory}")
    yield warehouse
    warehouse.con._session.stop()


def snapshot(warehouse: Warehouse) -> dict[str, object]:
    """Everything a failed load must leave unchanged: tables, row counts, ledger rows."""
    state: dict[str, object] = {}
    for name in warehouse.list_tables():
        if name.startswith("ibis_"):
            continue
        table = warehouse.con.table(name)
        state[name] = int(table.count().execute())
        if name == "_patron_loads":
            state["ledger"] = sorted(table.content_hash.execute().tolist())
    return state

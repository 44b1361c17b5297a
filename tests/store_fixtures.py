"""Stores for tests: a SQLite file in tmp_path, or a fresh database on the test PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from patron.data.warehouse import connect
from patron.store import Store, open_store, upgrade_store
from patron.store.publish import PublishResult, publish_profiles

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def pg_store_url(server_url: str, name: str) -> str:
    """A new empty database ``name`` on the test server; its URL for the store."""
    base = "postgresql+psycopg://" + server_url.split("://", 1)[1]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store (no tables yet), on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    server: str = request.getfixturevalue("postgres_url")
    return pg_store_url(server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store at the current revision, on SQLite or PostgreSQL."""
    upgrade_store(store_url)
    handle = open_store(store_url)
    yield handle
    handle.close()


def publish_test_profiles(
    store: Store, tmp_path: Path, rows: list[dict[str, Any]], name: str = "wh"
) -> PublishResult:
    """Publish hand-made profiles through the real publish, from a small DuckDB warehouse.

    Each row has ``customer_id`` and any of the ``customer_value`` columns (tier, clv, ...)
    and of the ``customers`` columns (email, phone, time_zone, customer_type).
    """
    value_cols = ("clv", "clv_low", "clv_high", "p_alive", "tier", "segment", "loyalty")
    customer_cols = ("email", "phone", "time_zone", "customer_type")
    ids = [r["customer_id"] for r in rows]
    value = {"customer_id": ids}
    for col in value_cols:
        default: Any = 0.0 if col.startswith(("clv", "p_")) else None
        value[col] = [r.get(col, default) for r in rows]
    customers = {"customer_id": ids}
    for col in customer_cols:
        customers[col] = [r.get(col) for r in rows]
    wh = connect(f"duckdb://{tmp_path / f'{name}-{uuid.uuid4().hex[:6]}.duckdb'}")
    try:
        wh.create_table(
            "customer_value",
            pa.table(
                {
                    k: pa.array(v, pa.float64() if k.startswith(("clv", "p_")) else pa.string())
                    for k, v in value.items()
                }
            ),
        )
        wh.create_table(
            "customers", pa.table({k: pa.array(v, pa.string()) for k, v in customers.items()})
        )
        return publish_profiles(wh, store, source="test")
    finally:
        wh.close()

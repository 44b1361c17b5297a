"""Stores for tests: a SQLite file in tmp_path, or a fresh database on the test PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.store import Store, open_store, upgrade_store

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

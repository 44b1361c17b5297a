from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.errors import ConfigError, StoreError
from patron.store import Store, head_revision, open_store, schema, store_status, upgrade_store


def test_migrate_from_empty_matches_the_table_definitions(store_url: str) -> None:
    before, after = upgrade_store(store_url)
    assert before is None
    assert after == head_revision()
    with open_store(store_url) as store, store.read() as conn:
        inspector = sa.inspect(conn)
        present = set(inspector.get_table_names()) - {"alembic_version"}
        assert present == set(schema.metadata.tables)
        for table in schema.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == set(table.c.keys()), table.name
            indexes = {i["name"] for i in inspector.get_indexes(table.name)}
            declared = {i.name for i in table.indexes}
            assert declared <= indexes, table.name
    # Upgrading again is a no-op.
    assert upgrade_store(store_url) == (head_revision(), head_revision())


def test_revision_1_store_upgrades_without_loss(store_url: str) -> None:
    upgrade_store(store_url, "0001")
    with pytest.raises(
        StoreError, match=r"revision 0001; this Patron needs .*patron store upgrade"
    ):
        open_store(store_url)
    # Rows written by revision 1 (raw SQL: revision 1 has no question_id column).
    at = datetime(2026, 1, 2, 3, 4, 5)
    old = Store(sa.create_engine(store_url), "old")
    try:
        with old.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO touchpoints (customer_id, channel, direction, kind, occurred_at,"
                    " recorded_at, idempotency_key) VALUES (:c, 'phone', 'inbound', 'inquiry',"
                    " :t, :t, :k)"
                ),
                [{"c": f"C{i}", "t": at, "k": f"k{i}"} for i in range(50)],
            )
            conn.execute(
                sa.text(
                    "INSERT INTO consents (customer_id, channel, purpose, state, recorded_at,"
                    " source) VALUES ('C1', 'email', 'marketing', 'granted', :t, 'web form')"
                ),
                {"t": at},
            )
    finally:
        old.close()
    assert upgrade_store(store_url) == ("0001", head_revision())
    with open_store(store_url) as store, store.read() as conn:
        rows = conn.execute(sa.select(schema.touchpoints).order_by(schema.touchpoints.c.id)).all()
        assert len(rows) == 50
        assert rows[7].customer_id == "C7"
        assert rows[7].idempotency_key == "k7"
        assert rows[7].occurred_at == at
        assert rows[7].question_id is None  # the new column, empty for old rows
        consent = conn.execute(sa.select(schema.consents)).one()
        assert (consent.customer_id, consent.state, consent.source) == ("C1", "granted", "web form")
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.facts)).scalar() == 0


def test_empty_store_is_refused_with_the_command_to_run(store_url: str) -> None:
    if store_url.startswith("sqlite"):
        path = Path(store_url.removeprefix("sqlite:///"))
        with pytest.raises(StoreError, match=r"There is no store at .*patron store upgrade"):
            open_store(store_url)
        assert not path.exists()  # looking did not create it
        path.touch()
    with pytest.raises(StoreError, match=r"no Patron tables yet; create them with `patron store"):
        open_store(store_url)


def test_status_counts_and_revision(store: Store, store_url: str) -> None:
    status = store_status(store_url)
    assert status.current
    assert status.revision == head_revision()
    assert status.publication is None
    assert status.counts["touchpoints"] == 0
    assert set(status.counts) == set(schema.metadata.tables)


def test_unknown_revision_is_refused(store_url: str) -> None:
    upgrade_store(store_url)
    with open_store(store_url) as store, store.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'zz99'"))
    with pytest.raises(StoreError, match="zz99, which this Patron does not know"):
        open_store(store_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("duckdb://x.duckdb", "runs on SQLite"),
        ("sqlite://", "in-memory SQLite store"),
        ("not a url", "is not a URL"),
    ],
)
def test_bad_store_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url)
    with open_store(url) as store, store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"folder .*nowhere does not exist"):
        upgrade_store(f"sqlite:///{tmp_path / 'nowhere' / 's.sqlite'}")


def test_upgrade_to_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with pytest.raises(StoreError, match="Cannot upgrade the store to 'zz': Can't locate"):
        upgrade_store(url, "zz")


def test_status_of_an_old_store_says_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url, "0002")
    status = store_status(url)
    assert (status.revision, status.current) == ("0002", False)
    assert status.to_dict()["head"] == head_revision()


@pytest.mark.skipif(os.name != "posix", reason="the writer lock file is POSIX (flock)")
def test_sqlite_writers_of_two_processes_queue_on_the_lock_file(tmp_path: Path) -> None:
    """A write waits while another process holds the store's writer lock, then proceeds."""
    import fcntl

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    with open_store(url) as store:
        with store.write() as conn:  # the lock file exists once a write has run
            conn.execute(sa.insert(schema.store_meta).values(key="k0", value="0"))
        lock = tmp_path / "store.sqlite-writer.lock"
        assert lock.exists()
        # Another open file description of the lock file: another process, for flock.
        other = os.open(lock, os.O_RDWR)
        fcntl.flock(other, fcntl.LOCK_EX)
        done = threading.Event()

        def write() -> None:
            with store.write() as conn:
                conn.execute(sa.insert(schema.store_meta).values(key="k1", value="1"))
            done.set()

        worker = threading.Thread(target=write)
        worker.start()
        try:
            assert not done.wait(0.3)  # queued behind the other process's lock
        finally:
            fcntl.flock(other, fcntl.LOCK_UN)
            os.close(other)
        worker.join(10)
        assert done.is_set()
        with store.read() as conn:
            keys = set(conn.execute(sa.select(schema.store_meta.c.key)).scalars())
        assert {"k0", "k1"} <= keys

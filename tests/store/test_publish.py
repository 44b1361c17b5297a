from __future__ import annotations

import threading
from pathlib import Path

import ibis
import pytest
import sqlalchemy as sa

from patron.data.warehouse import connect
from patron.errors import DataError, NotFoundError, UsageError
from patron.interact import live_profile, resolve_customer
from patron.store import Store, store_status
from patron.store.publish import live_publication, normalise_identifier, publish_profiles
from patron.store.schema import identifiers, profiles, publications
from tests.store_fixtures import publish_test_profiles

ROWS = [
    {
        "customer_id": "C1",
        "clv": 120.5,
        "clv_low": 80.0,
        "clv_high": 170.0,
        "p_alive": 0.8,
        "tier": "MVC",
        "email": " Ann@Example.COM ",
        "phone": "+44 20 7946 0958",
        "time_zone": "Europe/London",
        "customer_type": "end_user",
    },
    {"customer_id": "C2", "clv": -3.0, "tier": "BZ", "email": "bob@example.com"},
    {"customer_id": "C3", "clv": float("nan"), "tier": "other", "phone": "0171 555"},
]


def test_publish_profiles_and_identifiers(store: Store, store_url: str, tmp_path: Path) -> None:
    result = publish_test_profiles(store, tmp_path, ROWS)
    assert (result.customers, result.previous) == (3, None)
    assert result.identifiers == 2 + 2  # e-mails, phones (ids are found in profiles)
    with store.read() as conn:
        assert live_publication(conn) == result.publication
        c1 = live_profile(conn, "C1")
        assert c1 is not None
        assert (c1.clv, c1.clv_low, c1.clv_high, c1.tier) == (120.5, 80.0, 170.0, "MVC")
        assert (c1.time_zone, c1.customer_type) == ("Europe/London", "end_user")
        c3 = live_profile(conn, "C3")
        assert c3 is not None
        assert c3.clv is None  # NaN never reaches the store
        assert resolve_customer(conn, "ann@example.com") == "C1"
        assert resolve_customer(conn, "+442079460958") == "C1"
        assert resolve_customer(conn, "+44 (20) 7946-0958") == "C1"
        assert resolve_customer(conn, "C2") == "C2"
        assert resolve_customer(conn, "0171555") == "C3"
        with pytest.raises(NotFoundError, match=r"No published customer has .*'zed@example.com'"):
            resolve_customer(conn, "zed@example.com")
    status = store_status(store_url)
    assert status.publication == result.publication
    assert status.counts["profiles"] == 3


def test_shared_identifier_is_ambiguous(store: Store, tmp_path: Path) -> None:
    publish_test_profiles(
        store,
        tmp_path,
        [{"customer_id": "A", "email": "home@x.org"}, {"customer_id": "B", "email": "home@x.org"}],
    )
    with store.read() as conn, pytest.raises(UsageError, match="belongs to 2 customers \\(A, B\\)"):
        resolve_customer(conn, "home@x.org")


def test_no_publication_yet(store: Store) -> None:
    with store.read() as conn, pytest.raises(NotFoundError, match="run `patron publish` first"):
        resolve_customer(conn, "C1")


def test_republish_flips_atomically_and_keeps_one_previous(store: Store, tmp_path: Path) -> None:
    n = 400
    wh = connect(f"duckdb://{tmp_path / 'flip.duckdb'}")
    first = second = None
    try:

        def publish(tier: str) -> int:
            wh.create_table(
                "customer_value",
                ibis.memtable(
                    {
                        "customer_id": [f"C{i}" for i in range(n)],
                        "clv": [1.0] * n,
                        "tier": [tier] * n,
                    }
                ),
                overwrite=True,
            )
            return publish_profiles(wh, store, batch_size=25).publication

        first = publish("A")
        stop = threading.Event()
        seen: list[dict[str, int]] = []

        def reader() -> None:
            while not stop.is_set():
                with store.read() as conn:
                    pub = live_publication(conn)
                    rows = conn.execute(
                        sa.select(profiles.c.tier, sa.func.count())
                        .where(profiles.c.publication_id == pub)
                        .group_by(profiles.c.tier)
                    ).all()
                seen.append({str(t): int(c) for t, c in rows})

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            second = publish("B")
            third = publish("C")
        finally:
            stop.set()
            thread.join()
    finally:
        wh.close()
    assert len(seen) > 3
    assert all(s in ({"A": n}, {"B": n}, {"C": n}) for s in seen), seen[:5]  # never a mix
    with store.read() as conn:
        status = dict(conn.execute(sa.select(publications.c.id, publications.c.status)).all())
        kept = set(conn.execute(sa.select(profiles.c.publication_id).distinct()).scalars())
    assert status == {first: "retired", second: "previous", third: "live"}
    assert kept == {second, third}


def test_failed_publish_leaves_the_live_one(store: Store, tmp_path: Path) -> None:
    good = publish_test_profiles(store, tmp_path, ROWS)
    wh = connect(f"duckdb://{tmp_path / 'bad.duckdb'}")
    try:
        wh.create_table(
            "customer_value", ibis.memtable({"customer_id": ["X1", "X2"], "clv": [1.0, 2.0]})
        )
        extra = ibis.memtable({"customer_id": ["X1"], "kind": ["fingerprint"], "value": ["f"]})
        with pytest.raises(DataError, match="Identifier kind 'fingerprint' is not one of"):
            publish_profiles(wh, store, extra_identifiers=extra)
    finally:
        wh.close()
    with store.read() as conn:
        assert live_publication(conn) == good.publication
        assert live_profile(conn, "X1") is None
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(profiles)
                .where(profiles.c.customer_id == "X1")
            ).scalar()
            == 0
        )
        failed = conn.execute(
            sa.select(publications.c.status).where(publications.c.id != good.publication)
        ).scalar_one()
        assert failed == "failed"


def test_extra_identifiers_hook(store: Store, tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'ids.duckdb'}")
    try:
        wh.create_table("customer_value", ibis.memtable({"customer_id": ["K1"], "clv": [5.0]}))
        extra = ibis.memtable(
            {"customer_id": ["K1", "K1"], "kind": ["card", "source_id"], "value": ["4242", "crm-9"]}
        )
        result = publish_profiles(wh, store, extra_identifiers=extra)
    finally:
        wh.close()
    assert result.identifiers == 2
    with store.read() as conn:
        assert resolve_customer(conn, "4242") == "K1"
        assert resolve_customer(conn, "crm-9") == "K1"
        kinds = set(conn.execute(sa.select(identifiers.c.kind)).scalars())
    assert kinds == {"card", "source_id"}


def test_publish_needs_customer_value(store: Store, tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'empty.duckdb'}")
    try:
        with pytest.raises(DataError, match=r"no customer_value table .*patron value score"):
            publish_profiles(wh, store)
    finally:
        wh.close()


def test_normalise_identifier() -> None:
    assert normalise_identifier("email", " A@B.C ") == "a@b.c"
    assert normalise_identifier("phone", "+1 (415) 555-2671") == "+14155552671"
    assert normalise_identifier("phone", "0171 555") == "0171555"
    assert normalise_identifier("card", " 12 34 ") == "12 34"

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.errors import DataError, UsageError
from patron.interact import (
    Touchpoint,
    load_touchpoints,
    log_touchpoint,
    log_touchpoints,
    recent_touchpoints,
)
from patron.store import Store
from patron.store.schema import touchpoints
from tests.interact.touchpoint_worker import keys_for, log_events


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(touchpoints)).scalar_one())


def test_log_and_read_back(store: Store) -> None:
    at = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    first = log_touchpoint(
        store,
        Touchpoint("C1", "phone", "complaint", occurred_at=at, agent="ann", note="late parcel"),
    )
    second = log_touchpoint(store, Touchpoint("C1", "email", "offer_shown", direction="outbound"))
    log_touchpoint(store, Touchpoint("C2", "web", "visit"))
    recent = recent_touchpoints(store, "C1")
    assert [t.id for t in recent] == [second, first]  # newest first
    old = recent[1]
    assert old.occurred_at == datetime(2026, 3, 1, 8, 0)  # stored as UTC
    assert (old.purpose, old.agent, old.note) == ("service", "ann", "late parcel")
    assert recent[0].purpose == "marketing"  # default purpose of an offer
    assert recent[0].occurred_at is not None
    assert abs(recent[0].occurred_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(
        minutes=5
    )


def test_same_key_is_stored_once(store: Store) -> None:
    tp = Touchpoint("C1", "web", "purchase", idempotency_key="order-17")
    a = log_touchpoint(store, tp)
    b = log_touchpoint(store, Touchpoint("C1", "web", "purchase", idempotency_key="order-17"))
    ids = log_touchpoints(
        store,
        [
            Touchpoint("C2", "web", "visit", idempotency_key="v1"),
            Touchpoint("C2", "web", "visit", idempotency_key="v1"),
            Touchpoint("C1", "web", "purchase", idempotency_key="order-17"),
            Touchpoint("C3", "web", "visit"),
        ],
    )
    assert a == b == ids[2]
    assert ids[0] == ids[1] != a
    assert len(ids) == 4
    assert _count(store) == 3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Touchpoint("C1", "fax", "visit"), "Unknown channel 'fax'; use one of: web, email"),
        (Touchpoint("C1", "web", "wave"), "Unknown kind 'wave'"),
        (Touchpoint("C1", "web", "visit", direction="sideways"), "Unknown direction"),
        (Touchpoint("C1", "web", "visit", purpose="fun"), "Unknown purpose 'fun'"),
        (Touchpoint(" ", "web", "visit"), "needs a customer id"),
        (Touchpoint("C1", "web", "visit", idempotency_key=""), "idempotency key must not"),
    ],
)
def test_bad_touchpoint_writes_nothing(store: Store, bad: Touchpoint, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        log_touchpoints(store, [Touchpoint("C1", "web", "visit"), bad])
    assert _count(store) == 0


def test_load_file_twice_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tp.csv"
    lines = ["customer_id,channel,kind,direction,occurred_at,campaign,idempotency_key"]
    lines += [
        f"C{i},email,offer_shown,outbound,2026-02-0{1 + i % 9}T10:00:00,spring," for i in range(25)
    ]
    lines.append("C99,phone,inquiry,inbound,2026-02-01T09:00:00,,call-1")
    path.write_text("\n".join(lines) + "\n")
    result = load_touchpoints(store, path, batch_size=7)
    assert (result.rows, result.stored) == (26, 26)
    again = load_touchpoints(store, path, batch_size=7)
    assert (again.rows, again.stored) == (26, 0)
    assert _count(store) == 26
    assert recent_touchpoints(store, "C3")[0].campaign == "spring"


def test_bad_file_row_is_named_and_nothing_written(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tp.csv"
    path.write_text("customer_id,channel,kind\nC1,web,visit\nC2,web,visit\nC3,pigeon,visit\n")
    with pytest.raises(DataError, match=r"tp.csv, line 4: Unknown channel 'pigeon'"):
        load_touchpoints(store, path)
    assert _count(store) == 0
    path.write_text("customer_id,chanel,kind\nC1,web,visit\n")
    with pytest.raises(DataError, match="lacks the column\\(s\\) channel"):
        load_touchpoints(store, path)
    path.write_text("customer_id,channel,kind,occurred_at\nC1,web,visit,yesterday\n")
    with pytest.raises(DataError, match="line 2: Invalid isoformat string: 'yesterday'"):
        load_touchpoints(store, path)


def test_eight_processes_lose_and_duplicate_nothing(store: Store, store_url: str) -> None:
    workers, per_worker = 8, 600
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        sent = pool.starmap(
            log_events, [(store_url, w, per_worker, workers, 50) for w in range(workers)]
        )
    assert sum(sent) == workers * per_worker
    expected = {k for w in range(workers) for k in keys_for(w, per_worker, workers)}
    assert len(expected) == workers * per_worker // 2  # every key was sent twice
    with store.read() as conn:
        keys = conn.execute(sa.select(touchpoints.c.idempotency_key)).scalars().all()
    assert len(keys) == len(set(keys))  # none duplicated
    assert set(keys) == expected  # none lost

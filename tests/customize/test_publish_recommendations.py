"""Recommendations published into the store atomically, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.customize import Rules, fit_recommendations
from patron.data.warehouse import Warehouse, connect
from patron.errors import DataError
from patron.store import Store
from patron.store.recommendations import (
    live_recommendations,
    publish_recommendations,
    read_recommendations,
    read_similar_items,
)
from patron.store.schema import recommendation_runs, recommendations, similar_items
from tests.customize.log import load_log
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]


@pytest.fixture
def fitted(tmp_path: Path) -> Warehouse:
    wh = connect(f"duckdb://{tmp_path / 'wh.duckdb'}")
    load_log(wh)
    fit_recommendations(
        wh, model="cooccurrence", n=3, rules=Rules(active_days=None), params={"trend_weight": 0.0}
    )
    yield wh  # type: ignore[misc]
    wh.close()


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (recommendations, similar_items)
        }


def test_publish_then_read(store: Store, fitted: Warehouse) -> None:
    with store.read() as conn:
        assert read_recommendations(conn, "D") == []  # nothing published yet
    result = publish_recommendations(fitted, store, source="test")
    assert (result.previous, result.model, result.customers) == (None, "cooccurrence", 5)
    assert result.rows == int(fitted.table("recommendations").count().to_pyarrow().as_py())
    with store.read() as conn:
        assert live_recommendations(conn) == result.publication
        d = read_recommendations(conn, "D")
        # D bought p2: co-purchased with p1 (2 customers), p3 and p4 (1 each).
        assert [(r.rank, r.product_id, r.score) for r in d] == [
            (1, "p1", 2.0),
            (2, "p3", 1.0),
            (3, "p4", 1.0),
        ]
        assert {r.model for r in d} == {"cooccurrence"}
        assert [r.product_id for r in read_recommendations(conn, "D", n=1)] == ["p1"]
        assert read_recommendations(conn, "nobody") == []
        sim = read_similar_items(conn, "p4")
        assert [(r.product_id, r.score) for r in sim] == [("p1", 2.0), ("p2", 1.0), ("p5", 1.0)]


def test_publish_is_atomic(store: Store, fitted: Warehouse) -> None:
    first = publish_recommendations(fitted, store, source="test")
    before = counts(store)
    # A second publish that fails half-way: readers keep the first, its rows are removed.
    with pytest.raises(RuntimeError, match="on purpose"):
        publish_recommendations(fitted, store, batch_size=4, fail_after_batches=2)
    assert counts(store) == before
    with store.read() as conn:
        assert live_recommendations(conn) == first.publication
        assert [r.product_id for r in read_recommendations(conn, "D")] == ["p1", "p3", "p4"]
        statuses = dict(
            conn.execute(sa.select(recommendation_runs.c.id, recommendation_runs.c.status)).all()
        )
    assert statuses == {first.publication: "live", first.publication + 1: "failed"}
    # New recommendations: the next publish replaces the first, which is kept as previous;
    # the failed one is retired.
    fit_recommendations(fitted, model="popularity", n=2, rules=Rules(active_days=None))
    second = publish_recommendations(fitted, store)
    assert second.previous == first.publication
    third = publish_recommendations(fitted, store)
    with store.read() as conn:
        assert live_recommendations(conn) == third.publication
        assert [r.model for r in read_recommendations(conn, "D")] == ["popularity"] * 2
        statuses = dict(
            conn.execute(sa.select(recommendation_runs.c.id, recommendation_runs.c.status)).all()
        )
        kept = set(conn.execute(sa.select(recommendations.c.publication_id).distinct()).scalars())
    assert statuses[first.publication] == "retired"
    assert statuses[second.publication] == "previous"
    assert statuses[third.publication] == "live"
    assert kept == {second.publication, third.publication}


def test_publish_needs_a_fit(store: Store, tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'empty.duckdb'}")
    try:
        with pytest.raises(DataError, match=r"no recommendations table .*patron recommend fit"):
            publish_recommendations(wh, store)
    finally:
        wh.close()

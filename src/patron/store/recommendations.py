"""Recommendations in the store: published atomically from the warehouse, read one at a time.

``patron recommend fit`` writes the warehouse tables ``recommendations`` (``customer_id``,
``rank``, ``product_id``, ``score``, ``model``) and ``similar_items`` (``product_id``, ``rank``,
``similar_product_id``, ``score``, ``model``). :func:`publish_recommendations` copies both into
the store the way :func:`patron.store.publish.publish_profiles` copies profiles: rows tagged with
a new publication id, streamed from the engine in Arrow batches (COPY on PostgreSQL, one
prepared statement on SQLite), then one transaction flips ``store_meta['recommendations']``.
Readers see the previous publication or the new one, never a mix; the previous one is kept,
older ones are deleted. Recommendations have their own publications, independent of the
profiles' (a profile publish never touches them, and the other way round).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.store.connection import Store
from patron.store.publish import _bulk_insert
from patron.store.schema import recommendation_runs, recommendations, similar_items, store_meta

__all__ = [
    "RECOMMENDATIONS_KEY",
    "RecommendationPublishResult",
    "Recommended",
    "live_recommendations",
    "publish_recommendations",
    "read_recommendations",
    "read_similar_items",
]

#: store_meta key naming the live recommendations publication.
RECOMMENDATIONS_KEY = "recommendations"

_REC_COLUMNS = ("publication_id", "customer_id", "rank", "product_id", "score", "model")
_SIM_COLUMNS = ("publication_id", "product_id", "rank", "similar_product_id", "score", "model")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def live_recommendations(conn: Connection) -> int | None:
    """The id of the live recommendations publication, or None before the first publish."""
    value = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == RECOMMENDATIONS_KEY)
    ).scalar_one_or_none()
    return int(value) if value is not None else None


@dataclass(frozen=True)
class RecommendationPublishResult:
    """What a recommendations publish wrote."""

    publication: int
    previous: int | None
    model: str
    customers: int
    rows: int
    products: int
    similar_rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _score(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def publish_recommendations(
    wh: Warehouse,
    store: Store,
    *,
    source: str = "",
    batch_size: int = 50_000,
    fail_after_batches: int | None = None,
) -> RecommendationPublishResult:
    """Publish the warehouse's ``recommendations`` and ``similar_items`` into the store, atomically.

    Parameters
    ----------
    wh
        The warehouse holding the tables ``patron recommend fit`` wrote.
    store
        The operational store (at the current revision).
    source
        Where the rows came from (no credentials).
    batch_size
        Rows per batch read from the engine and written in one transaction.
    fail_after_batches
        For tests of atomicity only: raise after writing this many batches.

    Raises
    ------
    DataError
        The warehouse has no ``recommendations`` table (run ``patron recommend fit``).
    """
    if not wh.has_table("recommendations"):
        raise DataError(
            "The warehouse has no recommendations table to publish; run "
            "`patron recommend fit` first."
        )
    start = time.perf_counter()
    rec = wh.table("recommendations")
    rec_expr = rec.select(
        customer_id=rec.customer_id.cast("string"),
        rank=rec["rank"].cast("int64"),
        product_id=rec.product_id.cast("string"),
        score=rec.score.cast("float64"),
        model=rec.model.cast("string"),
    )
    models = rec_expr.select("model").distinct().to_pyarrow().column("model").to_pylist()
    model = ",".join(sorted(m for m in models if m)) or "unknown"
    sim_expr = None
    if wh.has_table("similar_items"):
        sim = wh.table("similar_items")
        sim_expr = sim.select(
            product_id=sim.product_id.cast("string"),
            rank=sim["rank"].cast("int64"),
            similar_product_id=sim.similar_product_id.cast("string"),
            score=sim.score.cast("float64"),
            model=sim.model.cast("string"),
        )
    with store.write() as conn:
        publication = int(
            conn.execute(
                sa.insert(recommendation_runs)
                .values(
                    started_at=_now(),
                    status="building",
                    model=model[:32],
                    source=source,
                    customers=0,
                    rows=0,
                    products=0,
                )
                .returning(recommendation_runs.c.id)
            ).scalar_one()
        )
    n_rows = n_sim = batches = 0
    n_customers = int(rec_expr.customer_id.nunique().to_pyarrow().as_py())
    n_products = (
        int(sim_expr.product_id.nunique().to_pyarrow().as_py()) if sim_expr is not None else 0
    )
    try:
        for batch in rec_expr.to_pyarrow_batches(chunk_size=batch_size):
            cols = [batch.column(c).to_pylist() for c in _REC_COLUMNS[1:]]
            rows = [
                (publication, c, r, p, _score(s), m)
                for c, r, p, s, m in zip(*cols, strict=True)
                if c is not None and p is not None and r is not None
            ]
            with store.write() as conn:
                _bulk_insert(conn, recommendations, _REC_COLUMNS, rows)
            n_rows += len(rows)
            batches += 1
            if fail_after_batches is not None and batches >= fail_after_batches:
                raise RuntimeError("publish stopped on purpose (test of atomicity)")
        if sim_expr is not None:
            for batch in sim_expr.to_pyarrow_batches(chunk_size=batch_size):
                cols = [batch.column(c).to_pylist() for c in _SIM_COLUMNS[1:]]
                rows = [
                    (publication, p, r, q, _score(s), m)
                    for p, r, q, s, m in zip(*cols, strict=True)
                    if p is not None and q is not None and r is not None
                ]
                with store.write() as conn:
                    _bulk_insert(conn, similar_items, _SIM_COLUMNS, rows)
                n_sim += len(rows)
        with store.write() as conn:
            previous = live_recommendations(conn)
            conn.execute(
                sa.update(recommendation_runs)
                .where(recommendation_runs.c.status == "live")
                .values(status="previous")
            )
            conn.execute(
                sa.update(recommendation_runs)
                .where(recommendation_runs.c.id == publication)
                .values(
                    status="live",
                    finished_at=_now(),
                    customers=n_customers,
                    rows=n_rows,
                    products=n_products,
                )
            )
            conn.execute(sa.delete(store_meta).where(store_meta.c.key == RECOMMENDATIONS_KEY))
            conn.execute(
                sa.insert(store_meta).values(key=RECOMMENDATIONS_KEY, value=str(publication))
            )
    except BaseException:
        with store.write() as conn:
            _drop(conn, publication, "failed")
        raise
    with store.write() as conn:
        old = (
            conn.execute(
                sa.select(recommendation_runs.c.id).where(
                    recommendation_runs.c.status.in_(("previous", "failed")),
                    recommendation_runs.c.id != previous if previous is not None else sa.true(),
                    recommendation_runs.c.id != publication,
                )
            )
            .scalars()
            .all()
        )
        for pub in old:
            _drop(conn, int(pub), "retired")
    with store.write() as conn:
        for table in (recommendations, similar_items):
            conn.exec_driver_sql(f"ANALYZE {table.name}")
    return RecommendationPublishResult(
        publication,
        previous,
        model,
        n_customers,
        n_rows,
        n_products,
        n_sim,
        time.perf_counter() - start,
    )


def _drop(conn: Connection, publication: int, status: str) -> None:
    conn.execute(sa.delete(recommendations).where(recommendations.c.publication_id == publication))
    conn.execute(sa.delete(similar_items).where(similar_items.c.publication_id == publication))
    conn.execute(
        sa.update(recommendation_runs)
        .where(recommendation_runs.c.id == publication)
        .values(status=status)
    )


@dataclass(frozen=True)
class Recommended:
    """One recommended (or similar) product."""

    rank: int
    product_id: str
    score: float | None
    model: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def read_recommendations(conn: Connection, customer_id: str, *, n: int = 10) -> list[Recommended]:
    """The live publication's top ``n`` products for one customer (empty when none).

    One primary-key range read: fit for a real-time caller (an agent screen, the service).
    """
    pub = live_recommendations(conn)
    if pub is None:
        return []
    t = recommendations
    rows = conn.execute(
        sa.select(t.c.rank, t.c.product_id, t.c.score, t.c.model)
        .where(t.c.publication_id == pub, t.c.customer_id == customer_id, t.c.rank <= n)
        .order_by(t.c.rank)
    ).all()
    return [Recommended(int(r.rank), r.product_id, r.score, r.model) for r in rows]


def read_similar_items(conn: Connection, product_id: str, *, n: int = 10) -> list[Recommended]:
    """The live publication's ``n`` products most similar to ``product_id`` (empty when none)."""
    pub = live_recommendations(conn)
    if pub is None:
        return []
    t = similar_items
    rows = conn.execute(
        sa.select(t.c.rank, t.c.similar_product_id, t.c.score, t.c.model)
        .where(t.c.publication_id == pub, t.c.product_id == product_id, t.c.rank <= n)
        .order_by(t.c.rank)
    ).all()
    return [Recommended(int(r.rank), r.similar_product_id, r.score, r.model) for r in rows]

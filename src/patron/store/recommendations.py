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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.store.connection import Store
from patron.store.publication import PublicationKind
from patron.store.publish import _bulk_insert
from patron.store.schema import recommendation_runs, recommendations, similar_items

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
#: Recommendation publications: runs in ``recommendation_runs``, rows in ``recommendations``
#: and ``similar_items``.
RECOMMENDATIONS = PublicationKind(
    recommendation_runs, (recommendations, similar_items), RECOMMENDATIONS_KEY
)

_REC_COLUMNS = ("publication_id", "customer_id", "rank", "product_id", "score", "model")
_SIM_COLUMNS = ("publication_id", "product_id", "rank", "similar_product_id", "score", "model")


def live_recommendations(conn: Connection) -> int | None:
    """The id of the live recommendations publication, or None before the first publish."""
    return RECOMMENDATIONS.live(conn)


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
    publication = RECOMMENDATIONS.begin(
        store, model=model[:32], source=source, customers=0, rows=0, products=0
    )
    n_rows = n_sim = batches = 0
    try:  # from here a failure marks the run failed (never left "building")
        n_customers = int(rec_expr.customer_id.nunique().to_pyarrow().as_py())
        n_products = (
            int(sim_expr.product_id.nunique().to_pyarrow().as_py()) if sim_expr is not None else 0
        )
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
            previous = RECOMMENDATIONS.flip(
                conn, publication, customers=n_customers, rows=n_rows, products=n_products
            )
    except BaseException:
        RECOMMENDATIONS.fail(store, publication)
        raise
    RECOMMENDATIONS.retire(store, publication, previous)
    RECOMMENDATIONS.analyze(store)
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

"""The batch run: fit a model on the warehouse, write its top N per customer back to the warehouse.

``patron recommend fit`` calls :func:`fit_recommendations`. It writes two warehouse tables
(replaced atomically, like every Patron output table):

- ``recommendations``: ``customer_id``, ``rank`` (1 = best), ``product_id``, ``score``,
  ``model`` — what ``patron export recommendations`` writes and what the store publish reads;
- ``similar_items``: ``product_id``, ``rank``, ``similar_product_id``, ``score``, ``model`` —
  from the model's item similarity, or from co-occurrence for the popularity model.

Publishing into the operational store is a separate step
(:func:`patron.store.recommendations.publish_recommendations`; ``--publish`` on the CLI),
so that the warehouse keeps the batch's result even where no store is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from patron.customize.interactions import Interactions, interactions
from patron.customize.recommend import (
    DEFAULT_MODEL,
    Recommender,
    Rules,
    TopN,
    make_model,
    recommend,
    similar_items,
)
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError

__all__ = [
    "RECOMMENDATIONS_TABLE",
    "SIMILAR_ITEMS_TABLE",
    "FitResult",
    "fit_recommendations",
    "top_n_table",
]

RECOMMENDATIONS_TABLE = "recommendations"
SIMILAR_ITEMS_TABLE = "similar_items"

#: Fewer customers than this and a collaborative model has nothing to learn from.
MIN_CUSTOMERS = 2


@dataclass(frozen=True)
class FitResult:
    """What a batch run wrote."""

    model: str
    params: dict[str, Any]
    customers: int
    products: int
    active_products: int
    rows: int
    customers_without: int
    similar_rows: int
    as_of: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def top_n_table(
    top: TopN,
    labels: npt.NDArray[np.str_],
    products: npt.NDArray[np.str_],
    model: str,
    *,
    key: str = "customer_id",
    value: str = "product_id",
) -> pa.Table:
    """A :class:`TopN` as rows (``key``, ``rank``, ``value``, ``score``, ``model``), no gaps."""
    k = top.items.shape[1]
    ok = top.items >= 0
    who = np.repeat(top.rows, k).reshape(top.items.shape)
    rank = np.tile(np.arange(1, k + 1, dtype=np.int64), (len(top.rows), 1))
    scores = top.scores[ok].astype(np.float64)
    return pa.table(
        {
            key: pa.array(labels[who[ok]], pa.string()),
            "rank": pa.array(rank[ok], pa.int64()),
            value: pa.array(products[top.items[ok]], pa.string()),
            "score": pa.array(np.where(np.isfinite(scores), scores, np.nan), pa.float64()),
            "model": pa.array(np.full(int(ok.sum()), model), pa.string()),
        }
    )


def _similarity_model(model: Recommender, data: Interactions) -> Recommender:
    """The model itself when it has item similarity, else co-occurrence fitted on the same data."""
    try:
        model.item_similarity(np.zeros(1, dtype=np.int64))
    except UsageError:
        return make_model("cooccurrence").fit(data)
    return model


def fit_recommendations(
    wh: Warehouse,
    *,
    model: str = DEFAULT_MODEL,
    n: int = 10,
    similar: int = 10,
    rules: Rules | None = None,
    params: dict[str, Any] | None = None,
    as_of: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit ``model`` on every purchase in the warehouse and write the top ``n`` per customer.

    Parameters
    ----------
    wh
        The warehouse with ``transactions`` (product ids needed; read per resolved person).
    model
        A model name (:data:`~patron.customize.recommend.MODELS`).
    n
        Products per customer.
    similar
        Similar products per product (0: no ``similar_items`` table).
    rules
        Business rules (replenishable categories, activity, returns).
    params
        Hyperparameters over the shipped defaults.
    as_of
        Reference date for activity (the latest purchase in the log when None).

    Raises
    ------
    UsageError
        Unknown model or hyperparameter, ``n`` below 1.
    DataError
        No transactions with product ids, fewer than two customers, or no active product.
    """
    start = time.perf_counter()
    rules = rules or Rules()
    if n < 1:
        raise UsageError(f"--top {n}: ask for at least 1 product per customer.")
    if similar < 0:
        raise UsageError(f"--similar {similar}: use 0 (none) or more.")
    recommender = make_model(model, **(params or {}))  # unknown names fail before any work
    if progress is not None:
        progress("aggregating purchases in the engine")
    data = interactions(wh, end=as_of)
    if data.shape[0] < MIN_CUSTOMERS:
        raise DataError(
            f"Only {data.shape[0]} customer bought a product; recommendations need at least "
            f"{MIN_CUSTOMERS} customers."
        )
    active = rules.active(data, as_of)
    if not active.any():
        raise DataError(
            f"No product was bought in the {rules.active_days} days before the reference date; "
            "widen --active-days or use --all-products."
        )
    reference = (
        as_of if as_of is not None else data.last_sold[~np.isnat(data.last_sold)].max().item()
    )
    if progress is not None:
        progress(f"fitting {model} on {data.shape[0]:,} customers x {data.shape[1]:,} products")
    recommender.fit(data, as_of=as_of)
    if progress is not None:
        progress("ranking products per customer")
    top = recommend(recommender, data, n=n, rules=rules, as_of=as_of)
    rec_table = top_n_table(top, data.customers, data.products, model)
    tables = {RECOMMENDATIONS_TABLE: rec_table}
    sim_rows = 0
    if similar:
        if progress is not None:
            progress("similar products")
        sim_model = _similarity_model(recommender, data)
        sim = similar_items(sim_model, data, n=similar, rules=rules, as_of=as_of)
        sim_table = top_n_table(
            sim,
            data.products,
            data.products,
            sim_model.name,
            key="product_id",
            value="similar_product_id",
        )
        tables[SIMILAR_ITEMS_TABLE] = sim_table
        sim_rows = sim_table.num_rows
    if rec_table.num_rows == 0:
        raise DataError(
            "Every product is excluded for every customer by the business rules (bought, "
            "returned or inactive); nothing to write."
        )
    with wh.transaction():
        for name, table in tables.items():
            wh.replace_table(name, ibis.memtable(table))
        if not similar:
            wh.drop(SIMILAR_ITEMS_TABLE)  # a previous run's would no longer match
    without = int(np.sum(top.items[:, 0] < 0))
    return FitResult(
        model=model,
        params=recommender.get_params(),
        customers=data.shape[0],
        products=data.shape[1],
        active_products=int(active.sum()),
        rows=rec_table.num_rows,
        customers_without=without,
        similar_rows=sim_rows,
        as_of=str(reference)[:10],
        seconds=time.perf_counter() - start,
    )

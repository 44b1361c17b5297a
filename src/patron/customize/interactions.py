"""The customer × product matrix, built from aggregates computed in the warehouse engine.

The transaction log never comes into Python: one Ibis group-by on ``transactions`` (read per
person through :mod:`patron.data.people`) gives, per (customer, product) pair, the number of
orders that bought it, the units bought, whether the customer ever returned it and when it
was last bought. Only those triples reach numpy, where they become SciPy CSR matrices.

A *purchase* is a line that is not a return: ``is_return`` false and neither ``quantity`` nor
``amount`` negative. A pair with any return line is *returned*: the customer is never
recommended that product again (:mod:`patron.customize.recommend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import DataError

__all__ = ["Interactions", "interactions", "pair_aggregates", "purchase_flag"]


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


def purchase_flag(tx: ir.Table) -> ir.BooleanValue:
    """True on a purchase line, false on a return (``is_return``, or a negative quantity/amount)."""
    ret: ir.BooleanValue = ibis.literal(False)
    if "is_return" in tx.columns:
        ret = ret | tx.is_return.fill_null(False)
    for name in ("quantity", "amount"):
        if name in tx.columns:
            ret = ret | (tx[name] < 0).fill_null(False)
    return ~ret


def pair_aggregates(
    tx: ir.Table,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
) -> ir.Table:
    """Per (customer, product): orders, units, returned, last purchase (an engine expression).

    Parameters
    ----------
    tx
        Transactions (``customer_id``, ``timestamp``, ``product_id``; ``order_id``,
        ``quantity``, ``is_return`` when present).
    start, end
        Only lines with ``start <= timestamp < end`` (either may be ``None``: unbounded).

    Returns
    -------
    ibis.Table
        ``customer_id``, ``product_id`` (strings), ``orders`` (distinct orders that bought
        the product; lines when there is no order id), ``units`` (units bought, orders when
        there is no quantity), ``returned`` (any return line), ``last_bought`` (timestamp
        of the latest purchase line, null when only returned).
    """
    lo, hi = _as_datetime(start), _as_datetime(end)
    cond: list[ir.BooleanValue] = [tx.customer_id.notnull(), tx.product_id.notnull()]
    if lo is not None:
        cond.append(tx.timestamp >= lo)
    if hi is not None:
        cond.append(tx.timestamp < hi)
    sel = tx.filter(*cond)
    bought = purchase_flag(sel)
    order_key: ir.Value
    if "order_id" in sel.columns:
        order_key = ibis.coalesce(sel.order_id.cast("string"), sel.timestamp.cast("string"))
    else:
        order_key = sel.timestamp.cast("string")
    units: ir.Value
    if "quantity" in sel.columns:
        units = ibis.ifelse(bought, sel.quantity.fill_null(1.0), 0.0).sum()
    else:
        units = bought.sum().cast("float64")
    return sel.group_by(
        customer_id=sel.customer_id.cast("string"), product_id=sel.product_id.cast("string")
    ).aggregate(
        orders=order_key.nunique(where=bought),
        units=units,
        returned=(~bought).any(),
        last_bought=sel.timestamp.max(where=bought),
    )


@dataclass(frozen=True)
class Interactions:
    """A customer × product purchase matrix and what the business rules need beside it.

    Attributes
    ----------
    orders
        CSR matrix (customers × products, float32): orders that bought each product; zero
        where the customer never bought it (returns do not count as purchases).
    units
        Same shape: units bought.
    returned
        Same shape, boolean: the customer returned the product at least once.
    customers, products
        The row and column labels (arrays of strings, sorted).
    categories
        Each product's category (``None`` where unknown).
    last_sold
        Each product's latest purchase by anyone (``datetime64[us]``; ``NaT`` if only returned).
    last_bought
        Same shape as ``orders``: the day of the customer's latest purchase of the product
        (days since 1970-01-01, fractional), where they bought it.
    """

    orders: sparse.csr_matrix
    units: sparse.csr_matrix
    returned: sparse.csr_matrix
    customers: npt.NDArray[np.str_]
    products: npt.NDArray[np.str_]
    categories: npt.NDArray[np.object_]
    last_sold: npt.NDArray[np.datetime64]
    last_bought: sparse.csr_matrix

    @property
    def shape(self) -> tuple[int, int]:
        """(customers, products)."""
        return (len(self.customers), len(self.products))

    @property
    def bought(self) -> sparse.csr_matrix:
        """Boolean CSR: the customer bought the product at least once."""
        out = self.orders > 0
        return sparse.csr_matrix(out)

    def customer_index(self) -> dict[str, int]:
        """Row number of each customer id."""
        return {c: i for i, c in enumerate(self.customers.tolist())}

    def product_index(self) -> dict[str, int]:
        """Column number of each product id."""
        return {p: i for i, p in enumerate(self.products.tolist())}


def _codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]:
    """Dense codes and sorted labels of a string column (in Arrow, no Python loop)."""
    labels = pc.unique(column).sort()
    codes = pc.index_in(column, value_set=labels)
    return (
        np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64),
        np.asarray(labels.to_numpy(zero_copy_only=False), dtype=str),
    )


def from_pairs(pairs: pa.Table, categories: dict[str, str] | None = None) -> Interactions:
    """:class:`Interactions` from the aggregated pairs (Arrow; :func:`pair_aggregates`)."""
    if pairs.num_rows == 0:
        raise DataError(
            "No purchases with a customer_id and a product_id in the transactions of this "
            "period; load transactions with a product_id column (e.g. StockCode, sku)."
        )
    rows, customers = _codes(pairs.column("customer_id"))
    cols, products = _codes(pairs.column("product_id"))
    shape = (len(customers), len(products))

    def matrix(values: npt.NDArray[np.float32]) -> sparse.csr_matrix:
        keep = values != 0
        m = sparse.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=shape)
        m.sort_indices()
        return m

    orders = np.asarray(pairs.column("orders").to_numpy(zero_copy_only=False), dtype=np.float32)
    units_raw = pairs.column("units").to_numpy(zero_copy_only=False)
    units = np.nan_to_num(np.asarray(units_raw, dtype=np.float32), nan=0.0)
    units = np.where(orders > 0, np.maximum(units, 0.0), 0.0).astype(np.float32)
    returned = np.asarray(pairs.column("returned").to_numpy(zero_copy_only=False), dtype=bool)
    last = pairs.column("last_bought").cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    last_sold = np.full(len(products), np.datetime64("NaT"), dtype="datetime64[us]")
    valid = ~np.isnat(last)
    if valid.any():
        order = np.lexsort((last[valid], cols[valid]))
        vc, vl = cols[valid][order], last[valid][order]
        ends = np.r_[np.flatnonzero(np.diff(vc)), len(vc) - 1]
        last_sold[vc[ends]] = vl[ends]
    days = np.where(np.isnat(last), 0.0, last.astype("datetime64[us]").astype(np.int64) / 86_400e6)
    last_bought = sparse.csr_matrix(
        (days[orders > 0], (rows[orders > 0], cols[orders > 0])), shape=shape, dtype=np.float64
    )
    last_bought.sort_indices()
    cats = np.array([(categories or {}).get(p) for p in products.tolist()], dtype=object)
    return Interactions(
        orders=matrix(orders),
        units=matrix(units),
        returned=matrix(returned.astype(np.float32)).astype(bool),
        customers=customers,
        products=products,
        categories=cats,
        last_sold=last_sold,
        last_bought=last_bought,
    )


def product_categories(wh: Warehouse, tx: ir.Table | None = None) -> dict[str, str]:
    """Each product's category: from ``products`` when loaded, else from ``transactions``.

    One row per product reaches Python (the catalogue, not the log).
    """
    found: dict[str, str] = {}
    if tx is not None and "category" in tx.columns:
        t = tx.filter(tx.product_id.notnull(), tx.category.notnull())
        agg = t.group_by(product_id=t.product_id.cast("string")).aggregate(
            category=t.category.cast("string").max()
        )
        for rec in agg.to_pyarrow().to_pylist():
            found[rec["product_id"]] = rec["category"]
    if wh.has_table("products"):
        p = wh.table("products")
        if "category" in p.columns:
            p = p.filter(p.product_id.notnull(), p.category.notnull())
            rows = p.select(
                product_id=p.product_id.cast("string"), category=p.category.cast("string")
            )
            for rec in rows.to_pyarrow().to_pylist():
                found[rec["product_id"]] = rec["category"]
    return found


def interactions(
    wh: Warehouse,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
) -> Interactions:
    """The customer × product matrix of the warehouse's transactions (per resolved person).

    Parameters
    ----------
    wh
        The warehouse, with ``transactions`` (and ``products`` for categories, optional).
    start, end
        Only transactions with ``start <= timestamp < end`` (dates mean midnight).

    Raises
    ------
    DataError
        No transactions table, no ``product_id`` column, or no purchase in the period.
    """
    tx = transactions_with_products(wh)
    pairs = pair_aggregates(tx, start=start, end=end).to_pyarrow()
    return from_pairs(pairs, product_categories(wh, tx))


def transactions_with_products(wh: Warehouse) -> ir.Table:
    """The transactions (through the identity map), refusing a log without product ids."""
    if not wh.has_table("transactions"):
        raise DataError(
            "The warehouse has no transactions table; load one with "
            "`patron load transactions FILE` first."
        )
    tx = people.transactions(wh)
    if "product_id" not in tx.columns:
        raise DataError(
            "The transactions have no product_id column, so there is nothing to recommend; "
            "load a log with product ids (StockCode, sku, product_id)."
        )
    return tx

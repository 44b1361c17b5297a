"""People, not records: transactions and customers read through the identity map.

When identities have been resolved (``patron identify run``), the warehouse holds
``identity_customer_map``: every source ``customer_id`` that an identity record carries, with
the resolved customer it belongs to. Every downstream step (summaries, features, tiers,
segments, experiments, reports) reads transactions and customers through the two functions
here, so that a person who bought under a loyalty card, a web account and a phone order counts
once — and so that a merge or its undo changes attribution without rewriting a transaction.

Source ids that no identity record carries stay as they are. Without the map, both functions
return the tables unchanged.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse

__all__ = [
    "IDENTITY_CUSTOMER_MAP",
    "KEPT_ON_ERASURE",
    "RECENT_DAYS",
    "customers",
    "erase_customer_attributes",
    "recent_categories",
    "resolve_ids",
    "resolves_identities",
    "source_ids",
    "transactions",
]

#: The warehouse table mapping a source ``customer_id`` to the resolved one.
IDENTITY_CUSTOMER_MAP = "identity_customer_map"

#: "Recently" for purchases: the last days of the transaction log.
RECENT_DAYS = 90

#: How a resolved customer's columns combine the rows of its source customers.
_SUMMED = ("cost_to_serve",)
_EARLIEST = ("signup_date",)


def resolves_identities(wh: Warehouse) -> bool:
    """Whether an identity map exists, so that tables are read per resolved customer."""
    return wh.has_table(IDENTITY_CUSTOMER_MAP)


def resolve_ids(wh: Warehouse, table: ir.Table) -> ir.Table:
    """``table`` with ``customer_id`` replaced by the resolved id where the map has one.

    Needs the identity map (:func:`resolves_identities`).
    """
    cmap = wh.table(IDENTITY_CUSTOMER_MAP)
    m = cmap.select(_src_id=cmap.customer_id, _resolved_id=cmap.resolved_id)
    joined = table.left_join(m, table.customer_id == m._src_id)
    return joined.select(
        *[
            ibis.coalesce(joined._resolved_id, joined.customer_id).name("customer_id")
            if c == "customer_id"
            else joined[c]
            for c in table.columns
        ]
    )


def transactions(wh: Warehouse) -> ir.Table:
    """The ``transactions`` table, one ``customer_id`` per person when identities are resolved."""
    tx = wh.table("transactions")
    return resolve_ids(wh, tx) if resolves_identities(wh) else tx


def customers(wh: Warehouse) -> ir.Table | None:
    """The ``customers`` table (None without one), one row per person when resolved.

    A person's rows combine as follows: ``cost_to_serve`` is summed (each source account
    costs what it costs), ``signup_date`` is the earliest, a ``customer_type`` of
    ``reseller`` on any row makes the person a reseller, and any other column takes the
    largest non-null value (a stable choice; identifiers such as e-mail are in the identity
    records, not here).
    """
    if not wh.has_table("customers"):
        return None
    table = wh.table("customers")
    if not resolves_identities(wh):
        return table
    resolved = resolve_ids(wh, table)
    aggs: dict[str, ir.Value] = {}
    for name in table.columns:
        if name == "customer_id":
            continue
        col = resolved[name]
        if name in _SUMMED:
            aggs[name] = col.sum()
        elif name in _EARLIEST:
            aggs[name] = col.min()
        elif col.type().is_boolean():
            aggs[name] = col.any()
        elif name == "customer_type":
            is_reseller = (col == "reseller").any()
            aggs[name] = ibis.ifelse(is_reseller, "reseller", col.max())
        else:
            aggs[name] = col.max()
    grouped = resolved.group_by("customer_id").aggregate(**aggs)
    return grouped.select(*table.columns)


#: ``customers`` columns kept when a person's data is erased: keys and the figures that
#: aggregates need (they identify no one without the identity records).
KEPT_ON_ERASURE = ("customer_id", "signup_date", "cost_to_serve", "customer_type")


def source_ids(wh: Warehouse, customer_id: str) -> list[str]:
    """Every source ``customer_id`` of a person (the id itself without an identity map)."""
    ids = {customer_id}
    if resolves_identities(wh):
        cmap = wh.table(IDENTITY_CUSTOMER_MAP)
        mine = cmap.filter(cmap.resolved_id == customer_id).customer_id.to_pyarrow()
        ids.update(str(v) for v in mine.to_pylist() if v is not None)
    return sorted(ids)


def erase_customer_attributes(wh: Warehouse, customer_id: str) -> int:
    """Blank a person's personal columns in ``customers``; the rows and their keys stay.

    Every column but :data:`KEPT_ON_ERASURE` (and the loader's own ``_`` columns) becomes
    null on the rows of the person's source ids: e-mail, phone, region and any attribute
    kept at load (names, addresses, ...). Returns the number of rows blanked.
    """
    if not wh.has_table("customers"):
        return 0
    table = wh.table("customers")
    ids = source_ids(wh, customer_id)
    theirs = table.customer_id.isin(ids)
    n = int(table.filter(theirs).count().to_pyarrow().as_py())
    if not n:
        return 0
    blanked = table.select(
        *[
            table[c]
            if c in KEPT_ON_ERASURE or c.startswith("_")
            else ibis.ifelse(theirs, ibis.null(table[c].type()), table[c]).name(c)
            for c in table.columns
        ]
    )
    with wh.transaction():
        wh.replace_table("customers", blanked)
    return n


def recent_categories(wh: Warehouse, days: int = RECENT_DAYS) -> ir.Table | None:
    """Per person, the categories bought (not returned) in the log's last ``days`` days.

    Columns ``customer_id`` and ``recent_categories`` (the distinct categories, sorted, joined
    by ``;``); people without a recent purchase have no row (callers read them as ``''``).
    The window ends at the log's latest transaction, so it means the same at publication and
    in a batch. Categories come from the transactions, else from ``products``; None when
    neither has them (then the attribute is unknown: null).
    """
    tx = transactions(wh)
    if "category" not in tx.columns:
        if not wh.has_table("products") or "category" not in wh.table("products").columns:
            return None
        p = wh.table("products")
        p = p.select(_pid=p.product_id.cast("string"), category=p.category.cast("string"))
        tx = tx.left_join(p, tx.product_id.cast("string") == p._pid)
    end = tx.timestamp.max().as_scalar()
    recent = tx.filter(
        (tx.timestamp > end - ibis.interval(days=days))
        & ~tx.is_return.fill_null(False)
        & tx.category.notnull()
        & (tx.category.cast("string").strip() != "")
    )
    pairs = recent.select(
        customer_id=recent.customer_id.cast("string"), _cat=recent.category.cast("string").strip()
    ).distinct()
    return pairs.group_by("customer_id").aggregate(
        recent_categories=pairs._cat.group_concat(";", order_by=pairs._cat)
    )

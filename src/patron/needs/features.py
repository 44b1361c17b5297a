"""Behavioural features per customer, computed in the engine from the transactions.

What customers buy and how — the needs side of differentiation (Peppers & Rogers): category
shares, channel mix, basket size and value, weekend shopping, discount use, returns — plus
tenure and order count, which describe the relationship and are profiled but not clustered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from patron.errors import DataError

__all__ = [
    "FEATURE_LABELS",
    "MIN_ANSWERED_SHARE",
    "STATED_FACTS_TABLE",
    "NeedsFeatures",
    "customer_features",
    "stated_features",
]

#: The warehouse table of what customers told us (``patron interact export`` writes it from
#: the store's facts: customer_id, attribute, value as JSON, is_preference, recorded_at, id).
STATED_FACTS_TABLE = "interact_facts"
#: A stated attribute becomes a feature once this share of the customers answered it.
MIN_ANSWERED_SHARE = 0.05
#: At most this many answers of one attribute get a feature each.
MAX_STATED_VALUES = 6

#: Plain-language names of the fixed features.
FEATURE_LABELS = {
    "basket_items": "items per order",
    "basket_value": "value per order",
    "weekend_share": "share of orders at weekends",
    "discount_share": "share of items bought on discount",
    "return_rate": "share of items returned",
    "tenure_days": "days since the first purchase",
    "orders": "orders",
}


@dataclass
class NeedsFeatures:
    """The per-customer feature table (an Ibis expression) and what its columns mean."""

    table: ir.Table
    #: Columns used for clustering (what and how customers buy).
    cluster_columns: list[str]
    #: Share columns: name -> (dimension, value), e.g. "cat_0" -> ("category", "books").
    shares: dict[str, tuple[str, str]] = field(default_factory=dict)

    def label(self, column: str) -> str:
        """Plain-language name of a feature column."""
        if column in self.shares:
            dim, value = self.shares[column]
            return f"{dim} {value}"
        return FEATURE_LABELS.get(column, column)


def _top_values(rows: ir.Table, column: str, limit: int) -> list[str]:
    known = rows.filter(rows[column].notnull())
    counts = known.group_by(column).aggregate(n=known.count())
    top = counts.order_by([ibis.desc("n"), column]).limit(limit).to_pyarrow()
    return [str(v) for v in top.column(column).to_pylist()]


def customer_features(
    transactions: ir.Table, *, max_categories: int = 8, max_channels: int = 6
) -> NeedsFeatures:
    """Per-customer needs features as an Ibis expression (nothing is pulled into Python).

    Parameters
    ----------
    transactions
        The ``transactions`` table (contract columns; ``category``, ``channel``,
        ``quantity``, ``discount``, ``order_id`` used when present and filled).
    max_categories, max_channels
        The most frequent categories and channels get a share column each; rarer values
        count only in the totals.

    Returns
    -------
    NeedsFeatures
        Shares are of purchase lines (returns excluded); ``basket_value`` is in the data's
        currency per order; ``tenure_days`` counts days from the first purchase to the last
        day in the data.
    """
    tx = transactions
    is_return = tx.is_return.fill_null(False) | (tx.amount < 0)
    buys = tx.filter(~is_return)
    if not buys.count().to_pyarrow().as_py():
        raise DataError("The transactions table has no purchases; load transactions first.")
    shares: dict[str, tuple[str, str]] = {}
    aggs: dict[str, ir.Value] = {}
    lines = buys.count()
    for dim, column, limit, prefix in (
        ("category", "category", max_categories, "cat"),
        ("channel", "channel", max_channels, "chan"),
    ):
        if column not in buys.columns:
            continue
        values = _top_values(buys, column, limit)
        if len(values) < 2:  # one value (or none) tells nothing about needs
            continue
        for i, value in enumerate(values):
            name = f"{prefix}_{i}"
            shares[name] = (dim, value)
            aggs[name] = (buys[column] == value).cast("float64").sum() / lines.cast("float64")
    day_key = buys.timestamp.date().cast("string")
    # Orders, or purchase days when there are no order ids.
    order_key = ibis.coalesce(buys.order_id, day_key) if "order_id" in buys.columns else day_key
    orders = order_key.nunique()
    items = (
        ibis.coalesce(buys.quantity, 1.0).clip(lower=1.0)
        if "quantity" in buys.columns
        else ibis.literal(1.0)
    )
    day = buys.timestamp.day_of_week.index()  # Monday = 0
    weekend_order = ibis.ifelse(day >= 5, order_key, ibis.null("string"))
    aggs.update(
        orders=orders,
        basket_items=items.sum() / orders.cast("float64"),
        basket_value=buys.amount.sum() / orders.cast("float64"),
        weekend_share=weekend_order.nunique().cast("float64") / orders.cast("float64"),
        first_day=buys.timestamp.min(),
        lines=lines,
    )
    has_discount = "discount" in buys.columns and bool(
        buys.discount.notnull().any().to_pyarrow().as_py()
    )
    if has_discount:
        aggs["discount_share"] = (buys.discount.fill_null(0.0) > 0).cast("float64").mean()
    per = buys.group_by("customer_id").aggregate(**aggs)
    returns = tx.filter(is_return)
    ret = returns.group_by(_rid=returns.customer_id).aggregate(_returned=returns.count())
    last = tx.timestamp.max().to_pyarrow().as_py()
    joined = per.left_join(ret, per.customer_id == ret._rid)
    returned = ibis.coalesce(joined._returned, 0).cast("float64")
    table = joined.select(
        *[c for c in per.columns if c not in ("first_day", "lines")],
        return_rate=returned / (returned + joined.lines.cast("float64")),
        tenure_days=ibis.literal(last)
        .cast("timestamp")
        .date()
        .delta(joined.first_day.date(), unit="day"),
    )
    cluster = [*shares, "basket_items", "weekend_share", "return_rate"]
    if has_discount:
        cluster.append("discount_share")
    return NeedsFeatures(table, cluster, shares)


def stated_features(
    features: NeedsFeatures,
    facts: ir.Table,
    *,
    min_answered_share: float = MIN_ANSWERED_SHARE,
    max_values: int = MAX_STATED_VALUES,
) -> NeedsFeatures:
    """Add what customers told us (stated needs) to the behavioural features.

    Each customer's latest answer per attribute (preferences such as language or contact
    time are not needs and are left out) becomes one 0/1 column per answer (``said_`` and a
    hash of attribute and answer: "said favourite_department = books"), for attributes that
    at least ``min_answered_share`` of the customers answered; a customer who did not answer has
    0 in every column of that attribute. Computed in the engine; only the attribute and value
    lists (a few dozen strings) reach Python.
    """
    latest_key = ibis.row_number().over(
        group_by=[facts.customer_id, facts.attribute],
        order_by=[ibis.desc(facts.recorded_at), ibis.desc(facts.id)],
    )
    answers = facts.filter(~facts.is_preference.fill_null(False))
    ranked = answers.mutate(_rank=latest_key)
    latest = ranked.filter(ranked._rank == 0).select("customer_id", "attribute", "value")
    n_customers = int(features.table.count().to_pyarrow().as_py())
    if not n_customers:
        return features
    counts = latest.group_by(["attribute", "value"]).aggregate(n=latest.count())
    per_attr = latest.group_by("attribute").aggregate(answered=latest.customer_id.nunique())
    wanted = per_attr.filter(per_attr.answered >= min_answered_share * n_customers)
    rows = (
        counts.semi_join(wanted, counts.attribute == wanted.attribute)
        .order_by(["attribute", ibis.desc("n"), "value"])
        .to_pyarrow()
        .to_pylist()
    )
    chosen: list[tuple[str, str]] = []
    taken: dict[str, int] = {}
    for r in rows:
        attr = str(r["attribute"])
        if taken.get(attr, 0) < max_values:
            taken[attr] = taken.get(attr, 0) + 1
            chosen.append((attr, str(r["value"])))
    if not chosen:
        return features
    shares = dict(features.shares)
    aggs: dict[str, ir.Value] = {}
    for attr, value in chosen:
        # Named by what was said, so that a stored segment model finds the same column later.
        name = "said_" + hashlib.blake2b(f"{attr}={value}".encode(), digest_size=5).hexdigest()
        shown = value[1:-1] if value.startswith('"') and value.endswith('"') else value
        shown = {"true": "yes", "false": "no"}.get(shown, shown)
        shares[name] = ("said", f"{attr} = {shown}")
        hit = (latest.attribute == attr) & (latest.value == value)
        aggs[name] = hit.cast("float64").max()
    said = latest.group_by(_sid=latest.customer_id).aggregate(**aggs)
    t = features.table
    joined = t.left_join(said, t.customer_id == said._sid)
    table = joined.select(*t.columns, **{name: ibis.coalesce(joined[name], 0.0) for name in aggs})
    return NeedsFeatures(table, [*features.cluster_columns, *aggs], shares)

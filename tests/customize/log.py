"""A small hand-made purchase log whose every figure can be worked out by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis
import pyarrow as pa

from patron.data.warehouse import Warehouse

# (customer, day in 2024 as "MM-DD", order, product, quantity); negative quantity = a return.
LINES: list[tuple[str, str, str, str, float]] = [
    ("A", "06-01", "o1", "p1", 2),
    ("A", "06-05", "o2", "p1", 1),
    ("A", "06-05", "o2", "p2", 1),
    ("A", "06-07", "o3", "p3", 1),
    ("A", "06-09", "r1", "p3", -1),  # A returned p3
    ("B", "06-02", "o4", "p1", 1),
    ("B", "06-02", "o4", "p2", 3),
    ("B", "06-10", "o5", "p4", 1),
    ("C", "06-03", "o6", "p1", 1),
    ("C", "06-03", "o6", "p4", 1),
    ("C", "06-20", "o7", "p5", 4),  # p5 is coffee (replenishable)
    ("D", "06-04", "o8", "p2", 1),
    ("E", "01-10", "o9", "p6", 1),  # p6: last sold in January (inactive at 90 days)
    ("E", "06-15", "o10", "p3", 1),
]

CATEGORIES = {"p1": "home", "p2": "home", "p3": "toys", "p4": "garden", "p5": "coffee"}


def load_log(wh: Warehouse, lines: list[tuple[str, str, str, str, float]] = LINES) -> None:
    """Write the log as a contract-shaped ``transactions`` table, and ``products``."""
    rows: dict[str, list[Any]] = {
        "customer_id": [],
        "timestamp": [],
        "amount": [],
        "order_id": [],
        "product_id": [],
        "quantity": [],
        "is_return": [],
    }
    for cust, day, order, product, qty in lines:
        rows["customer_id"].append(cust)
        rows["timestamp"].append(datetime.fromisoformat(f"2024-{day}T10:00:00"))
        rows["amount"].append(qty * 5.0)
        rows["order_id"].append(order)
        rows["product_id"].append(product)
        rows["quantity"].append(float(qty))
        rows["is_return"].append(qty < 0)
    schema = pa.schema(
        [
            ("customer_id", pa.string()),
            ("timestamp", pa.timestamp("us")),
            ("amount", pa.float64()),
            ("order_id", pa.string()),
            ("product_id", pa.string()),
            ("quantity", pa.float64()),
            ("is_return", pa.bool_()),
        ]
    )
    wh.create_table("transactions", ibis.memtable(pa.table(rows, schema=schema)), overwrite=True)
    wh.create_table(
        "products",
        ibis.memtable({"product_id": list(CATEGORIES), "category": list(CATEGORIES.values())}),
        overwrite=True,
    )

"""What is in the warehouse: tables, row counts, customers, date range, totals."""

from __future__ import annotations

from typing import Any

from patron.data import people
from patron.data.contracts import CONTRACTS
from patron.data.loader import LEDGER
from patron.data.warehouse import Warehouse

__all__ = ["warehouse_status"]


def warehouse_status(wh: Warehouse) -> dict[str, Any]:
    """Summarise the warehouse; every number is computed in the engine.

    Returns
    -------
    dict
        ``{"warehouse": url, "backend": name, "customers": N, "tables": {name: {"rows": N, ...}},
        "loads": N}``. ``customers`` counts distinct customer ids over the customers and
        transactions tables — people, once identities are resolved (through the identity
        map; ``source_customer_ids`` then counts the ids as the sources wrote them). The
        transactions entry adds ``first``/``last`` timestamps (ISO),
        ``revenue`` (sum of amount, returns included) and ``returns``. Once identities are
        resolved, ``identity`` holds the identity records, resolved customers and records
        per linking rule.
    """
    tables: dict[str, dict[str, Any]] = {}
    present = set(wh.list_tables())
    ids = []
    for name in CONTRACTS:
        if name not in present:
            continue
        t = wh.con.table(name)
        if name == "transactions":
            row = (
                t.aggregate(
                    rows=t.count(),
                    customers=t.customer_id.nunique(),
                    first=t.timestamp.min(),
                    last=t.timestamp.max(),
                    revenue=t.amount.sum(),
                    returns=t.is_return.sum(),
                )
                .to_pyarrow()
                .to_pylist()[0]
            )
            info: dict[str, Any] = {
                "rows": int(row["rows"]),
                "customers": int(row["customers"]),
                "first": row["first"].isoformat() if row["first"] else None,
                "last": row["last"].isoformat() if row["last"] else None,
                "revenue": round(float(row["revenue"] or 0.0), 2),
                "returns": int(row["returns"] or 0),
            }
        else:
            info = {"rows": int(t.count().to_pyarrow().as_py())}
        tables[name] = info
        if name in {"transactions", "customers"}:
            ids.append(t.select("customer_id"))
    customers = 0
    source_ids = None
    if ids:
        union = ids[0] if len(ids) == 1 else ids[0].union(ids[1])
        customers = int(union.customer_id.nunique().to_pyarrow().as_py())
        if people.resolves_identities(wh):
            # People, not records: the same count through the identity map.
            source_ids = customers
            mapped = [
                t.select("customer_id")
                for t in (
                    people.transactions(wh) if "transactions" in present else None,
                    people.customers(wh),
                )
                if t is not None
            ]
            union = mapped[0] if len(mapped) == 1 else mapped[0].union(mapped[1])
            customers = int(union.customer_id.nunique().to_pyarrow().as_py())
    for name in sorted(present):
        if name in tables or name.startswith(("_", "ibis_")):
            continue
        tables[name] = {"rows": int(wh.con.table(name).count().to_pyarrow().as_py())}
    loads = int(wh.con.table(LEDGER).count().to_pyarrow().as_py()) if LEDGER in present else 0
    status: dict[str, Any] = {
        "warehouse": wh.url,
        "backend": wh.backend,
        "customers": customers,
        **({"source_customer_ids": source_ids} if source_ids is not None else {}),
        "tables": tables,
        "loads": loads,
    }
    if IDENTITY_MAP in present:
        status["identity"] = _identity_status(wh.con.table(IDENTITY_MAP))
    return status


#: The identity map written by ``patron identify run`` (patron.identity).
IDENTITY_MAP = "identity_map"


def _identity_status(table: Any) -> dict[str, Any]:
    """Identity records, resolved customers and records per linking rule."""
    rows = table.group_by("rule").aggregate(n=table.count()).to_pyarrow().to_pylist()
    customers = int(table.customer_id.nunique().to_pyarrow().as_py())
    return {
        "records": sum(int(r["n"]) for r in rows),
        "customers": customers,
        "records_by_rule": {
            str(r["rule"]): int(r["n"]) for r in sorted(rows, key=lambda r: r["rule"])
        },
    }

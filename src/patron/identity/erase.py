"""Erase a person's identity records from the warehouse (a data subject's request).

The identity map keeps its rows (source, record id, resolved id: pseudonymous keys, no personal
data), so transactions still resolve and aggregates stay as they were; the identity records
themselves, their normalised copies and the cached normalised values of their e-mail, phone
and card are removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import ibis

from patron.data.warehouse import Warehouse
from patron.identity.normalise import CACHE
from patron.identity.resolve import IDENTITIES, MAP, RECORDS

__all__ = ["IdentityErasure", "erase_identity"]


@dataclass(frozen=True)
class IdentityErasure:
    """What erasing one person's identity data removed from the warehouse."""

    records: int
    normalised_records: int
    cached_values: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def erase_identity(wh: Warehouse, customer_id: str) -> IdentityErasure:
    """Remove the identity records of resolved customer ``customer_id`` (and their copies).

    Parameters
    ----------
    wh
        The warehouse.
    customer_id
        The resolved customer id (``identity_map.customer_id``); a customer without identity
        records erases nothing here.

    Returns
    -------
    IdentityErasure
        Rows removed per table.
    """
    if not (wh.has_table(MAP) and wh.has_table(IDENTITIES)):
        return IdentityErasure(0, 0, 0)
    links = wh.table(MAP)
    # One person's records: a handful of rows.
    mine = (
        links.filter(links.customer_id == customer_id)
        .select("source", "record_id")
        .to_pyarrow()
        .to_pylist()
    )
    if not mine:
        return IdentityErasure(0, 0, 0)
    keys = ibis.memtable({"_s": [r["source"] for r in mine], "_r": [r["record_id"] for r in mine]})
    ids = wh.table(IDENTITIES)
    theirs = ids.semi_join(keys, [ids.source == keys._s, ids.record_id == keys._r])
    raw: set[str] = set()
    for column in ("email", "phone", "card"):
        values = theirs.select(v=theirs[column].cast("string")).to_pyarrow().column("v")
        raw.update(v for v in values.to_pylist() if v)
    removed = {"records": 0, "normalised_records": 0, "cached_values": 0}
    with wh.transaction():
        for table, label in ((IDENTITIES, "records"), (RECORDS, "normalised_records")):
            if not wh.has_table(table):
                continue
            t = wh.table(table)
            before = int(t.count().to_pyarrow().as_py())
            kept = t.anti_join(keys, [t.source == keys._s, t.record_id == keys._r])
            wh.replace_table(table, kept.select(*t.columns))
            removed[label] = before - int(wh.table(table).count().to_pyarrow().as_py())
        if raw and wh.has_table(CACHE):
            cache = wh.table(CACHE)
            before = int(cache.count().to_pyarrow().as_py())
            wh.replace_table(CACHE, cache.filter(~cache.raw.isin(sorted(raw))))
            removed["cached_values"] = before - int(wh.table(CACHE).count().to_pyarrow().as_py())
    return IdentityErasure(**removed)

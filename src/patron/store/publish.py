"""Publish: copy each customer's profile from the warehouse into the store, atomically.

Rows are written tagged with a new publication id, streamed from the engine in batches
(``to_pyarrow_batches``; never a whole table in Python). Readers go through the live
publication named in ``store_meta``, which flips from the old id to the new one in one
transaction at the end: they see the previous publication or the new one, never a mix. The
previous publication is kept (a reader that looked up the pointer just before the flip still
finds its rows); older ones are deleted after the flip.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.store.connection import Store
from patron.store.publication import PublicationKind
from patron.store.schema import identifiers, profiles, publications

__all__ = [
    "IDENTIFIER_KINDS",
    "PHONE_REGION_KEY",
    "PUBLICATION_KEY",
    "PublishResult",
    "live_publication",
    "normalise_identifier",
    "publish_profiles",
]

PUBLICATION_KEY = "publication"
#: Profile publications: runs in ``publications``, rows in ``profiles`` and ``identifiers``.
PROFILES = PublicationKind(publications, (profiles, identifiers), PUBLICATION_KEY)
#: The relationship levels ``patron relationship`` writes (read by name: the domains meet in
#: the warehouse).
RELATIONSHIPS_TABLE = "customer_relationships"
#: store_meta key: the country national phone numbers are read in for lookups.
PHONE_REGION_KEY = "phone_region"
#: Identifier kinds published for lookup (the customer id is found in ``profiles``).
IDENTIFIER_KINDS = ("email", "phone", "card", "source_id")
#: Profile columns read from ``customer_value`` when present.
VALUE_COLUMNS = (
    "clv",
    "clv_low",
    "clv_high",
    "p_alive",
    "expected_purchases",
    "tier",
    "tier_reason",
    "loyalty",
    "segment",
)
FLOAT_COLUMNS = frozenset({"clv", "clv_low", "clv_high", "p_alive", "expected_purchases"})


def normalise_identifier(kind: str, value: str) -> str:
    """An identifier as stored for lookup.

    E-mail trimmed and lower-cased, phone digits only (with its leading ``+`` when it has
    one), others trimmed. The same rule runs in the engine at publish (:func:`_normalised`),
    so lookups match. Proper E.164 numbers (national numbers with each source's region) come
    from the identity step, through ``extra_identifiers``.
    """
    text = value.strip()
    if kind == "email":
        return text.lower()
    if kind == "phone":
        digits = "".join(ch for ch in text if ch.isdigit())
        return ("+" + digits) if text.startswith("+") and digits else digits
    return text


def _normalised(kind: str, column: ir.StringValue) -> ir.StringValue:
    """:func:`normalise_identifier` as an engine expression (null when nothing is left)."""
    text = column.strip()
    if kind == "email":
        out = text.lower()
    else:
        digits = text.re_replace(r"[^0-9]", "")
        out = ibis.ifelse(text.startswith("+") & (digits != ""), "+" + digits, digits)
    return ibis.ifelse(out == "", ibis.null("string"), out)


def live_publication(conn: Connection) -> int | None:
    """The id of the live publication, or None before the first publish."""
    return PROFILES.live(conn)


@dataclass(frozen=True)
class PublishResult:
    """What a publish wrote."""

    publication: int
    previous: int | None
    customers: int
    identifiers: int
    seconds: float
    has_segments: bool
    has_last_purchase: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _segment_descriptions(wh: Warehouse) -> dict[str, str]:
    if not wh.has_table("segment_models"):
        return {}
    t = wh.table("segment_models")
    rows = t.order_by(ibis.desc("created_at")).limit(1).to_pyarrow().to_pylist()
    if not rows:
        return {}
    model = json.loads(rows[0]["model"])
    return dict(zip(model.get("names", []), model.get("descriptions", []), strict=False))


def _profile_expression(
    wh: Warehouse, primary: ir.Table | None = None
) -> tuple[ir.Table, list[str], bool]:
    if not wh.has_table("customer_value"):
        raise DataError(
            "The warehouse has no customer_value table to publish; run `patron value score` "
            "and `patron tiers` first."
        )
    cv = wh.table("customer_value")
    cols = [c for c in VALUE_COLUMNS if c in cv.columns]
    expr = cv.select(customer_id=cv.customer_id.cast("string"), **{c: cv[c] for c in cols})
    extra: list[str] = []
    cu = people.customers(wh)  # one row per person once identities are resolved
    if cu is not None:
        wanted = [c for c in ("customer_type", "email", "phone", "time_zone") if c in cu.columns]
        if wanted:
            cols_side: dict[str, Any] = {c: cu[c] for c in wanted}
            for kind in ("email", "phone"):
                if kind in cols_side:
                    cols_side[kind] = _normalised(kind, cu[kind].cast("string"))
            side = cu.select(_cid=cu.customer_id.cast("string"), **cols_side)
            expr = expr.left_join(side, expr.customer_id == side._cid).drop("_cid")
            extra.extend(wanted)
    if primary is not None:
        # The identity step's choice (survivorship by source priority) wins over the
        # customers table's e-mail and phone.
        pick = primary.select(
            _pid=primary.customer_id.cast("string"),
            _email=_normalised("email", primary.email.cast("string")),
            _phone=_normalised("phone", primary.phone.cast("string")),
        )
        joined = expr.left_join(pick, expr.customer_id == pick._pid)
        chosen = {
            kind: ibis.coalesce(joined[f"_{kind}"], joined[kind])
            if kind in expr.columns
            else joined[f"_{kind}"]
            for kind in ("email", "phone")
        }
        expr = joined.select(*[c for c in expr.columns if c not in chosen], **chosen)
        extra.extend(k for k in chosen if k not in extra)
    if wh.has_table(RELATIONSHIPS_TABLE):
        rel = wh.table(RELATIONSHIPS_TABLE)
        side = rel.select(
            _rid=rel.customer_id.cast("string"),
            relationship=rel.current_level.cast("string"),
            relationship_recommended=rel.recommended_level.cast("string"),
            relationship_actions=rel.actions.cast("string")
            if "actions" in rel.columns
            else ibis.null("string"),
        )
        expr = expr.left_join(side, expr.customer_id == side._rid).drop("_rid")
        extra.extend(["relationship", "relationship_recommended", "relationship_actions"])
    has_last = False
    if wh.has_table("transactions"):
        tx = people.transactions(wh)
        last = tx.group_by(_cid=tx.customer_id.cast("string")).aggregate(
            last_purchase=tx.timestamp.max()
        )
        expr = expr.left_join(last, expr.customer_id == last._cid).drop("_cid")
        extra.append("last_purchase")
        has_last = True
        recent = people.recent_categories(wh)
        if recent is not None:  # categories known: no recent purchase is '' (not unknown)
            side = recent.rename(_rid="customer_id", _recent="recent_categories")
            joined = expr.left_join(side, expr.customer_id == side._rid)
            expr = joined.mutate(recent_categories=joined._recent.fill_null("")).drop(
                "_rid", "_recent"
            )
            extra.append("recent_categories")
    return expr, [*cols, *extra], has_last


PROFILE_COLUMNS = tuple(c.name for c in profiles.c)
IDENTIFIER_COLUMNS = ("publication_id", "kind", "value", "customer_id")


def _floats(values: list[Any]) -> list[Any]:
    return [v if v is None or math.isfinite(v) else None for v in values]


def _rows(
    batch: Any, publication: int, descriptions: dict[str, str]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Profile and identifier rows (tuples in table column order) from one Arrow batch."""
    names = set(batch.schema.names)
    n = batch.num_rows

    def column(name: str) -> list[Any]:
        return batch.column(name).to_pylist() if name in names else [None] * n

    ids = column("customer_id")
    cols: dict[str, list[Any]] = {
        "publication_id": [publication] * n,
        "customer_id": ids,
        "customer_type": column("customer_type"),
        "tier_reason": [r or None for r in column("tier_reason")],
        "segment_description": [descriptions.get(s) if s else None for s in column("segment")],
        "last_purchase": [
            t.replace(tzinfo=None) if isinstance(t, datetime) else None
            for t in column("last_purchase")
        ],
        "time_zone": [z or None for z in column("time_zone")],
        "email": [v or None for v in column("email")],
        "phone": [v or None for v in column("phone")],
        "relationship": column("relationship"),
        "relationship_recommended": column("relationship_recommended"),
        "relationship_actions": [v or None for v in column("relationship_actions")],
        "recent_categories": column("recent_categories"),
    }
    for name in FLOAT_COLUMNS:
        cols[name] = _floats(column(name))
    for name in ("tier", "loyalty", "segment"):
        cols[name] = column(name)
    # Rows by zipping whole columns (C speed); rows without a customer id are dropped.
    prof = [row for row in zip(*(cols[c] for c in PROFILE_COLUMNS), strict=True) if row[1]]
    # The customer id is looked up in ``profiles`` itself: only other identifiers are rows.
    idents: list[tuple[Any, ...]] = []
    for kind in ("email", "phone"):
        idents.extend(
            (publication, kind, value, cid)
            for value, cid in zip(column(kind), ids, strict=True)
            if value and cid
        )
    return prof, idents


_Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _prepared_batches(
    expr: ir.Table, batch_size: int, publication: int, descriptions: dict[str, str]
) -> Iterator[_Rows]:
    """Rows of each engine batch, read and prepared in a thread while the caller writes.

    The engine (which releases the GIL while it computes) runs ahead of the store writes by
    at most two batches; an error on either side stops both.
    """
    pending: queue.Queue[_Rows | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: _Rows | BaseException | None) -> None:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for batch in expr.to_pyarrow_batches(chunk_size=batch_size):
                if stop.is_set():
                    return
                put(_rows(batch, publication, descriptions))
        except BaseException as exc:
            put(exc)
        else:
            put(None)

    worker = threading.Thread(target=produce, name="patron-publish-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = pending.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _bulk_insert(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows by the driver's fastest path.

    COPY where the driver has it (psycopg), else one prepared statement executed for every row.
    """
    if not rows:
        return
    driver = conn.connection.driver_connection
    cursor = driver.cursor() if driver is not None else None
    if cursor is not None and hasattr(cursor, "copy"):
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.close()
        return
    if cursor is not None:
        cursor.close()
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle, "?")
    values = ", ".join([marks] * len(columns))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values})"
    conn.exec_driver_sql(sql, rows)


def _extra_identifier_rows(
    table: ir.Table, publication: int, batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    expr = table.select(
        customer_id=table.customer_id.cast("string"),
        kind=table.kind.cast("string"),
        value=table.value.cast("string"),
    ).distinct()
    for batch in expr.to_pyarrow_batches(chunk_size=batch_size):
        rows = []
        for rec in batch.to_pylist():
            if rec["customer_id"] is None or rec["value"] is None or rec["kind"] is None:
                continue
            if rec["kind"] not in IDENTIFIER_KINDS:
                raise DataError(
                    f"Identifier kind {rec['kind']!r} is not one of {', '.join(IDENTIFIER_KINDS)}."
                )
            rows.append(
                {
                    "publication_id": publication,
                    "kind": rec["kind"],
                    "value": normalise_identifier(rec["kind"], rec["value"]),
                    "customer_id": rec["customer_id"],
                }
            )
        yield rows


def publish_profiles(
    wh: Warehouse,
    store: Store,
    *,
    source: str = "",
    batch_size: int = 20_000,
    extra_identifiers: ir.Table | None = None,
    phone_region: str | None = None,
    primary_identifiers: ir.Table | None = None,
    progress: Callable[[int], None] | None = None,
) -> PublishResult:
    """Publish every customer's profile from the warehouse into the store, atomically.

    Parameters
    ----------
    wh
        The warehouse with ``customer_value`` (tiers and segments included once computed);
        ``customers`` adds customer type, e-mail, phone and time zone; ``transactions`` the
        last purchase; ``segment_models`` the segment descriptions.
    store
        The operational store (at the current revision).
    source
        Where the profiles came from (shown by ``patron store status``; no credentials).
    batch_size
        Rows per batch read from the engine and written in one transaction.
    extra_identifiers
        An engine table with ``customer_id, kind, value`` to publish for lookup besides the
        customer id, e-mail and phone: the hook for the identity map (cards, source ids).
    phone_region
        The ISO country code the identity step read national phone numbers in (its E.164
        numbers are what ``extra_identifiers`` holds); kept with the publication so that a
        lookup by a national number ("07911 123456") finds them.
    primary_identifiers
        An engine table ``customer_id, email, phone`` (the identity step's survivorship by
        source priority): the profile's e-mail and phone, over the customers table's.
    progress
        Called with the number of customers written so far after each batch.
    """
    start = time.perf_counter()
    expr, _columns, has_last = _profile_expression(wh, primary_identifiers)
    descriptions = _segment_descriptions(wh)
    publication = PROFILES.begin(store, source=source, customers=0, identifiers=0)
    n_profiles = n_identifiers = 0
    try:
        for prof, idents in _prepared_batches(expr, batch_size, publication, descriptions):
            if not prof:
                continue
            with store.write() as conn:
                _bulk_insert(conn, profiles, PROFILE_COLUMNS, prof)
                _bulk_insert(conn, identifiers, IDENTIFIER_COLUMNS, idents)
            n_profiles += len(prof)
            n_identifiers += len(idents)
            if progress is not None:
                progress(n_profiles)
        if extra_identifiers is not None:
            for rows in _extra_identifier_rows(extra_identifiers, publication, batch_size):
                if rows:
                    with store.write() as conn:
                        conn.execute(_insert_ignore(conn), rows)
                    n_identifiers += len(rows)
        # The flip: one transaction makes the new publication live.
        meta = {PHONE_REGION_KEY: phone_region.upper()} if phone_region else {}
        with store.write() as conn:
            previous = PROFILES.flip(
                conn, publication, meta=meta, customers=n_profiles, identifiers=n_identifiers
            )
    except BaseException:
        PROFILES.fail(store, publication)
        raise
    PROFILES.retire(store, publication, previous)
    PROFILES.analyze(store)
    return PublishResult(
        publication,
        previous,
        n_profiles,
        n_identifiers,
        time.perf_counter() - start,
        bool(descriptions),
        has_last,
    )


def _insert_ignore(conn: Connection) -> Any:
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(identifiers).on_conflict_do_nothing()

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
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import phonenumbers
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.store.connection import Store
from patron.store.schema import identifiers, profiles, publications, store_meta

__all__ = [
    "IDENTIFIER_KINDS",
    "PUBLICATION_KEY",
    "PublishResult",
    "live_publication",
    "normalise_identifier",
    "publish_profiles",
]

PUBLICATION_KEY = "publication"
#: Identifier kinds published for lookup.
IDENTIFIER_KINDS = ("customer_id", "email", "phone", "card", "source_id")
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
    """An identifier as stored for lookup: e-mail lower-cased, phone in E.164 where it parses.

    A phone number without a country code keeps its digits only (the identity step of a later
    issue normalises them with each source's region).
    """
    text = value.strip()
    if kind == "email":
        return text.lower()
    if kind == "phone":
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        digits = "".join(ch for ch in text if ch.isdigit())
        return ("+" + digits) if text.startswith("+") else digits
    return text


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def live_publication(conn: Connection) -> int | None:
    """The id of the live publication, or None before the first publish."""
    value = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == PUBLICATION_KEY)
    ).scalar_one_or_none()
    return int(value) if value is not None else None


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


def _profile_expression(wh: Warehouse) -> tuple[ir.Table, list[str], bool]:
    if not wh.has_table("customer_value"):
        raise DataError(
            "The warehouse has no customer_value table to publish; run `patron value score` "
            "and `patron tiers` first."
        )
    cv = wh.table("customer_value")
    cols = [c for c in VALUE_COLUMNS if c in cv.columns]
    expr = cv.select(customer_id=cv.customer_id.cast("string"), **{c: cv[c] for c in cols})
    extra: list[str] = []
    if wh.has_table("customers"):
        cu = wh.table("customers")
        wanted = [c for c in ("customer_type", "email", "phone", "time_zone") if c in cu.columns]
        if wanted:
            side = cu.select(_cid=cu.customer_id.cast("string"), **{c: cu[c] for c in wanted})
            expr = expr.left_join(side, expr.customer_id == side._cid).drop("_cid")
            extra.extend(wanted)
    has_last = False
    if wh.has_table("transactions"):
        tx = wh.table("transactions")
        last = tx.group_by(_cid=tx.customer_id.cast("string")).aggregate(
            last_purchase=tx.timestamp.max()
        )
        expr = expr.left_join(last, expr.customer_id == last._cid).drop("_cid")
        extra.append("last_purchase")
        has_last = True
    return expr, [*cols, *extra], has_last


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(
    batch: Any, columns: list[str], publication: int, descriptions: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    prof: list[dict[str, Any]] = []
    idents: list[dict[str, Any]] = []
    for rec in batch.to_pylist():
        cid = rec["customer_id"]
        if cid is None:
            continue
        segment = rec.get("segment")
        last = rec.get("last_purchase")
        prof.append(
            {
                "publication_id": publication,
                "customer_id": cid,
                "customer_type": rec.get("customer_type"),
                **{c: _clean(rec.get(c)) for c in FLOAT_COLUMNS},
                "tier": rec.get("tier"),
                "tier_reason": rec.get("tier_reason") or None,
                "loyalty": rec.get("loyalty"),
                "segment": segment,
                "segment_description": descriptions.get(segment) if segment else None,
                "last_purchase": last.replace(tzinfo=None) if isinstance(last, datetime) else None,
                "time_zone": rec.get("time_zone") or None,
            }
        )
        seen = {("customer_id", cid)}
        idents.append(
            {"publication_id": publication, "kind": "customer_id", "value": cid, "customer_id": cid}
        )
        for kind in ("email", "phone"):
            raw = rec.get(kind)
            if raw is None or not str(raw).strip():
                continue
            value = normalise_identifier(kind, str(raw))
            if value and (kind, value) not in seen:
                seen.add((kind, value))
                idents.append(
                    {
                        "publication_id": publication,
                        "kind": kind,
                        "value": value,
                        "customer_id": cid,
                    }
                )
    return prof, idents


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
    progress
        Called with the number of customers written so far after each batch.
    """
    start = time.perf_counter()
    expr, columns, has_last = _profile_expression(wh)
    descriptions = _segment_descriptions(wh)
    now = _now()
    with store.write() as conn:
        publication = int(
            conn.execute(
                sa.insert(publications)
                .values(
                    started_at=now,
                    status="building",
                    source=source,
                    customers=0,
                    identifiers=0,
                )
                .returning(publications.c.id)
            ).scalar_one()
        )
    n_profiles = n_identifiers = 0
    try:
        for batch in expr.to_pyarrow_batches(chunk_size=batch_size):
            prof, idents = _rows(batch, columns, publication, descriptions)
            if not prof:
                continue
            with store.write() as conn:
                conn.execute(sa.insert(profiles), prof)
                conn.execute(sa.insert(identifiers), idents)
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
        with store.write() as conn:
            previous = live_publication(conn)
            conn.execute(
                sa.update(publications)
                .where(publications.c.status == "live")
                .values(status="previous")
            )
            conn.execute(
                sa.update(publications)
                .where(publications.c.id == publication)
                .values(
                    status="live",
                    finished_at=_now(),
                    customers=n_profiles,
                    identifiers=n_identifiers,
                )
            )
            conn.execute(sa.delete(store_meta).where(store_meta.c.key == PUBLICATION_KEY))
            conn.execute(sa.insert(store_meta).values(key=PUBLICATION_KEY, value=str(publication)))
    except BaseException:
        with store.write() as conn:
            _drop_publication(conn, publication, "failed")
        raise
    # Retire what is older than the previous publication (readers use the live one, or the
    # previous one if they looked just before the flip).
    with store.write() as conn:
        old = (
            conn.execute(
                sa.select(publications.c.id).where(
                    publications.c.status.in_(("previous", "failed")),
                    publications.c.id != previous if previous is not None else sa.true(),
                    publications.c.id != publication,
                )
            )
            .scalars()
            .all()
        )
        for pub in old:
            _drop_publication(conn, int(pub), "retired")
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


def _drop_publication(conn: Connection, publication: int, status: str) -> None:
    conn.execute(sa.delete(profiles).where(profiles.c.publication_id == publication))
    conn.execute(sa.delete(identifiers).where(identifiers.c.publication_id == publication))
    conn.execute(
        sa.update(publications).where(publications.c.id == publication).values(status=status)
    )

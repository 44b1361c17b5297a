"""One price per customer and product: live price quotes, reused across channels.

A quote is the price a customer was shown for a product (or a category, for offers without a
product), valid until it expires. While a quote is live, every channel shows that price:
:func:`quote` returns the live quote instead of making a new one, and a different price asked
for (an offer's own price) is either aligned to the live one or refused (``on_conflict``).
So a customer never holds two live quotes for one product at different prices. Quotes are
written in one store transaction that first takes a lock for the customer and product (SQLite
serialises writers; PostgreSQL takes a transaction-scoped advisory lock), so two channels
quoting at once cannot both create one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import UsageError
from patron.interact.vocabulary import CHANNELS, check_choice, to_utc, utc_now
from patron.store import Store
from patron.store.schema import quotes

__all__ = [
    "PRICE_CONFLICT",
    "QUOTE_DAYS",
    "Quote",
    "QuoteOutcome",
    "live_quotes",
    "quote",
    "quote_in",
    "quote_many",
]

#: How long a quote stays live (days) unless told otherwise.
QUOTE_DAYS = 14.0
#: What to do with a different price for a product with a live quote.
PRICE_CONFLICT = ("align", "refuse")


@dataclass(frozen=True)
class Quote:
    """A price quoted to a customer for a product, live from ``created_at`` to ``expires_at``."""

    id: int
    customer_id: str
    product: str
    price: float
    channel: str
    offer_id: str | None
    created_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (times in ISO 8601, UTC)."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "product": self.product,
            "price": self.price,
            "channel": self.channel,
            "offer_id": self.offer_id,
            "created_at": self.created_at.isoformat() + "Z",
            "expires_at": self.expires_at.isoformat() + "Z",
        }


@dataclass(frozen=True)
class QuoteOutcome:
    """What :func:`quote` did, the quote that stands, and why in words.

    ``status``: ``new``, ``reused``, ``aligned`` (a different price asked for, the live one
    kept) or ``refused`` (a different price asked for, nothing quoted).
    """

    status: str
    quote: Quote | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "status": self.status,
            "quote": self.quote.to_dict() if self.quote else None,
            "reason": self.reason,
        }


def _quote(row: Any) -> Quote:
    return Quote(
        id=int(row.id),
        customer_id=str(row.customer_id),
        product=str(row.product),
        price=float(row.price),
        channel=str(row.channel),
        offer_id=row.offer_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def live_quotes(conn: Connection, customer_id: str, at: datetime) -> dict[str, Quote]:
    """The customer's live quotes at ``at`` (naive UTC), by product."""
    rows = conn.execute(
        sa.select(quotes)
        .where(
            quotes.c.customer_id == customer_id,
            quotes.c.created_at <= at,
            quotes.c.expires_at > at,
        )
        .order_by(quotes.c.created_at, quotes.c.id)
    )
    return {str(r.product): _quote(r) for r in rows}


def _lock(conn: Connection, customer_id: str, product: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"quote:{customer_id}:{product}"},
        )


def quote_in(
    conn: Connection,
    customer_id: str,
    product: str,
    channel: str,
    *,
    price: float | None = None,
    offer_id: str | None = None,
    at: datetime | None = None,
    days: float = QUOTE_DAYS,
    on_conflict: str = "align",
) -> QuoteOutcome:
    """:func:`quote` inside the caller's write transaction."""
    check_choice(channel, CHANNELS, "channel")
    check_choice(on_conflict, PRICE_CONFLICT, "price conflict rule")
    if not customer_id or not product:
        raise UsageError("A quote needs a customer id and a product.")
    if price is not None and (price != price or price < 0 or price == float("inf")):
        raise UsageError(f"A quoted price must be a finite number, 0 or more, not {price!r}.")
    if not days > 0:
        raise UsageError(f"A quote's validity must be positive (days), not {days!r}.")
    when = to_utc(at) if at is not None else utc_now()
    _lock(conn, customer_id, product)
    live = conn.execute(
        sa.select(quotes)
        .where(
            quotes.c.customer_id == customer_id,
            quotes.c.product == product,
            quotes.c.created_at <= when,
            quotes.c.expires_at > when,
        )
        .order_by(quotes.c.created_at, quotes.c.id)
        .limit(1)
    ).first()
    if live is not None:
        current = _quote(live)
        if price is None or abs(price - current.price) < 1e-9:
            return QuoteOutcome(
                "reused",
                current,
                f"live quote {current.price:,.2f} from {current.channel} on "
                f"{current.created_at:%Y-%m-%d}, valid until {current.expires_at:%Y-%m-%d}",
            )
        if on_conflict == "refuse":
            return QuoteOutcome(
                "refused",
                None,
                f"{product} is quoted at {current.price:,.2f} until "
                f"{current.expires_at:%Y-%m-%d} ({current.channel}); a price of {price:,.2f} "
                "would contradict it",
            )
        return QuoteOutcome(
            "aligned",
            current,
            f"{price:,.2f} aligned to the live quote {current.price:,.2f} ({current.channel}, "
            f"until {current.expires_at:%Y-%m-%d})",
        )
    if price is None:
        raise UsageError(
            f"No live quote for {product!r} to customer {customer_id!r}; give a price (or an "
            "offer with a price) to quote."
        )
    # A quote made later may not overlap one already made for a later time at another price.
    later = conn.execute(
        sa.select(quotes.c.created_at)
        .where(
            quotes.c.customer_id == customer_id,
            quotes.c.product == product,
            quotes.c.created_at > when,
            quotes.c.price != price,
        )
        .order_by(quotes.c.created_at)
        .limit(1)
    ).scalar_one_or_none()
    expires = when + timedelta(days=days)
    if later is not None and later < expires:
        expires = later
    new_id = conn.execute(
        sa.insert(quotes)
        .values(
            customer_id=customer_id,
            product=product,
            price=float(price),
            channel=channel,
            offer_id=offer_id,
            created_at=when,
            expires_at=expires,
        )
        .returning(quotes.c.id)
    ).scalar_one()
    made = Quote(int(new_id), customer_id, product, float(price), channel, offer_id, when, expires)
    return QuoteOutcome("new", made, f"quoted {price:,.2f} until {expires:%Y-%m-%d}")


def quote_many(
    conn: Connection,
    requests: list[tuple[str, str, str, float, str | None]],
    *,
    at: datetime,
    days: float = QUOTE_DAYS,
    on_conflict: str = "align",
) -> list[QuoteOutcome]:
    """:func:`quote_in` for many (customer, product, channel, price, offer id) at once.

    The same rules, in a few statements for the whole list (a campaign's contacts): the live
    quotes of every pair are read in one query, new quotes written in one insert. A pair
    given twice is quoted once (the second request sees the first's quote).
    """
    check_choice(on_conflict, PRICE_CONFLICT, "price conflict rule")
    if not days > 0:
        raise UsageError(f"A quote's validity must be positive (days), not {days!r}.")
    when = to_utc(at)
    pairs = sorted({(c, p) for c, p, _, _, _ in requests})
    if not pairs:
        return []
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(:ks AS text[])) k"
            ),
            {"ks": [f"quote:{c}:{p}" for c, p in pairs]},
        )
    customers = sorted({c for c, _ in pairs})
    existing: dict[tuple[str, str], Quote] = {}
    later: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for i in range(0, len(customers), 1000):
        rows = conn.execute(
            sa.select(quotes)
            .where(
                quotes.c.customer_id.in_(customers[i : i + 1000]),
                quotes.c.expires_at > when,
            )
            .order_by(quotes.c.created_at, quotes.c.id)
        )
        for r in rows:
            key = (str(r.customer_id), str(r.product))
            if r.created_at <= when:
                existing.setdefault(key, _quote(r))
            else:
                later.setdefault(key, []).append((r.created_at, float(r.price)))
    outcomes: list[QuoteOutcome | None] = [None] * len(requests)
    new_rows: list[dict[str, Any]] = []
    new_index: list[int] = []
    for i, (customer_id, product, channel, price, offer_id) in enumerate(requests):
        check_choice(channel, CHANNELS, "channel")
        key = (customer_id, product)
        current = existing.get(key)
        if current is not None:
            if abs(price - current.price) < 1e-9:
                outcomes[i] = QuoteOutcome("reused", current, "live quote reused")
            elif on_conflict == "refuse":
                outcomes[i] = QuoteOutcome(
                    "refused",
                    None,
                    f"{product} is quoted at {current.price:,.2f} until "
                    f"{current.expires_at:%Y-%m-%d}; {price:,.2f} would contradict it",
                )
            else:
                outcomes[i] = QuoteOutcome(
                    "aligned", current, f"{price:,.2f} aligned to {current.price:,.2f}"
                )
            continue
        expires = when + timedelta(days=days)
        for created, other in later.get(key, []):
            if abs(other - price) >= 1e-9 and created < expires:
                expires = created
                break
        made = Quote(0, customer_id, product, float(price), channel, offer_id, when, expires)
        existing[key] = made
        new_rows.append(
            {
                "customer_id": customer_id,
                "product": product,
                "price": float(price),
                "channel": channel,
                "offer_id": offer_id,
                "created_at": when,
                "expires_at": expires,
            }
        )
        new_index.append(i)
    if new_rows:
        conn.execute(sa.insert(quotes), new_rows)
        ids = dict(
            (
                (str(r.customer_id), str(r.product)),
                int(r.id),
            )
            for r in conn.execute(
                sa.select(quotes.c.id, quotes.c.customer_id, quotes.c.product).where(
                    quotes.c.customer_id.in_(sorted({r["customer_id"] for r in new_rows})),
                    quotes.c.created_at == when,
                )
            )
        )
        for i in new_index:
            c, p, _, _, _ = requests[i]
            q = replace(existing[(c, p)], id=ids.get((c, p), 0))
            outcomes[i] = QuoteOutcome(
                "new", q, f"quoted {q.price:,.2f} until {q.expires_at:%Y-%m-%d}"
            )
    # a pair requested twice: the later requests see the first's new quote
    return [o if o is not None else QuoteOutcome("refused", None, "not quoted") for o in outcomes]


def quote(
    store: Store,
    customer_id: str,
    product: str,
    channel: str,
    *,
    price: float | None = None,
    offer_id: str | None = None,
    at: datetime | None = None,
    days: float = QUOTE_DAYS,
    on_conflict: str = "align",
) -> QuoteOutcome:
    """The price to show a customer for a product on a channel, one price across channels.

    Parameters
    ----------
    customer_id, product, channel
        Who, what (a product id, or a category), where.
    price
        The price this channel would show (an offer's price); ``None``: only a live quote.
    offer_id
        The offer it comes from, for the record.
    at
        When (default now; UTC if naive).
    days
        How long a new quote stays live (days).
    on_conflict
        ``align``: a different price gives the live quote (status ``aligned``); ``refuse``:
        nothing is quoted (status ``refused``).

    Raises
    ------
    UsageError
        An unknown channel or rule, a negative price, or no price and no live quote.
    """
    with store.write() as conn:
        return quote_in(
            conn,
            customer_id,
            product,
            channel,
            price=price,
            offer_id=offer_id,
            at=at,
            days=days,
            on_conflict=on_conflict,
        )

"""Data subject requests on the store: export everything about a customer, or erase it.

Erasure (store side) deletes the customer's profiles and identifiers in every publication and
their facts, and anonymises their touch points, consent records, next-best-action decisions
and price quotes: the customer id becomes a
random token (the same token across the customer's records, so counts per anonymous customer
stay right), notes, evidence and idempotency keys are cleared. Aggregates over touch points
(per channel, campaign, day) are unchanged. The warehouse side (customer attributes,
identities) is erased by the warehouse's own step.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import NotFoundError
from patron.store import Store
from patron.store.schema import (
    consents,
    decisions,
    facts,
    identifiers,
    profiles,
    quotes,
    touchpoints,
)

__all__ = ["ErasureResult", "erase_customer", "export_customer"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value


def _rows(conn: Connection, table: sa.Table, customer_id: str) -> list[dict[str, Any]]:
    query = sa.select(table).where(table.c.customer_id == customer_id)
    order = [
        c
        for c in ("publication_id", "recorded_at", "occurred_at", "decided_at", "created_at", "id")
        if c in table.c
    ]
    query = query.order_by(*(table.c[c] for c in order))
    out = []
    for row in conn.execute(query):
        item = {k: _plain(v) for k, v in row._asdict().items()}
        if table is facts:
            item["value"] = json.loads(item["value"])
        out.append(item)
    return out


def export_customer(store: Store, customer_id: str) -> dict[str, Any]:
    """Everything the store holds about a customer, as JSON-ready data.

    Raises
    ------
    NotFoundError
        The store holds nothing about this customer.
    """
    with store.read() as conn:
        data = {
            name: _rows(conn, table, customer_id)
            for name, table in (
                ("profiles", profiles),
                ("identifiers", identifiers),
                ("facts", facts),
                ("consents", consents),
                ("touchpoints", touchpoints),
                ("decisions", decisions),
                ("quotes", quotes),
            )
        }
    if not any(data.values()):
        raise NotFoundError(f"The store holds nothing about customer {customer_id!r}.")
    return {"customer_id": customer_id, **data}


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure removed or anonymised."""

    customer_id: str
    profiles: int
    identifiers: int
    facts: int
    touchpoints_anonymised: int
    consents_anonymised: int
    decisions_anonymised: int = 0
    quotes_anonymised: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def erase_customer(store: Store, customer_id: str) -> ErasureResult:
    """Erase a customer's personal data from the store, in one transaction (see the module).

    Raises
    ------
    NotFoundError
        The store holds nothing about this customer.
    """
    token = "erased-" + secrets.token_hex(8)
    with store.write() as conn:

        def run(stmt: Any) -> int:
            return int(conn.execute(stmt).rowcount or 0)

        n_profiles = run(sa.delete(profiles).where(profiles.c.customer_id == customer_id))
        n_idents = run(sa.delete(identifiers).where(identifiers.c.customer_id == customer_id))
        n_facts = run(sa.delete(facts).where(facts.c.customer_id == customer_id))
        n_tps = run(
            sa.update(touchpoints)
            .where(touchpoints.c.customer_id == customer_id)
            .values(customer_id=token, note=None, idempotency_key=None)
        )
        n_consents = run(
            sa.update(consents)
            .where(consents.c.customer_id == customer_id)
            .values(customer_id=token, evidence=None)
        )
        n_decisions = run(
            sa.update(decisions)
            .where(decisions.c.customer_id == customer_id)
            .values(customer_id=token)
        )
        n_quotes = run(
            sa.update(quotes).where(quotes.c.customer_id == customer_id).values(customer_id=token)
        )
        if not (n_profiles or n_idents or n_facts or n_tps or n_consents or n_decisions):
            raise NotFoundError(f"The store holds nothing about customer {customer_id!r}.")
    return ErasureResult(
        customer_id, n_profiles, n_idents, n_facts, n_tps, n_consents, n_decisions, n_quotes
    )

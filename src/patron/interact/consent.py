"""Consent per customer, channel and purpose: an append-only history; the latest record decides.

A record is granted, denied or withdrawn, with its time, source (web form, call centre, ...)
and evidence (the form's text, a recording id). Nothing is updated or deleted: a withdrawal
is a new record and applies at once. A record for channel ``all`` covers every channel (a
later record for one channel overrides it for that channel). Without any record the
per-channel default applies (:data:`DEFAULT_CONSENT`: opt-in for e-mail, SMS and phone
marketing, opt-out for mail; profiling is opt-in everywhere; service contacts are allowed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import UsageError
from patron.interact.vocabulary import (
    CHANNELS,
    CONSENT_STATES,
    PURPOSES,
    check_choice,
    to_utc,
    utc_now,
)
from patron.store import Store
from patron.store.schema import consents

__all__ = [
    "ALL_CHANNELS",
    "DEFAULT_CONSENT",
    "ConsentDecision",
    "ConsentRecord",
    "consent_decisions",
    "consent_history",
    "latest_consent",
    "set_consent",
]

#: The channel value that a consent record can give for every channel at once.
ALL_CHANNELS = "all"

#: Whether a purpose is allowed on a channel when the customer has said nothing (True:
#: opt-out, allowed until refused; False: opt-in, refused until granted).
DEFAULT_CONSENT: dict[str, dict[str, bool]] = {
    "marketing": {
        "web": True,
        "app": True,
        "store": True,
        "mail": True,
        "email": False,
        "sms": False,
        "phone": False,
    },
    "profiling": dict.fromkeys(CHANNELS, False),
    "service": dict.fromkeys(CHANNELS, True),
}

ConsentDefaults = Mapping[str, Mapping[str, bool]]


@dataclass(frozen=True)
class ConsentRecord:
    """One stored consent record."""

    id: int
    customer_id: str
    channel: str
    purpose: str
    state: str
    recorded_at: datetime
    source: str
    evidence: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (time in ISO 8601, UTC)."""
        row = asdict(self)
        row["recorded_at"] = self.recorded_at.isoformat() + "Z"
        return row


@dataclass(frozen=True)
class ConsentDecision:
    """Whether a purpose is allowed on a channel for a customer, and why."""

    customer_id: str
    channel: str
    purpose: str
    allowed: bool
    record: ConsentRecord | None  # None: the default decided

    @property
    def reason(self) -> str:
        """The decision in words."""
        if self.record is None:
            kind = "opt-out" if self.allowed else "opt-in"
            verdict = "allowed" if self.allowed else "not allowed"
            return (
                f"no consent recorded for {self.purpose} on {self.channel}; the default is "
                f"{kind}, so it is {verdict}"
            )
        r = self.record
        scope = "every channel" if r.channel == ALL_CHANNELS else r.channel
        return (
            f"{self.purpose} on {scope} {r.state} on {r.recorded_at:%Y-%m-%d %H:%M} UTC "
            f"({r.source})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "purpose": self.purpose,
            "allowed": self.allowed,
            "reason": self.reason,
            "record": self.record.to_dict() if self.record else None,
        }


def _record(row: Any) -> ConsentRecord:
    return ConsentRecord(
        id=row.id,
        customer_id=row.customer_id,
        channel=row.channel,
        purpose=row.purpose,
        state=row.state,
        recorded_at=row.recorded_at,
        source=row.source,
        evidence=row.evidence,
    )


def set_consent(
    store: Store,
    customer_id: str,
    channel: str,
    purpose: str,
    state: str,
    *,
    source: str,
    evidence: str | None = None,
    at: datetime | None = None,
) -> ConsentRecord:
    """Record a consent decision (appended; earlier records stay as history).

    Parameters
    ----------
    channel
        One of :data:`~patron.interact.vocabulary.CHANNELS`, or ``all``.
    purpose
        ``marketing``, ``profiling`` or ``service``.
    state
        ``granted``, ``denied`` or ``withdrawn``.
    source
        Where it was given (``web form``, ``call centre``, ...); required.
    at
        When it was given (UTC if naive); default now.

    Raises
    ------
    UsageError
        An unknown channel, purpose or state, or no source: nothing is written.
    """
    if not customer_id or not customer_id.strip():
        raise UsageError("A consent record needs a customer id.")
    check_choice(channel, (*CHANNELS, ALL_CHANNELS), "channel")
    check_choice(purpose, PURPOSES, "purpose")
    check_choice(state, CONSENT_STATES, "consent state")
    if not source or not source.strip():
        raise UsageError("A consent record needs its source (where it was given).")
    when = to_utc(at) if at is not None else utc_now()
    row = {
        "customer_id": customer_id,
        "channel": channel,
        "purpose": purpose,
        "state": state,
        "recorded_at": when,
        "source": source,
        "evidence": evidence,
    }
    with store.write() as conn:
        new_id = conn.execute(sa.insert(consents).returning(consents.c.id), row).scalar_one()
    return ConsentRecord(
        id=int(new_id),
        customer_id=customer_id,
        channel=channel,
        purpose=purpose,
        state=state,
        recorded_at=when,
        source=source,
        evidence=evidence,
    )


def latest_consent(
    store: Store | Connection,
    customer_id: str,
    channel: str,
    purpose: str,
    *,
    defaults: ConsentDefaults | None = None,
) -> ConsentDecision:
    """Whether ``purpose`` is allowed on ``channel`` for the customer.

    The latest record that covers the channel (its own or ``all``) decides, else the default
    (``defaults``, or :data:`DEFAULT_CONSENT`).
    """
    check_choice(channel, CHANNELS, "channel")
    check_choice(purpose, PURPOSES, "purpose")
    query = (
        sa.select(consents)
        .where(
            consents.c.customer_id == customer_id,
            consents.c.purpose == purpose,
            consents.c.channel.in_([channel, ALL_CHANNELS]),
        )
        .order_by(consents.c.recorded_at.desc(), consents.c.id.desc())
        .limit(1)
    )
    if isinstance(store, Connection):
        row = store.execute(query).first()
    else:
        with store.read() as conn:
            row = conn.execute(query).first()
    if row is None:
        table = defaults if defaults is not None else DEFAULT_CONSENT
        allowed = bool(table.get(purpose, {}).get(channel, False))
        return ConsentDecision(customer_id, channel, purpose, allowed, None)
    record = _record(row)
    return ConsentDecision(customer_id, channel, purpose, record.state == "granted", record)


def consent_decisions(
    conn: Connection,
    customer_id: str,
    channel: str,
    *,
    defaults: ConsentDefaults | None = None,
) -> dict[str, ConsentDecision]:
    """:func:`latest_consent` for every purpose on a channel, in one query."""
    check_choice(channel, CHANNELS, "channel")
    query = (
        sa.select(consents)
        .where(
            consents.c.customer_id == customer_id,
            consents.c.channel.in_([channel, ALL_CHANNELS]),
        )
        .order_by(consents.c.recorded_at, consents.c.id)
    )
    latest: dict[str, ConsentRecord] = {}
    for row in conn.execute(query):
        latest[row.purpose] = _record(row)
    table = defaults if defaults is not None else DEFAULT_CONSENT
    out = {}
    for purpose in PURPOSES:
        record = latest.get(purpose)
        if record is None:
            allowed = bool(table.get(purpose, {}).get(channel, False))
        else:
            allowed = record.state == "granted"
        out[purpose] = ConsentDecision(customer_id, channel, purpose, allowed, record)
    return out


def consent_history(
    store: Store | Connection, customer_id: str, purpose: str | None = None
) -> list[ConsentRecord]:
    """Every consent record of a customer (optionally of one purpose), oldest first."""
    if purpose is not None:
        check_choice(purpose, PURPOSES, "purpose")
    query = sa.select(consents).where(consents.c.customer_id == customer_id)
    if purpose is not None:
        query = query.where(consents.c.purpose == purpose)
    query = query.order_by(consents.c.recorded_at, consents.c.id)
    if isinstance(store, Connection):
        return [_record(r) for r in store.execute(query)]
    with store.read() as conn:
        return [_record(r) for r in conn.execute(query)]

"""Published profiles as Interact reads them: the live publication, lookup by identifier."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import NotFoundError, UsageError
from patron.store.publish import PHONE_REGION_KEY, live_publication, normalise_identifier
from patron.store.schema import identifiers, profiles, store_meta

__all__ = [
    "Profile",
    "find_profile",
    "live_profile",
    "profile_in",
    "require_profile",
    "resolve_customer",
]


@dataclass(frozen=True)
class Profile:
    """A customer's published profile (value, tier, segment, ...)."""

    publication_id: int
    customer_id: str
    customer_type: str | None
    clv: float | None
    clv_low: float | None
    clv_high: float | None
    p_alive: float | None
    expected_purchases: float | None
    tier: str | None
    tier_reason: str | None
    loyalty: str | None
    segment: str | None
    segment_description: str | None
    last_purchase: datetime | None
    time_zone: str | None
    email: str | None = None
    phone: str | None = None
    relationship: str | None = None
    relationship_recommended: str | None = None
    relationship_actions: str | None = None
    recent_categories: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        row = asdict(self)
        if self.last_purchase is not None:
            row["last_purchase"] = self.last_purchase.date().isoformat()
        return row


NO_PUBLICATION = "The store has no published profiles yet; run `patron publish` first."


def profile_in(conn: Connection, publication: int, customer_id: str) -> Profile | None:
    """The customer's profile in a given publication, or None."""
    row = conn.execute(
        sa.select(profiles).where(
            profiles.c.publication_id == publication, profiles.c.customer_id == customer_id
        )
    ).first()
    return Profile(**row._asdict()) if row is not None else None


def live_profile(conn: Connection, customer_id: str) -> Profile | None:
    """The customer's profile in the live publication, or None."""
    pub = live_publication(conn)
    return None if pub is None else profile_in(conn, pub, customer_id)


def require_profile(conn: Connection, customer_id: str) -> Profile:
    """The customer's live profile, or a :class:`NotFoundError` saying what to do."""
    pub = live_publication(conn)
    if pub is None:
        raise NotFoundError(NO_PUBLICATION)
    profile = profile_in(conn, pub, customer_id)
    if profile is not None:
        return profile
    raise NotFoundError(
        f"Unknown customer {customer_id!r}: not in the published profiles (check the id, or "
        "publish again after loading and scoring them)."
    )


def _e164(text: str, region: str | None) -> str | None:
    """A phone number written nationally ("07911 123456") in E.164, given its country."""
    if not region:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def find_profile(
    conn: Connection, text: str, publication: int | None, region: str | None = None
) -> Profile:
    """The profile of the customer with this id or identifier in ``publication``.

    Raises
    ------
    NotFoundError
        Nothing is published, or no published customer has it.
    UsageError
        Several customers share it (the message lists them).

    ``region`` (ISO country code) also reads a phone number written nationally in E.164,
    as the identity step publishes them.
    """
    if publication is None:
        raise NotFoundError(NO_PUBLICATION)
    query = text.strip()
    profile = profile_in(conn, publication, query)
    if profile is not None:
        return profile
    pairs = [(kind, query) for kind in ("card", "source_id")]
    if "@" in query:
        pairs.append(("email", normalise_identifier("email", query)))
    elif any(ch.isdigit() for ch in query):
        pairs.append(("phone", normalise_identifier("phone", query)))
        e164 = _e164(query, region)
        if e164:
            pairs.append(("phone", e164))
    found = sorted(
        set(
            conn.execute(
                sa.select(identifiers.c.customer_id).where(
                    identifiers.c.publication_id == publication,
                    sa.tuple_(identifiers.c.kind, identifiers.c.value).in_(pairs),
                )
            ).scalars()
        )
    )
    if not found:
        raise NotFoundError(
            f"No published customer has the id or identifier {query!r} (customer id, e-mail, "
            "phone or card)."
        )
    if len(found) > 1:
        shown = ", ".join(found[:10])
        raise UsageError(
            f"{query!r} belongs to {len(found)} customers ({shown}); give the customer id."
        )
    found_profile = profile_in(conn, publication, str(found[0]))
    if found_profile is None:  # pragma: no cover - publish writes both or neither
        raise NotFoundError(f"Customer {found[0]!r} has identifiers but no profile.")
    return found_profile


def resolve_customer(conn: Connection, text: str) -> str:
    """The customer id for an id or identifier (e-mail, phone, card, source id).

    Raises
    ------
    NotFoundError
        No published customer has it.
    UsageError
        Several customers share it (the message lists them).
    """
    region = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == PHONE_REGION_KEY)
    ).scalar_one_or_none()
    return find_profile(conn, text, live_publication(conn), region).customer_id
